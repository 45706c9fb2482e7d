"""Collection: read every run's artefacts (TensorBoard events first, then console logs and summaries.txt).

A :class:`Collection` holds each run's scalars as arrays and gives the two tidy tables of
:mod:`hpc_sweep.collect.frames`. ``data_source`` says where each run's numbers came from: ``tensorboard``,
``console_log`` or ``summaries`` (joined with ``+`` when several gave points).

TensorBoard first, the console fills gaps: when a run's event files cover fewer iterations than its console log
(rsl-rl 5 never closes its writer, so the last iteration's points may never reach the file; an attempt's log dir
may be gone), the console's values fill the missing iterations, tag by tag, for the tags the console prints
(``tensorboard+console_log``; ``RunData.console_filled`` counts the filled points per tag, and a warning names the run
and how many iterations were filled, except for a run still in flight, whose event file lags its console by design).
A TensorBoard point is never replaced: the console prints values rounded to 4 decimals.

A run's state: for a sweep of ours it is its record's (the job wrapper classified each attempt from that attempt's
own output: a traceback with exit 0 is already ``failed`` there, so a ``completed`` record means the wrapper saw
none, and a traceback in an earlier attempt's part of ``train.log`` never fails a later attempt). Runs of foreign
log trees (state ``unknown``) are judged from their logs: the last attempt's failure signs, else the planned
iteration count reached.

Completed runs (and foreign runs) without any reward data cannot enter group statistics: each gets a warning here,
and :mod:`hpc_sweep.analyse.results` lists it with its reason.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from rich.console import Console

from hpc_sweep.collect.discover import SUMMARIES, RunSource, RunStates, RunUsage, discover_runs
from hpc_sweep.collect.event_cache import EventCache
from hpc_sweep.collect.frames import metrics_frame, runs_frame
from hpc_sweep.collect.metrics import METRIC_TAGS, canonical_metric
from hpc_sweep.collect.tfevents import iter_event_files, read_event_files
from hpc_sweep.logs.console import parse_console_metrics, parse_summaries, scan_log
from hpc_sweep.logs.layouts import read_agent_params
from hpc_sweep.runstate import EXCLUDED_FROM_STATS, IN_FLIGHT, RunState

if TYPE_CHECKING:
    import pandas as pd

_RECENT_S = 120.0
#: How much of a console log's end is read to learn its last iteration (the check before any gap filling).
_TAIL_BYTES = 256 * 1024
NO_REWARD_DATA = "no reward data found (logs gone?)"
"""Why a completed run without any reward point is left out of group statistics."""
T = TypeVar("T")


@dataclass
class RunData:
    """One run's artefacts as read: its source, scalars per tag and where they came from."""

    source: RunSource
    scalars: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    data_source: str = "none"
    warnings: list[str] = field(default_factory=list)
    #: tag -> how many of its points the console log filled in (event data lacked those steps; their wall time is NaN)
    console_filled: dict[str, int] = field(default_factory=dict)

    def metric(self, name: str) -> tuple[np.ndarray, np.ndarray] | None:
        """Steps and values of a canonical metric (first alias present), or None."""
        for tag in METRIC_TAGS.get(name, (name,)):
            if tag in self.scalars:
                steps, values, _ = self.scalars[tag]
                return steps, values
        return None


@dataclass
class Collection:
    """Every run of a sweep or log tree, read."""

    root: Path
    runs: list[RunData]
    warnings: list[str]

    def metrics_frame(self) -> pd.DataFrame:
        """The tidy long table of every scalar of every run (see :mod:`hpc_sweep.collect.frames`)."""
        return metrics_frame(self.runs)

    def runs_frame(self) -> pd.DataFrame:
        """One row per run: identity, state, data source, paths, attempts (see :mod:`hpc_sweep.collect.frames`)."""
        return runs_frame(self.runs)


def read_run(source: RunSource, events: EventCache | None = None) -> RunData:
    """Read one run: TensorBoard events first (all attempts' dirs, later attempts win), gaps filled from the console
    log, else the text fallbacks; then its state (see the module docstring). With ``events``, event files are read
    through that cache (only the bytes added since the last collect)."""
    data = RunData(source=source, warnings=list(source.warnings))  # what discovery noticed comes first
    files = [path for log_dir in source.log_dirs for path in iter_event_files(log_dir)]
    if files:
        result = events.read(files) if events is not None else read_event_files(files)
        data.warnings += result.warnings
        data.scalars = {tag: (series.step, series.value, series.wall_time) for tag, series in result.scalars.items()}
        data.data_source = "tensorboard" if data.scalars else "none"
    filled = _fill_from_console(data) if data.scalars else _read_text_fallbacks(data)
    _infer_status(data)
    if source.status not in IN_FLIGHT:  # a live run's event file lags its console by design: no news
        data.warnings += filled
    if source.status not in EXCLUDED_FROM_STATS and not _has_reward(data):
        data.warnings.append(
            f"run {source.run_id} (seed {source.seed}) is {source.status} but {NO_REWARD_DATA}: "
            "left out of group statistics"
        )
    return data


def _read_text_fallbacks(data: RunData) -> list[str]:
    """Console logs, then summaries.txt, for runs with no event data; data warnings go straight to the run."""
    sources: list[str] = []
    for log in data.source.console_logs:
        parsed = parse_console_metrics(log)
        for tag, points in parsed.items():
            data.scalars.setdefault(tag, _arrays(points))
        if parsed:
            sources.append("console_log")
    for log_dir in data.source.log_dirs:
        summaries = log_dir / SUMMARIES
        if summaries.is_file():
            parsed, warnings = parse_summaries(summaries)
            data.warnings += warnings
            for tag, points in parsed.items():
                data.scalars.setdefault(tag, _arrays(points))
            if parsed:
                sources.append("summaries")
    data.data_source = "+".join(dict.fromkeys(sources)) or "none"
    return []


def _fill_from_console(data: RunData) -> list[str]:
    """Add the console's points at the steps the event files lack, tag by tag; never replace an event point. Returns
    one warning per console log that filled something.

    The console is parsed only when its last iteration (read from the log's end) shows that some tag with a
    canonical metric misses an iteration, so that complete runs pay one short tail read.
    """
    warnings: list[str] = []
    for log in data.source.console_logs:
        last = scan_log(log, max_bytes=_TAIL_BYTES).iteration
        if last is None or _events_cover(data, last):
            continue
        here: set[int] = set()
        for tag, points in parse_console_metrics(log).items():
            target = _event_tag_for(tag, data.scalars)
            steps, values, wall = data.scalars.get(target, (np.empty(0, np.int64), np.empty(0), np.empty(0)))
            known = set(steps.tolist())
            missing = [(step, value) for step, value in points if step not in known]
            if not missing:
                continue
            add_steps, add_values, add_wall = _arrays(missing)
            steps, values, wall = (
                np.concatenate(pair) for pair in ((steps, add_steps), (values, add_values), (wall, add_wall))
            )
            order = np.argsort(steps, kind="stable")
            data.scalars[target] = (steps[order], values[order], wall[order])
            data.console_filled[target] = data.console_filled.get(target, 0) + len(missing)
            here.update(step for step, _ in missing)
        if here:
            warnings.append(
                f"run {data.source.run_id}: {len(here)} iteration(s) missing from its TensorBoard files were filled "
                f"from its console log {log}"
            )
    if data.console_filled:
        data.data_source = "tensorboard+console_log"
    return warnings


def _events_cover(data: RunData, last: int) -> bool:
    """Whether the event data reach iteration ``last`` with no gap: every tag with a canonical metric runs without a
    gap up to ``last`` or beyond, and together they cover every iteration from 0 (a tag may start late: RSL-RL logs
    the reward only once an episode has ended)."""
    covered: np.ndarray = np.empty(0, np.int64)
    for tag, (steps, _, _) in data.scalars.items():
        if canonical_metric(tag) is None:
            continue
        unique = np.unique(steps)
        if not unique.size or unique[-1] < last or unique.size != unique[-1] - unique[0] + 1:
            return False
        covered = np.union1d(covered, unique)
    return covered.size > last and covered[0] == 0 and covered[last] == last


def _event_tag_for(console_tag: str, scalars: dict[str, object]) -> str:
    """The event tag a console series fills: the same tag, else the tag the events use for its canonical metric
    (RSL-RL's console and event names differ across versions), else the console's own tag."""
    if console_tag in scalars:
        return console_tag
    metric = canonical_metric(console_tag)
    return next((tag for tag in METRIC_TAGS.get(metric or "", ()) if tag in scalars), console_tag)


def _has_reward(data: RunData) -> bool:
    curve = data.metric("mean_reward")
    return curve is not None and bool(np.isfinite(curve[1]).any())


def _arrays(points: list[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    steps = np.array([p[0] for p in points], dtype=np.int64)
    values = np.array([p[1] for p in points], dtype=np.float64)
    return steps, values, np.full(steps.size, np.nan)


def _infer_status(data: RunData) -> None:
    """The run's state (see the module docstring): a sweep's record is believed, and only lends a missing reason
    from the last attempt's log; a foreign run is failed by its last attempt's failure signs, completed when it
    reached its planned iterations, running when its files changed in the last two minutes."""
    source = data.source
    if source.status != RunState.UNKNOWN:
        if source.status in (RunState.FAILED, RunState.CANCELLED) and not source.error:
            source.error = next(filter(None, (_last_failure(log) for log in source.console_logs)), None)
        return
    # A run's job logs are its attempts: only the newest one's failure says how the run ended (an earlier attempt's
    # traceback, resumed afterwards, does not).
    newest_log = max(source.console_logs, key=_mtime, default=None)
    reason = _last_failure(newest_log) if newest_log is not None else None
    if reason:
        source.status, source.error = RunState.FAILED, reason
        return
    if _reached_planned_end(data):
        source.status = RunState.COMPLETED
        return
    files = [p for d in source.log_dirs for p in d.iterdir()] + list(source.console_logs)
    newest = max((_mtime(p) for p in files), default=0.0)
    if time.time() - newest < _RECENT_S:
        source.status = RunState.RUNNING


def _last_failure(log: Path) -> str | None:
    """The failure the last attempt of a console log shows (a traceback, CUDA out of memory), if any."""
    return scan_log(log, last_attempt=True).failure_reason()


def _mtime(path: Path) -> float:
    """When ``path`` last changed; 0 for an entry that cannot be stat-ed (a dangling symlink, a file just removed)."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _reached_planned_end(data: RunData) -> bool:
    """True when the reward curve reaches the iteration count the run's params/agent.yaml planned."""
    curve = data.metric("mean_reward")
    if curve is None:
        return False
    for log_dir in data.source.log_dirs:
        planned = read_agent_params(log_dir).max_iterations
        if planned is not None:
            return int(curve[0][-1]) + 1 >= planned
    return False


def collect(
    path: Path,
    console: Console | None = None,
    workers: int | None = None,
    states: RunStates | None = None,
    usage: RunUsage | None = None,
) -> Collection:
    """Discover and read every run under ``path`` (see :func:`read_runs`); ``states`` and ``usage``: the launcher's
    view of a sweep's runs and what each cost (see :func:`hpc_sweep.collect.discover.discover_runs`)."""
    console = console or Console(stderr=True)
    runs = read_runs(discover_runs(Path(path), states, usage), console, workers)
    warnings = [warning for run in runs for warning in run.warnings]
    return Collection(root=Path(path), runs=runs, warnings=warnings)


def read_runs(sources: list[RunSource], console: Console | None = None, workers: int | None = None) -> list[RunData]:
    """Every run read (:func:`read_run`), in the order of ``sources``, through :func:`map_runs`."""
    return map_runs(read_run, sources, console, workers)


def map_runs(
    work: Callable[[RunSource], T], sources: list[RunSource], console: Console | None = None, workers: int | None = None
) -> list[T]:
    """``work`` applied to every run, in parallel processes when there are many, with a progress bar: the one driver
    behind ``hpc-sweep collect``, :func:`hpc_sweep.load_metrics` and ``benchmarks/collect_bench.py``.

    Reading is CPU-bound (record framing and CRC checks), so several runs are read in ``workers`` processes
    (default: the CPU count, at most 8) once there are at least 8 runs; ``work`` must be picklable (a module-level
    function or a ``functools.partial`` of one). Results keep the order of ``sources``.
    """
    console = console or Console(stderr=True)
    workers = workers or min(8, os.cpu_count() or 1)
    show = len(sources) >= 20 and console.is_terminal
    if workers > 1 and len(sources) >= 8:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            iterator = pool.map(work, sources, chunksize=max(1, len(sources) // (workers * 8)))
            return list(_progress(iterator, len(sources), console) if show else iterator)
    return [work(source) for source in (_progress(sources, len(sources), console) if show else sources)]


def _progress(items: Iterable[RunData | RunSource], total: int, console: Console) -> Iterable:
    from rich.progress import track

    return track(items, total=total, description="reading runs", console=console)


def load_metrics(path: Path) -> pd.DataFrame:
    """The tidy metrics table of a sweep dir or any log tree (the Python API behind ``hpc-sweep collect``)."""
    return collect(Path(path)).metrics_frame()
