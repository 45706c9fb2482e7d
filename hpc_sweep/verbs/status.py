"""``hpc-sweep status``: one table of where each run of a sweep stands, from its records and its launcher's view."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hpc_sweep.collect.discover import recorded_log_dirs
from hpc_sweep.collect.event_cache import EventCache
from hpc_sweep.collect.metrics import METRIC_TAGS
from hpc_sweep.collect.tfevents import iter_event_files
from hpc_sweep.errors import UsageError
from hpc_sweep.launch.base import launcher_for
from hpc_sweep.logs.console import LogScan, scan_log
from hpc_sweep.manifest import Sweep, load_sweep, refresh_manifest
from hpc_sweep.provenance.attempt import reason_with_code_note
from hpc_sweep.records import read_record
from hpc_sweep.report.console import make_console
from hpc_sweep.report.cost import cost_lines
from hpc_sweep.report.failures import failure_markup
from hpc_sweep.runstate import FINISHED, IN_FLIGHT, RunState, parse_state, style
from hpc_sweep.verbs.then import followup_lines

#: A local sweep with no live job is still starting runs while it wrote something this recently (seconds).
_RECENT_S = 30.0
#: The event tags that carry a run's mean reward, in order of preference.
_REWARD_TAGS = METRIC_TAGS["mean_reward"]


def _elapsed(run: dict[str, Any]) -> str:
    start, end = run.get("start_time"), run.get("end_time")
    if not start:
        return "-"
    try:
        begin = datetime.fromisoformat(start)
        finish = datetime.fromisoformat(end) if end else datetime.now(begin.tzinfo)
    except ValueError:
        return "-"
    seconds = int((finish - begin).total_seconds())
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


@dataclass
class StatusView:
    """One look at a sweep: its table, its state counts, whether anything may still change by itself, and why each
    failed run failed (its reason, the log line that tells, its log's path: console markup, one entry per run)."""

    table: Table
    counts: Counter[str]
    total: int
    in_progress: bool
    failures: list[str] = field(default_factory=list)
    cost: list[str] = field(default_factory=list)  # GPU-hours so far and a --runs_per_gpu hint: report/cost.py
    then: list[str] = field(default_factory=list)  # the collect job after the arrays: verbs/then.py


def reward_cache() -> EventCache:
    """An in-memory cache of the reward tags' points: kept across ``--watch`` redraws, each reads only new bytes."""
    return EventCache(None, tags=_REWARD_TAGS)


def event_rewards(sweep: Sweep, cache: EventCache) -> dict[str, float]:
    """Each run's mean reward at its latest step, from its event files (all attempts' log dirs), for the runs in
    flight (running, requeued: the ones a ``--watch`` follows; a finished run's console log has its last value);
    runs without event data for the reward are left out."""
    rewards: dict[str, float] = {}
    for run in sweep.runs:
        if parse_state(run.get("state")) not in IN_FLIGHT:
            continue
        files = [path for log_dir in recorded_log_dirs(run) for path in iter_event_files(log_dir)]
        if not files:
            continue
        scalars = cache.read(files).scalars
        series = next((scalars[tag] for tag in _REWARD_TAGS if tag in scalars and scalars[tag].step.size), None)
        if series is not None:
            rewards[run["run_id"]] = float(series.value[-1])
    return rewards


def status_table(sweep_dir: Path, cache: EventCache | None = None) -> StatusView:
    """The sweep's per-run table (scheduler state merged in one sacct call), its state counts and whether any run
    is still in progress (see :func:`_in_progress`).

    A running run's mean reward comes from its event files, else (and for every other run) from its console log's
    tail. ``cache`` (from
    :func:`reward_cache`) keeps what was read for the next call, so a redraw reads only what the files gained.
    """
    sweep = load_sweep(Path(sweep_dir))
    launcher = launcher_for(sweep)
    launcher.refresh(sweep)
    rewards = event_rewards(sweep, cache if cache is not None else reward_cache())
    table = Table(title=f"{sweep.layout.root} ({sweep.manifest.get('executor')})")
    for column in ("run", "seed", "group", "state", "attempt", "iteration", "mean reward", "elapsed", "reason"):
        table.add_column(column, overflow="fold")
    counts: Counter[str] = Counter()
    failures: list[str] = []
    for run in sweep.runs:
        state = parse_state(run.get("state"))
        counts[state.value] += 1
        train_log = sweep.layout.train_log(run["run_id"])
        scan = scan_log(train_log, max_bytes=16384) if train_log.is_file() else LogScan()  # never open a FIFO
        total = run.get("max_iterations") or scan.total_iterations
        iteration = "-" if scan.iteration is None else f"{scan.iteration + 1}/{total}"
        mean_reward = rewards.get(run["run_id"], scan.last_mean_reward)
        reward = "-" if mean_reward is None else f"{mean_reward:.3f}"
        table.add_row(
            run["run_id"],
            str(run.get("seed")),
            str(run.get("group")),
            f"[{style(state)}]{state}[/]",
            str(run.get("attempt") or 0),
            iteration,
            reward,
            _elapsed(run),
            reason_with_code_note(run),
        )
        if state is RunState.FAILED:
            failures.append(_failure(sweep, run, scan))
    in_progress = _in_progress(sweep, launcher.runs_here)
    with contextlib.suppress(OSError, TimeoutError):
        refresh_manifest(sweep)
    view = StatusView(table, counts, len(sweep.runs), in_progress, failures, cost_lines(sweep.manifest))
    view.then = followup_lines(sweep)
    return view


def _failure(sweep: Sweep, run: dict[str, Any], scan: LogScan) -> str:
    """A failed run's reason, the log line that tells (from its record's last lines, else the log's end) and the
    path of its ``train.log``."""
    record = read_record(sweep.layout, run["run_id"]) or {}
    train_log = sweep.layout.train_log(run["run_id"])
    reason = run.get("reason") or "no reason recorded"
    details = failure_markup(reason, record.get("last_lines") or scan.tail, train_log if train_log.is_file() else None)
    return f"[red]failed[/red] {escape(run['run_id'])} (seed {run.get('seed')}): {escape(reason)}{details}"


def _in_progress(sweep: Sweep, runs_here: bool) -> bool:
    """Whether some run of the sweep may still change without the user doing anything.

    On Slurm: a run whose job is queued, running or waiting to be requeued (after sacct's word). A sweep run on
    this machine (local, debug) has no scheduler: a run is in progress while its job process is alive (a run
    recorded on another host is taken to be), and a run not started yet while the sweep shows activity (records
    or logs written in the last half minute: between two runs of a local pool), as its pool starts it then.
    """
    unfinished = [run for run in sweep.runs if parse_state(run.get("state")) not in FINISHED]
    if not runs_here:
        return any(
            parse_state(run.get("state")) in IN_FLIGHT
            or (parse_state(run.get("state")) is RunState.PENDING and bool(run.get("job_id")))  # queued in Slurm
            for run in unfinished
        )
    started = [run for run in unfinished if parse_state(run.get("state")) is not RunState.PENDING]
    if any(_job_alive(run) for run in started):
        return True
    return len(started) < len(unfinished) and time.time() - _last_activity(sweep) < _RECENT_S


def _job_alive(run: dict[str, Any]) -> bool:
    """Whether the job process a run recorded is alive (a run recorded on another host cannot be checked from here:
    taken to be alive)."""
    if run.get("host") != socket.gethostname():
        return True
    pid = run.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def _last_activity(sweep: Sweep) -> float:
    """When the sweep last wrote anything: its manifest, a record or a training log (seconds since the epoch)."""
    layout = sweep.layout
    paths = [
        layout.manifest,
        *(p for run in sweep.runs for p in (layout.record(run["run_id"]), layout.train_log(run["run_id"]))),
    ]
    times = []
    for path in paths:
        with contextlib.suppress(OSError):
            times.append(path.stat().st_mtime)
    return max(times, default=0.0)


def _counts_line(counts: Counter[str]) -> str:
    return ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))


def show_status(sweep_dir: Path, console: Console | None = None, watch: float | None = None) -> bool:
    """Print the sweep's table and counts (redrawn every ``watch`` seconds while a run is in progress, so it stops
    at once for a sweep that has already ended); True when every run completed."""
    console = console or make_console()
    cache = reward_cache()
    if watch is None:
        view = status_table(sweep_dir, cache)
        console.print(view.table)
        for failure in view.failures:
            console.print(failure, highlight=False)
        console.print(_counts_line(view.counts), highlight=False)
        for line in [*view.cost, *view.then, *_tune_lines(sweep_dir)]:
            console.print(line, highlight=False)
        return view.counts.get(RunState.COMPLETED, 0) == view.total
    if not watch > 0 or watch == float("inf"):
        raise UsageError(f"--watch {watch}: give a positive number of seconds between redraws")
    from rich.console import Group
    from rich.live import Live

    with Live(console=console, auto_refresh=False) as live:
        while True:
            view = status_table(sweep_dir, cache)
            lines = [view.table, *view.failures, _counts_line(view.counts), *view.cost, *view.then]
            lines += _tune_lines(sweep_dir)
            ended = sum(n for state, n in view.counts.items() if state in FINISHED)
            if not view.in_progress and ended < view.total:
                lines.append(f"no run is in progress any more; {view.total - ended} run(s) did not end")
            live.update(Group(*lines), refresh=True)
            if not view.in_progress:
                return view.counts.get(RunState.COMPLETED, 0) == view.total
            time.sleep(watch)


def _tune_lines(sweep_dir: Path) -> list[Any]:
    """A tune study's rungs table and state (:func:`hpc_sweep.verbs.tune.tune_status`); nothing for other sweeps."""
    from hpc_sweep.tune.state import is_tune_dir

    if not is_tune_dir(Path(sweep_dir)):
        return []
    from hpc_sweep.verbs.tune_status import tune_status

    return tune_status(Path(sweep_dir))
