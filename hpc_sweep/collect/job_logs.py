"""Which TensorBoard run a stray console log belongs to: a Slurm job log (``slurm-123_4.out``) beside a log tree is
that run's console output, never a second run.

A job log is matched, in this order:

1. **By the run directory its lines name.** Isaac Lab prints ``[INFO] Logging experiment in directory: <root>`` and
   ``Exact experiment name requested from command line: <timestamp>``, then appends ``_<run_name>``: the run dir is
   ``<experiment>/<timestamp>_<run_name>``. Where the log shows the run name (an echoed command, the job wrapper's
   ``=== argv:`` line: ``--run_name X``), that full name must match. Otherwise every dir named ``<timestamp>`` or
   ``<timestamp>_*`` is a candidate (the tasks of a job array start in the same second), unless exactly one of them
   has the seed the log shows (``--seed N`` in an echoed command, else the log's file name: ``job_seed3.out``).
   BALLU prints the same root line, then ``[INFO] Using common folder: <name>`` instead of the timestamp line, and
   ``EXP_DIR: <dir>`` when it ends: its run dir is ``<experiment>/<common_folder>/<run_name or seed_<seed>>``, the
   seed taken from ``EXP_DIR``, else from the log (``--seed N``, BALLU's job scripts' ``Training with seed: N``);
   without either, every dir of that common folder is a candidate. Dirs are compared by their last path components,
   never by absolute path, so copied and moved trees still match.
2. **By identical rewards**, when the names leave a choice or the log prints none: the console's ``Mean reward`` of
   each iteration equals the run's TensorBoard ``Train/mean_reward`` rounded to the precision the console printed,
   at every iteration both hold (compared event file by event file, so each attempt of a resumed run is compared
   with its own values), and at least :data:`MIN_SHARED_ITERATIONS` of them. A run whose seed differs from the
   seed the log shows is never a candidate. Exactly one run must match.

A candidate that names alone picked (one dir, no rewards to compare) is taken unless its rewards contradict the
log. A log whose named dir is not in the tree (deleted), or that matches no run, or several, stays a run of its own
(console only); an ambiguous one says so in a warning. A log is one run's output; a log holding several runs (one
job training seeds one after another) is matched by what its last run printed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

from hpc_sweep.collect.tfevents import iter_event_files, read_event_file
from hpc_sweep.logs.console import EXACT_NAME, ITERATION, LOG_ROOT, MEAN_REWARD, strip_ansi
from hpc_sweep.logs.layouts import seed_in_name

if TYPE_CHECKING:  # discover.py imports this module
    from hpc_sweep.collect.discover import RunSource

#: A predicate over run dirs.
DirTest = Callable[[Path], bool]

#: Iterations whose rewards must agree before a log without a decisive name is given to a run.
MIN_SHARED_ITERATIONS = 3
_REWARD_TAG = "Train/mean_reward"
_COMMON_FOLDER = re.compile(r"\[INFO\] Using common folder:\s*(.+?)\s*$")
_EXP_DIR = re.compile(r"^EXP_DIR:\s*(.+?)\s*$")
#: ``--run_name X``, ``--run_name=X`` and the job wrapper's ``'--run_name', 'X'`` (a Python list).
_RUN_NAME = re.compile(r"--run_name(?:[= ]+|',\s*')['\"]?([^\s'\",\]]+)")
_SEED = re.compile(r"--seed(?:[= ]+|',\s*')['\"]?(-?\d+)\b|[Tt]raining with seed:?\s*(-?\d+)\b")
_BALLU_LEAF = re.compile(r"^seed_(-?\d+)$")


@dataclass
class JobLogFacts:
    """What a console log says about the run it belongs to (see the module docstring)."""

    log_root: str | None = None
    exact_name: str | None = None
    common_folder: str | None = None
    exp_dir: str | None = None
    run_name: str | None = None  # None when the log shows none, or several
    seed: int | None = None  # None when the log shows none, or several
    name_seed: int | None = None  # the seed in the log's file name (``job_seed3.out``): a hint, not a filter
    #: iteration -> (mean reward as printed, half a unit of its last printed digit)
    rewards: dict[int, tuple[float, float]] = field(default_factory=dict)


def read_job_log(path: Path) -> JobLogFacts:
    """One pass over a console log: its log-dir lines, run name, seed and per-iteration mean rewards."""
    facts = JobLogFacts()
    names: set[str] = set()
    seeds: set[int] = set()
    step: int | None = None
    try:
        with open(path, "rb") as handle:
            for raw in handle:
                line = strip_ansi(raw.decode("utf-8", errors="replace")).rstrip()
                if match := ITERATION.search(line):
                    step = int(match.group(1))
                elif step is not None and (match := MEAN_REWARD.match(line)):
                    reward = _printed(match.group(1))
                    if reward is not None:
                        facts.rewards[step] = reward
                elif match := LOG_ROOT.search(line):
                    facts.log_root = match.group(1)
                elif match := EXACT_NAME.search(line):
                    facts.exact_name = match.group(1)
                elif match := _COMMON_FOLDER.search(line):
                    facts.common_folder = match.group(1)
                elif match := _EXP_DIR.match(line):
                    facts.exp_dir = match.group(1)
                else:
                    names.update(_RUN_NAME.findall(line))
                    seeds.update(int(a or b) for a, b in _SEED.findall(line))
    except OSError:
        return facts
    facts.run_name = names.pop() if len(names) == 1 else None
    facts.seed = seeds.pop() if len(seeds) == 1 else None
    facts.name_seed = seed_in_name(path.stem)
    if facts.exp_dir and (leaf := _BALLU_LEAF.match(Path(facts.exp_dir).name)):
        facts.seed = int(leaf.group(1))
    return facts


def _printed(text: str) -> tuple[float, float] | None:
    """A printed number and its precision (half a unit of its last digit); None for nan/inf."""
    try:
        exponent = Decimal(text).as_tuple().exponent
    except InvalidOperation:
        return None
    if not isinstance(exponent, int):  # nan, inf
        return None
    return float(text), 0.5 * 10.0**exponent


@dataclass
class Ownership:
    """Where a console log goes: the run it belongs to (None: a run of its own), a warning when that was ambiguous,
    and the seed the log shows (for a run of its own)."""

    run: RunSource | None
    warning: str | None = None
    seed: int | None = None


class JobLogMatcher:
    """Gives each stray console log the TensorBoard run it belongs to (see the module docstring)."""

    def __init__(self, runs: list[RunSource]) -> None:
        self._runs = runs
        self._rewards: dict[int, list[dict[int, float]]] = {}  # id(run) -> one reward series per event file

    def owner(self, log: Path) -> Ownership:
        """The run ``log`` belongs to (None: it is a run of its own), with what the log shows of its seed."""
        facts = read_job_log(log)
        return Ownership(*self._decide(log, facts), seed=facts.seed)

    def _decide(self, log: Path, facts: JobLogFacts) -> tuple[RunSource | None, str | None]:
        named, how = self._named(facts)
        if how == "exact":
            return (named[0] if len(named) == 1 else None), None
        candidates = [run for run in named if not _other_seed(run, facts.seed)]
        verdicts = [self._compare(run, facts) for run in candidates]
        agreeing = [run for run, verdict in zip(candidates, verdicts, strict=True) if verdict is True]
        if len(agreeing) == 1:
            return agreeing[0], None
        if len(agreeing) > 1:
            ids = ", ".join(run.run_id for run in agreeing)
            return None, f"{log}: its rewards match several runs ({ids}); kept as a run of its own"
        if how == "narrowed" and verdicts == [None]:  # the names left one dir, and no rewards to tell otherwise
            return candidates[0], None
        return None, None

    def _named(self, facts: JobLogFacts) -> tuple[list[RunSource], str]:
        """The runs whose dirs fit the log's printed lines, and how closely: ``exact`` (the lines name one dir),
        ``narrowed`` (a timestamp or a common folder: one of a few dirs), ``loose`` (an experiment, or nothing)."""
        experiment = Path(facts.log_root).name if facts.log_root else None
        if facts.exp_dir:
            tail = Path(facts.exp_dir).parts[-3 if facts.common_folder else -2 :]
            return self._with_dir(lambda d: d.parts[-len(tail) :] == tail), "exact"
        if experiment and facts.common_folder:
            folder = (experiment, facts.common_folder)
            leaf = facts.run_name or (f"seed_{facts.seed}" if facts.seed is not None else None)
            if leaf:
                return self._with_dir(lambda d: d.parts[-3:] == (*folder, leaf)), "exact"
            return self._with_dir(lambda d: d.parts[-3:-1] == folder), "narrowed"
        if experiment and facts.exact_name:
            stamp, name = facts.exact_name, facts.run_name
            if name:
                return self._with_dir(lambda d: d.parent.name == experiment and d.name == f"{stamp}_{name}"), "exact"
            same_second = self._with_dir(
                lambda d: d.parent.name == experiment and (d.name == stamp or d.name.startswith(f"{stamp}_"))
            )
            hint = facts.seed if facts.seed is not None else facts.name_seed
            same_seed = [run for run in same_second if hint is not None and run.seed == hint]
            return (same_seed, "exact") if len(same_seed) == 1 else (same_second, "narrowed")
        if experiment:
            return self._with_dir(lambda d: experiment in (d.parent.name, d.parent.parent.name)), "loose"
        return list(self._runs), "loose"

    def _with_dir(self, fits: DirTest) -> list[RunSource]:
        return [run for run in self._runs if any(fits(d) for d in run.log_dirs)]

    def _compare(self, run: RunSource, facts: JobLogFacts) -> bool | None:
        """True: the rewards agree at >= MIN_SHARED_ITERATIONS iterations and differ at none; False: they differ
        somewhere; None: too few shared iterations to tell."""
        series = self._series(run)
        shared = 0
        for step, (value, half_unit) in facts.rewards.items():
            held = [points[step] for points in series if step in points]
            if not held:
                continue
            tolerance = half_unit + 1e-6 * max(1.0, abs(value))  # TensorBoard keeps float32
            if not any(abs(point - value) <= tolerance for point in held):
                return False
            shared += 1
        return True if shared >= MIN_SHARED_ITERATIONS else None

    def _series(self, run: RunSource) -> list[dict[int, float]]:
        """The run's mean reward, one series per event file (read once per run)."""
        if id(run) not in self._rewards:
            series = []
            for path in (p for d in run.log_dirs for p in iter_event_files(d)):
                scalars = read_event_file(path, tags={_REWARD_TAG}).scalars.get(_REWARD_TAG)
                if scalars is not None:
                    series.append(dict(zip(scalars.step.tolist(), scalars.value.tolist(), strict=True)))
            self._rewards[id(run)] = series
        return self._rewards[id(run)]


def _other_seed(run: RunSource, seed: int | None) -> bool:
    """Whether the run's seed is known and differs from the seed the log shows."""
    return seed is not None and run.seed is not None and run.seed != seed
