"""Finding runs and their artefacts: from a sweep's manifest, or by scanning any tree of training logs.

Layouts understood: Isaac Lab ``logs/rsl_rl/<experiment>/<timestamp>_<run_name>/``, BALLU
``logs/rsl_rl/<experiment>/<common_folder>/seed_<seed>/``, and any directory holding ``events.out.tfevents.*``
files, an RSL-RL console log or a ``summaries.txt``. Resumed Isaac Lab runs (a new timestamped directory per
attempt, ``resume: True`` in ``params/agent.yaml``) are joined to the run they continue.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpc_sweep.errors import UsageError
from hpc_sweep.logs.console import scan_log
from hpc_sweep.logs.layouts import group_of, infer_seed, read_agent_params, run_key
from hpc_sweep.manifest import is_sweep_dir, load_sweep
from hpc_sweep.runstate import RunState

EVENT_PREFIX = "events.out.tfevents."
SUMMARIES = "summaries.txt"
#: A run's state and reason as its launcher sees them (``hpc-sweep collect`` asks the launcher, once, before reading).
RunStates = Mapping[str, tuple[str | None, str | None]]
_CONSOLE_MARK = b"Learning iteration"
_LOG_SUFFIXES = (".log", ".out", ".txt", ".err")


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


def discover_runs(path: Path, states: RunStates | None = None) -> list[RunSource]:
    """The runs under ``path`` (a sweep dir of ours, or any log tree); exit-2 error when there are none.

    ``states`` overrides the state and reason a sweep's records hold (the scheduler's word on runs that could not
    record their own end); without it the records are believed as they are.
    """
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path} does not exist; give a sweep dir or a directory of training logs")
    runs = runs_from_manifest(path, states) if is_sweep_dir(path) else scan_tree(path)
    if not runs:
        raise UsageError(
            f"{path} holds no training runs (no events.out.tfevents.*, RSL-RL console log or summaries.txt found)"
        )
    return runs


def runs_from_manifest(path: Path, states: RunStates | None = None) -> list[RunSource]:
    """Runs as the sweep's manifest and records describe them, with ``states`` (by run id) taking precedence."""
    sweep = load_sweep(path)
    runs: list[RunSource] = []
    for run in sweep.runs:
        if states and run["run_id"] in states:
            run["state"], run["reason"] = states[run["run_id"]]
        log_dirs = [Path(p) for p in (run.get("log_dirs") or ([run["log_dir"]] if run.get("log_dir") else []))]
        train_log = sweep.layout.train_log(run["run_id"])
        runs.append(
            RunSource(
                run_id=run["run_id"],
                seed=run.get("seed"),
                group=run.get("group", ""),
                log_dirs=[d for d in log_dirs if d.is_dir()],
                console_logs=[train_log] if train_log.is_file() else [],
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
                },
            )
        )
    return runs


def scan_tree(root: Path) -> list[RunSource]:
    """Runs found by walking ``root``: directories with event files or summaries.txt, and stray console logs."""
    run_dirs: list[Path] = []
    stray_logs: list[Path] = []
    seen: set[str] = set()
    for current, dirs, files in os.walk(root, followlinks=True):  # log trees are often assembled from symlinks
        real = os.path.realpath(current)
        if real in seen:  # a link back up the tree, or two links to one run: walk it once
            dirs.clear()
            continue
        seen.add(real)
        dirs.sort()
        here = Path(current)
        if any(name.startswith(EVENT_PREFIX) for name in files) or SUMMARIES in files:
            run_dirs.append(here)
            continue
        stray_logs += [here / name for name in sorted(files) if _is_console_log(here / name)]
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
            console_logs=[p for p in sorted(run_dir.iterdir()) if p.is_file() and _is_console_log(p)],
        )
    result = list(runs.values())
    for log in stray_logs:
        owner = _run_of_log(log, result)
        if owner is not None:  # a job log of a run whose directory we found: its console output, not another run
            owner.console_logs.append(log)
            continue
        result.append(
            RunSource(
                run_id=str(log.relative_to(root)), seed=infer_seed(log), group=log.parent.name, console_logs=[log]
            )
        )
    return result


def _run_of_log(log: Path, runs: list[RunSource]) -> RunSource | None:
    """The run whose directory a job log names in Isaac Lab's ``Logging experiment`` / ``Exact experiment name``
    lines (matched by experiment and timestamped directory name, so copied or moved trees still match)."""
    scan = scan_log(log)
    if not scan.log_root or not scan.exact_name:
        return None
    experiment = Path(scan.log_root).name
    for run in runs:
        for log_dir in run.log_dirs:
            if log_dir.parent.name == experiment and log_dir.name.startswith(scan.exact_name):
                return run
    return None


def _is_console_log(path: Path) -> bool:
    """A text file with RSL-RL iteration headers in its first 1 MiB."""
    if path.suffix not in _LOG_SUFFIXES or path.name == SUMMARIES:
        return False
    try:
        with open(path, "rb") as handle:
            return _CONSOLE_MARK in handle.read(1 << 20)
    except OSError:
        return False
