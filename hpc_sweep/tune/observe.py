"""What a tune controller reads of its runs: whether each run's attempt for a budget ended, and its curve.

Kept apart from the decisions (:mod:`hpc_sweep.tune.controller`): these answer from the runs' records, Slurm's
accounting and the runs' TensorBoard events (read incrementally through an :class:`EventCache`, so a pass reads
only what was logged since the last one).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from hpc_sweep.collect.event_cache import EventCache
from hpc_sweep.collect.metrics import METRIC_TAGS
from hpc_sweep.collect.tfevents.reader import iter_event_files
from hpc_sweep.layout import SweepLayout
from hpc_sweep.runstate import FINISHED, SLURM_TERMINAL, RunState, parse_state
from hpc_sweep.tune.state import Submission


def ended_jobs(submissions: Iterable[Submission]) -> set[str]:
    """Run ids whose latest job Slurm shows ended (a job cancelled or killed before its run could record it)."""
    from hpc_sweep.launch.sacct import job_states

    open_runs: dict[str, str] = {}
    for submission in submissions:
        for run_id, job in zip(submission.runs, submission.job_ids or [], strict=False):
            if job and job != "local":
                open_runs[run_id] = job
    if not open_runs:
        return set()
    states = job_states({job.split("_")[0] for job in open_runs.values()})
    return {run for run, job in open_runs.items() if states.get(job) in SLURM_TERMINAL}


def run_outcome(run: dict[str, Any], budget: int, ended: set[str]) -> str | None:
    """``completed`` or ``failed`` once the run's attempt for ``budget`` has ended; None while it may go on."""
    state = parse_state(run.get("state"))
    trained = run.get("total_iterations") or run.get("iterations_done")
    reached = not isinstance(trained, int) or trained >= budget
    if state in FINISHED and reached:
        return "completed" if state is RunState.COMPLETED else "failed"
    if run["run_id"] in ended and state is not RunState.RUNNING:
        return "failed"  # its job ended without a record of this budget (cancelled while pending, node failure)
    return None


class RunCurves:
    """Each run's stitched curve of one metric (all attempts' event files; later attempts win)."""

    def __init__(self, layout: SweepLayout, metric: str, cache_dir: Path) -> None:
        self.layout = layout
        self.tags = METRIC_TAGS.get(metric, (metric,))
        self._events = EventCache(cache_dir, tags=self.tags)

    def curve(self, run: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
        dirs = run.get("log_dirs") or ([run["log_dir"]] if run.get("log_dir") else [])
        files = [path for log_dir in dirs for path in iter_event_files(self.layout.load_path(log_dir))]
        if not files:
            return None
        scalars = self._events.read(files).scalars
        series = next((scalars[tag] for tag in self.tags if tag in scalars), None)
        return None if series is None else (series.step, series.value)
