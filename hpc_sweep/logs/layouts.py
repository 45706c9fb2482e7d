"""Where a training leaves its run directory, for each log convention: one class per layout, chosen by the profile.

Layouts:

* ``isaaclab``: Isaac Lab's RSL-RL scripts, ``logs/rsl_rl/<experiment>/<YYYY-MM-DD_HH-MM-SS>[_<run_name>]/``; the
  script prints ``[INFO] Logging experiment in directory: <root>`` and ``Exact experiment name requested from command
  line: <timestamp>``. A resumed run gets a new timestamped directory whose ``params/agent.yaml`` says ``resume: True``.
* ``ballu``: the BALLU extension, ``logs/rsl_rl/<experiment>/<common_folder>/seed_<seed>/``.
* ``legged_gym``: legged_gym and standalone rsl_rl, ``logs/<experiment>/<Mon DD_HH-MM-SS>_<run_name>/``.

The job wrapper asks its profile's layout for the run directory it just wrote (:meth:`LogLayout.find_run_dir`); the
collector, which meets foreign trees of any layout, uses the layout-independent rules below (:func:`run_key`,
:func:`infer_seed`, :func:`group_of`, :func:`read_agent_params`). Standard library only: the job wrapper imports it.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from hpc_sweep.logs.console import LogScan

#: Run-directory timestamps: Isaac Lab's ``2024-03-01_14-22-33`` and legged_gym's / rsl_rl's ``Mar01_14-22-33``.
ISAACLAB_TIMESTAMP = r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}"
LEGGED_GYM_TIMESTAMP = r"[A-Z][a-z]{2}\d{2}_\d{2}-\d{2}-\d{2}"
_TIMESTAMP = re.compile(rf"^(?:{ISAACLAB_TIMESTAMP}|{LEGGED_GYM_TIMESTAMP})_?")
#: ``seed`` as a word of a name, then an optional separator, an optional minus sign and the digits (see infer_seed).
_SEED_IN_NAME = re.compile(r"(?:^|(?P<before>[_-]))seed(?P<sep>[_-]?)(?P<minus>-?)(?P<digits>\d+)(?=$|[_-])", re.I)
_YAML_SEED = re.compile(r"^seed:\s*(-?\d+)\s*$", re.MULTILINE)
_YAML_RESUME = re.compile(r"^resume:\s*(true|True)\s*$", re.MULTILINE)
_YAML_MAX_ITERATIONS = re.compile(r"^max_iterations:\s*(\S+)\s*$", re.MULTILINE)
_MODEL = re.compile(r"model_(\d+)\.pt")
_ZIP_MAGIC = b"PK\x03\x04"  # a zip local file header: how torch.save's default format begins
_FRESH_S = 5.0  # a directory older than the attempt's start by more than this belongs to an earlier attempt


@dataclass(frozen=True)
class RunIdentity:
    """What the job wrapper knows of its run when it looks for the run directory the training wrote."""

    workdir: Path
    run_name: str
    common_folder: str
    seed: int


class LogLayout:
    """One log convention: how to find the run directory a training just wrote."""

    name: ClassVar[str]
    #: Directory under the working dir that holds the experiments.
    logs_subdir: ClassVar[str] = "logs/rsl_rl"

    def find_run_dir(self, run: RunIdentity, scan: LogScan, started: float) -> Path | None:
        """The run directory this attempt wrote (the newest match), or None when the training made none.

        The training's own printed lines are believed first; otherwise the layout's naming rule is searched,
        keeping only directories touched since the attempt started (an older one is an earlier attempt's).
        """
        candidates = self._printed(run, scan) or [
            path for path in self._named(run) if path.is_dir() and path.stat().st_mtime >= started - _FRESH_S
        ]
        if not candidates:
            return None
        return max(candidates, key=lambda p: p.stat().st_mtime).resolve()

    def _printed(self, run: RunIdentity, scan: LogScan) -> list[Path]:
        """Directories named by the training's ``Logging experiment in directory`` / ``Exact experiment name`` lines."""
        if not scan.log_root or not scan.exact_name:
            return []
        root = run.workdir / scan.log_root
        if not root.is_dir():
            return []
        found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(scan.exact_name)]
        # Isaac Lab names the dir "<exact name>_<run name>" (or "<exact name>" without a run name); another run that
        # started in the same second (another seed, another sweep sharing the checkout) has a dir with this prefix.
        exact = [p for p in found if p.name in (f"{scan.exact_name}_{run.run_name}", scan.exact_name)]
        return exact or (found if len(found) == 1 else [])

    def _named(self, run: RunIdentity) -> list[Path]:
        raise NotImplementedError


class IsaacLabLayout(LogLayout):
    """``logs/rsl_rl/<experiment>/<YYYY-MM-DD_HH-MM-SS>_<run_name>/``."""

    name = "isaaclab"

    def _named(self, run: RunIdentity) -> list[Path]:
        return list((run.workdir / self.logs_subdir).glob(f"*/*_{run.run_name}"))


class BalluLayout(LogLayout):
    """``logs/rsl_rl/<experiment>/<common_folder>/seed_<seed>/`` (one directory per seed, reused by resumes)."""

    name = "ballu"

    def _named(self, run: RunIdentity) -> list[Path]:
        return list((run.workdir / self.logs_subdir).glob(f"*/{run.common_folder}/seed_{run.seed}"))


class LeggedGymLayout(LogLayout):
    """``logs/<experiment>/<Mon DD_HH-MM-SS>_<run_name>/`` (legged_gym, standalone rsl_rl)."""

    name = "legged_gym"
    logs_subdir = "logs"

    def _named(self, run: RunIdentity) -> list[Path]:
        return list((run.workdir / self.logs_subdir).glob(f"*/*_{run.run_name}"))


#: Layout name (a profile's ``[command].layout``) -> layout.
LAYOUTS: dict[str, LogLayout] = {layout.name: layout for layout in (IsaacLabLayout(), BalluLayout(), LeggedGymLayout())}


@dataclass(frozen=True)
class AgentParams:
    """What a run directory's ``params/agent.yaml`` says about the run (read once, by line rules, no YAML parser)."""

    seed: int | None = None
    resume: bool = False
    max_iterations: int | None = None


def read_agent_params(run_dir: Path) -> AgentParams:
    """The seed, resume flag and planned iterations from ``params/agent.yaml``; defaults when it is absent."""
    try:
        text = (Path(run_dir) / "params" / "agent.yaml").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return AgentParams()
    seed = _YAML_SEED.search(text)
    planned = _YAML_MAX_ITERATIONS.search(text)
    try:
        max_iterations = int(planned.group(1)) if planned else None
    except ValueError:
        max_iterations = None
    return AgentParams(
        seed=int(seed.group(1)) if seed else None,
        resume=bool(_YAML_RESUME.search(text)),
        max_iterations=max_iterations,
    )


def strip_timestamp(name: str) -> str:
    """A run-directory name without its Isaac Lab or legged_gym timestamp prefix."""
    return _TIMESTAMP.sub("", name)


def run_key(run_dir: Path) -> str:
    """The run's name without the timestamp prefix: the attempts of one resumed run share it."""
    return strip_timestamp(run_dir.name) or run_dir.name


def group_of(run_dir: Path) -> str:
    """A group label: the run name without timestamp and seed, else the parent directory (experiment/common folder)."""
    name = _SEED_IN_NAME.sub("", strip_timestamp(run_dir.name)).strip("_-")
    return name or run_dir.parent.name


def seed_in_name(name: str) -> int | None:
    """The seed a run name carries (``study_seed42``, ``seed_42``, ``seed42``, ``run-seed-3``), or None.

    Negative seeds: ``seed_-1`` and ``seed--1`` are -1 (a separator, then a minus sign). ``seed-1`` is ambiguous,
    and is read by the separator before ``seed``: after ``_`` (``study_seed-1``, what a ``f"{name}_seed{seed}"`` run
    name gives for seed -1) the ``-`` is a minus sign, so -1; in a dashed name (``run-seed-1``) or at the start of the
    name (``seed-1``) it is a separator, so 1.
    """
    match = _SEED_IN_NAME.search(strip_timestamp(name))
    if not match:
        return None
    value = int(match.group("digits"))
    negative = match.group("minus") == "-" or (match.group("before") == "_" and match.group("sep") == "-")
    return -value if negative else value


def infer_seed(path: Path) -> int | None:
    """The seed from the directory/file name (see :func:`seed_in_name`) or ``params/agent.yaml`` (``seed:``)."""
    for part in (path.stem, path.parent.name) if path.is_file() else (path.name,):
        seed = seed_in_name(part)
        if seed is not None:
            return seed
    return read_agent_params(path).seed


def latest_checkpoint(log_dirs: Iterable[str | Path]) -> tuple[Path, int] | None:
    """The newest complete ``model_<it>.pt`` over a run's earlier attempts (highest iteration; later attempt on ties).

    RSL-RL's ``torch.save`` writes the checkpoint in place, so a preemption during the save leaves a truncated file
    under the final name; resuming from it fails at once ("failed finding central directory"). Such files are skipped
    (see :func:`checkpoint_is_complete`), so the run resumes from the checkpoint before.
    """
    candidates: list[tuple[int, int, Path]] = []
    for order, log_dir in enumerate(log_dirs):
        for path in Path(log_dir).glob("model_*.pt"):
            match = _MODEL.fullmatch(path.name)
            if match:
                candidates.append((int(match.group(1)), order, path))
    for iteration, _order, path in sorted(candidates, reverse=True):
        if checkpoint_is_complete(path):
            return path, iteration
    return None


def checkpoint_is_complete(path: Path) -> bool:
    """Whether ``path`` holds a whole checkpoint, judged from its framing without loading it (no torch here).

    ``torch.save``'s zip format (the default since torch 1.6) ends with the zip's end-of-central-directory record,
    written last, so a save cut short lacks it. The legacy pickle format has no trailer to check: a non-empty file
    of that kind is taken as whole.
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
        if not head:
            return False
        return head != _ZIP_MAGIC or zipfile.is_zipfile(path)
    except OSError:
        return False
