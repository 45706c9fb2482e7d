"""Collection: read every run's artefacts (TensorBoard events first, then console logs and summaries.txt).

A :class:`Collection` holds each run's scalars as arrays and gives the two tidy tables of
:mod:`hpc_sweep.collect.frames`. ``data_source`` says where each run's numbers came from: ``tensorboard``,
``console_log`` or ``summaries``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console

from hpc_sweep.collect.discover import SUMMARIES, RunSource, RunStates, discover_runs
from hpc_sweep.collect.frames import metrics_frame, runs_frame
from hpc_sweep.collect.metrics import METRIC_TAGS
from hpc_sweep.collect.tfevents import iter_event_files, read_event_files
from hpc_sweep.logs.console import parse_console_metrics, parse_summaries, scan_log
from hpc_sweep.logs.layouts import read_agent_params
from hpc_sweep.runstate import RunState

_RECENT_S = 120.0


@dataclass
class RunData:
    """One run's artefacts as read: its source, scalars per tag and where they came from."""

    source: RunSource
    scalars: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    data_source: str = "none"
    warnings: list[str] = field(default_factory=list)

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


def read_run(source: RunSource) -> RunData:
    """Read one run: TensorBoard events first (all attempts' dirs, later attempts win), else the text fallbacks."""
    data = RunData(source=source)
    files = [path for log_dir in source.log_dirs for path in iter_event_files(log_dir)]
    if files:
        result = read_event_files(files)
        data.warnings += result.warnings
        data.scalars = {tag: (series.step, series.value, series.wall_time) for tag, series in result.scalars.items()}
        data.data_source = "tensorboard" if data.scalars else "none"
    if not data.scalars:
        _read_text_fallbacks(data)
    _infer_status(data)
    return data


def _read_text_fallbacks(data: RunData) -> None:
    """Console logs, then summaries.txt, for runs with no event data."""
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


def _arrays(points: list[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    steps = np.array([p[0] for p in points], dtype=np.int64)
    values = np.array([p[1] for p in points], dtype=np.float64)
    return steps, values, np.full(steps.size, np.nan)


def _infer_status(data: RunData) -> None:
    """Status for runs without a manifest, from their logs; a traceback marks a run failed even after exit 0."""
    source = data.source
    for log in source.console_logs:
        reason = scan_log(log).failure_reason()
        if reason and source.status != RunState.FAILED:
            source.status, source.error = RunState.FAILED, reason
    if source.status != RunState.UNKNOWN:
        return
    if _reached_planned_end(data):
        source.status = RunState.COMPLETED
        return
    files = [p for d in source.log_dirs for p in d.iterdir()] + list(source.console_logs)
    newest = max((p.stat().st_mtime for p in files), default=0.0)
    if time.time() - newest < _RECENT_S:
        source.status = RunState.RUNNING


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
    path: Path, console: Console | None = None, workers: int | None = None, states: RunStates | None = None
) -> Collection:
    """Discover and read every run under ``path`` (see :func:`read_runs`); ``states``: the launcher's view of a
    sweep's runs (see :func:`hpc_sweep.collect.discover.discover_runs`)."""
    console = console or Console(stderr=True)
    runs = read_runs(discover_runs(Path(path), states), console, workers)
    warnings = [warning for run in runs for warning in run.warnings]
    return Collection(root=Path(path), runs=runs, warnings=warnings)


def read_runs(sources: list[RunSource], console: Console | None = None, workers: int | None = None) -> list[RunData]:
    """Read runs in parallel processes when there are many, with a progress bar: the one reading driver behind
    ``hpc-sweep collect``, :func:`hpc_sweep.load_metrics` and ``benchmarks/collect_bench.py``.

    Reading is CPU-bound (record framing and CRC checks), so several runs are read in ``workers`` processes
    (default: the CPU count, at most 8) once there are at least 8 runs. Results keep the order of ``sources``.
    """
    console = console or Console(stderr=True)
    workers = workers or min(8, os.cpu_count() or 1)
    show = len(sources) >= 20 and console.is_terminal
    if workers > 1 and len(sources) >= 8:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            iterator = pool.map(read_run, sources, chunksize=max(1, len(sources) // (workers * 8)))
            return list(_progress(iterator, len(sources), console) if show else iterator)
    return [read_run(source) for source in (_progress(sources, len(sources), console) if show else sources)]


def _progress(items: Iterable[RunData | RunSource], total: int, console: Console) -> Iterable:
    from rich.progress import track

    return track(items, total=total, description="reading runs", console=console)


def load_metrics(path: Path) -> pd.DataFrame:
    """The tidy metrics table of a sweep dir or any log tree (the Python API behind ``hpc-sweep collect``)."""
    return collect(Path(path)).metrics_frame()
