"""Finding runs and their artefacts: from a sweep's manifest, or by scanning any tree of training logs.

Layouts understood: Isaac Lab ``logs/rsl_rl/<experiment>/<timestamp>_<run_name>/``, BALLU
``logs/rsl_rl/<experiment>/<common_folder>/seed_<seed>/``, and any directory holding ``events.out.tfevents.*``
files, an RSL-RL console log or a ``summaries.txt``. Resumed Isaac Lab runs (a new timestamped directory per
attempt, ``resume: True`` in ``params/agent.yaml``) are joined to the run they continue. A console log found outside
every run dir (a Slurm job log ``slurm-123_4.out`` beside the tree) is added to the run it belongs to (its
``console_logs``: matched by the run dir it names, else by identical rewards, see :mod:`hpc_sweep.collect.job_logs`);
only a log that belongs to no run found becomes a run of its own (console only). The ``tensorboard/`` views that
``collect`` writes (:data:`TENSORBOARD_VIEW_MARKER`), its cache (:data:`CACHEDIR_TAG`) and its ``metrics.parquet``
are never read as runs.

A sweep's records keep the paths inside the sweep dir relative to it, and its manifest is read where the sweep is now
(:func:`hpc_sweep.manifest.load_sweep`), so a copied or moved sweep reads its own files; a recorded log dir that no
longer exists is a warning naming the run and the path, and the run is read from what remains (its ``data_source``
says what that was).

A log tree may hold things that are not files or directories: FIFOs, sockets, devices, dangling symlinks. They are
skipped with one warning each, and never opened (opening a FIFO blocks until a writer comes). Warnings ride on the
run they concern (``RunSource.warnings``); those about entries outside every run dir ride on the first run found.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpc_sweep.collect.job_logs import JobLogMatcher
from hpc_sweep.errors import UsageError
from hpc_sweep.logs.layouts import group_of, infer_seed, read_agent_params, run_key
from hpc_sweep.manifest import is_sweep_dir, load_sweep
from hpc_sweep.runstate import RunState

EVENT_PREFIX = "events.out.tfevents."
SUMMARIES = "summaries.txt"
#: A run's state and reason as its launcher sees them (``hpc-sweep collect`` asks the launcher, once, before reading).
RunStates = Mapping[str, tuple[str | None, str | None]]
#: What each run cost (GPU-hours, CPU efficiency, peak memory, GPU utilisation: see :mod:`hpc_sweep.analyse.cost`), by
#: run id, as ``collect`` computed it from the launcher's accounting; it becomes the run's ``info["usage"]``.
RunUsage = Mapping[str, Mapping[str, Any]]
_CONSOLE_MARK = b"Learning iteration"
_LOG_SUFFIXES = (".log", ".out", ".txt", ".err")
#: The file that marks a directory of TensorBoard views written by ``collect`` (links to run dirs, never runs).
TENSORBOARD_VIEW_MARKER = ".hpc_sweep_tensorboard_view"
#: The file that marks a cache directory (https://bford.info/cachedir/: backup tools skip it too); the collect cache
#: has one, and a tree walk never enters such a directory.
CACHEDIR_TAG = "CACHEDIR.TAG"
#: ``collect``'s own table of every point (a directory of Parquet files), never walked for runs.
METRICS_DIR = "metrics.parquet"


@dataclass
class RunSource:
    """One run and where its artefacts are; ``log_dirs`` are in attempt order (later attempts win on overlap)."""

    run_id: str
    seed: int | None
    group: str
    log_dirs: list[Path] = field(default_factory=list)
    console_logs: list[Path] = field(default_factory=list)
    status: str = RunState.UNKNOWN
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def discover_runs(path: Path, states: RunStates | None = None, usage: RunUsage | None = None) -> list[RunSource]:
    """The runs under ``path`` (a sweep dir of ours, or any log tree); exit-2 error when there are none.

    ``states`` overrides the state and reason a sweep's records hold (the scheduler's word on runs that could not
    record their own end); without it the records are believed as they are. ``usage`` (by run id) becomes each
    sweep run's ``info["usage"]``.
    """
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path} does not exist; give a sweep dir or a directory of training logs")
    if not path.is_dir():
        raise UsageError(f"{path} is a file, not a sweep dir or a directory of training logs")
    runs = runs_from_manifest(path, states, usage) if is_sweep_dir(path) else scan_tree(path)
    if not runs:
        raise UsageError(
            f"{path} holds no training runs (no events.out.tfevents.*, RSL-RL console log or summaries.txt found)"
        )
    return runs


def runs_from_manifest(path: Path, states: RunStates | None = None, usage: RunUsage | None = None) -> list[RunSource]:
    """Runs as the sweep's manifest and records describe them, with ``states`` (by run id) taking precedence and
    ``usage`` (by run id) in each run's ``info["usage"]``."""
    sweep = load_sweep(path)
    runs: list[RunSource] = []
    for run in sweep.runs:
        if states and run["run_id"] in states:
            run["state"], run["reason"] = states[run["run_id"]]
        log_dirs = recorded_log_dirs(run)
        missing = [d for d in log_dirs if not d.is_dir()]
        train_log = sweep.layout.train_log(run["run_id"])
        runs.append(
            RunSource(
                run_id=run["run_id"],
                seed=run.get("seed"),
                group=run.get("group", ""),
                log_dirs=[d for d in log_dirs if d.is_dir()],
                console_logs=[train_log] if _is_regular(train_log) else [],
                warnings=[
                    f"run {run['run_id']}: recorded log dir {d} does not exist (moved or deleted?); "
                    "its data_source says what was read instead"
                    for d in missing
                ]
                + code_change_warnings(run),
                status=run.get("state") or RunState.UNKNOWN,
                error=run.get("reason"),
                info={
                    "task": run.get("task"),
                    "command": run.get("command"),
                    "point": run.get("point", {}),
                    "experiment_id": run.get("run_name", run["run_id"]),
                    "duration_minutes": run.get("duration_minutes"),
                    "attempt": run.get("attempt"),
                    "exit_code": run.get("exit_code"),
                    "max_iterations": run.get("max_iterations"),
                    "code_commit": run.get("code_commit"),
                },
            )
        )
        if usage is not None and run["run_id"] in usage:
            runs[-1].info["usage"] = dict(usage[run["run_id"]])
    return runs


def code_change_warnings(run: dict[str, Any]) -> list[str]:
    """One warning per attempt of a run that ran other code than was submitted (the record's ``code_mismatch``,
    see :mod:`hpc_sweep.provenance.attempt`)."""
    lines = run.get("code_mismatch") or []
    return [
        f"run {run['run_id']}: {line}; its results may mix code versions" for line in lines if isinstance(line, str)
    ]


def recorded_log_dirs(run: dict[str, Any]) -> list[Path]:
    """The log dirs a sweep's run record names, in attempt order (existing or not)."""
    return [Path(p) for p in (run.get("log_dirs") or ([run["log_dir"]] if run.get("log_dir") else []))]


def scan_tree(root: Path) -> list[RunSource]:
    """Runs found by walking ``root``: directories with event files or summaries.txt, and stray console logs."""
    run_dirs: list[Path] = []
    stray_logs: list[Path] = []
    skipped: list[tuple[Path, str]] = []  # (path, why) of everything that is neither a regular file nor a directory
    seen: set[str] = set()

    def unreadable(error: OSError) -> None:
        skipped.append((Path(error.filename or root), f"cannot be read ({error.strerror}); skipped"))

    for current, dirs, files in os.walk(root, onerror=unreadable, followlinks=True):  # trees are often symlinked
        real = os.path.realpath(current)
        if real in seen:  # a link back up the tree, or two links to one run: walk it once
            dirs.clear()
            continue
        seen.add(real)
        dirs.sort()
        here = Path(current)
        if TENSORBOARD_VIEW_MARKER in files or CACHEDIR_TAG in files:  # our links to runs, or a cache
            dirs.clear()
            continue
        dirs[:] = [name for name in dirs if name != METRICS_DIR]
        regular = []
        for name in sorted(files):
            why = _not_a_file(here / name)
            if why:
                skipped.append((here / name, why))
            else:
                regular.append(name)
        if any(name.startswith(EVENT_PREFIX) for name in regular) or SUMMARIES in regular:
            run_dirs.append(here)
            continue
        stray_logs += [here / name for name in regular if _is_console_log(here / name)]
    runs: dict[tuple[str, str], RunSource] = {}
    for run_dir in sorted(run_dirs, key=lambda p: (p.parent, p.name)):
        key = (str(run_dir.parent), run_key(run_dir))
        resumed = read_agent_params(run_dir).resume
        if key in runs and resumed:
            runs[key].log_dirs.append(run_dir)
            continue
        if key in runs:  # same name, not a resume: a separate run
            key = (str(run_dir.parent), run_dir.name)
        runs[key] = RunSource(
            run_id=str(run_dir.relative_to(root)) if run_dir != root else run_dir.name,
            seed=infer_seed(run_dir),
            group=group_of(run_dir),
            log_dirs=[run_dir],
            console_logs=[p for p in sorted(run_dir.iterdir()) if _is_console_log(p)],
        )
    result = list(runs.values())
    matcher = JobLogMatcher(list(result))
    for log in stray_logs:
        found = matcher.owner(log)
        if found.run is not None:  # a job log of a run whose directory we found: its console output, not another run
            found.run.console_logs.append(log)
            continue
        seed = infer_seed(log)
        result.append(
            RunSource(
                run_id=str(log.relative_to(root)),
                seed=found.seed if seed is None else seed,
                group=log.parent.name,
                console_logs=[log],
                warnings=[found.warning] if found.warning else [],
            )
        )
    for path, why in skipped:
        owner = next((run for run in result for d in run.log_dirs if path.is_relative_to(d)), None)
        if owner is None and result:
            owner = result[0]
        if owner is not None:
            owner.warnings.append(f"{path}: {why}")
    return result


def _not_a_file(path: Path) -> str | None:
    """Why a directory entry that is not a directory is skipped (None for a regular file, or a link to one); the
    entry is only stat-ed, never opened."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        try:
            return f"a dangling symlink (to {os.readlink(path)}); skipped"
        except OSError:
            return "vanished while the tree was read; skipped"
    except OSError as error:
        return f"cannot be read ({error.strerror}); skipped"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kinds = {stat.S_ISFIFO: "a FIFO", stat.S_ISSOCK: "a socket", stat.S_ISCHR: "a character device"}
    kind = next((words for test, words in kinds.items() if test(mode)), "a block device or other special file")
    return f"{kind}, not a regular file; skipped"


def _is_regular(path: Path) -> bool:
    """A regular file (following symlinks), found without opening it."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _is_console_log(path: Path) -> bool:
    """A regular text file with RSL-RL iteration headers in its first 1 MiB (anything else is never opened)."""
    if path.suffix not in _LOG_SUFFIXES or path.name == SUMMARIES or not _is_regular(path):
        return False
    try:
        with open(path, "rb") as handle:
            return _CONSOLE_MARK in handle.read(1 << 20)
    except OSError:
        return False
