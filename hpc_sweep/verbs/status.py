"""``hpc-sweep status``: one table of where each run of a sweep stands, read from the sweep dir's own records."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from hpc_sweep.collect.textlog import scan_log
from hpc_sweep.launch.sacct import TERMINAL, cancel_jobs, job_states, merge_scheduler_states
from hpc_sweep.manifest import load_sweep, refresh_manifest
from hpc_sweep.records import FINISHED_STATES, now_iso, read_record, write_record
from hpc_sweep.report.console import make_console

_STYLE = {"completed": "green", "failed": "red", "cancelled": "yellow", "running": "cyan", "pending": "dim"}


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


def status_table(sweep_dir: Path) -> tuple[Table, Counter[str], int]:
    """The sweep's per-run table (scheduler state merged in one sacct call), its state counts and its run count."""
    sweep = load_sweep(Path(sweep_dir))
    merge_scheduler_states(sweep)
    table = Table(title=f"{sweep.layout.root} ({sweep.manifest.get('executor')})")
    for column in ("run", "seed", "group", "state", "attempt", "iteration", "mean reward", "elapsed", "reason"):
        table.add_column(column, overflow="fold")
    counts: Counter[str] = Counter()
    for run in sweep.runs:
        state = run.get("state", "pending")
        counts[state] += 1
        scan = scan_log(sweep.layout.train_log(run["run_id"]), max_bytes=16384)
        total = run.get("max_iterations") or scan.total_iterations
        iteration = "-" if scan.iteration is None else f"{scan.iteration + 1}/{total}"
        reward = "-" if scan.last_mean_reward is None else f"{scan.last_mean_reward:.3f}"
        style = _STYLE.get(state, "white")
        table.add_row(
            run["run_id"],
            str(run.get("seed")),
            str(run.get("group")),
            f"[{style}]{state}[/]",
            str(run.get("attempt") or 0),
            iteration,
            reward,
            _elapsed(run),
            run.get("reason") or "",
        )
    with contextlib.suppress(OSError, TimeoutError):
        refresh_manifest(sweep)
    return table, counts, len(sweep.runs)


def _counts_line(counts: Counter[str]) -> str:
    return ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))


def show_status(sweep_dir: Path, console: Console | None = None, watch: float | None = None) -> bool:
    """Print the sweep's table and counts (redrawn every ``watch`` seconds until all runs ended); True when every
    run completed."""
    console = console or make_console()
    if watch is None:
        table, counts, total = status_table(sweep_dir)
        console.print(table)
        console.print(_counts_line(counts), highlight=False)
        return counts.get("completed", 0) == total
    from rich.console import Group
    from rich.live import Live

    with Live(console=console, auto_refresh=False) as live:
        while True:
            table, counts, total = status_table(sweep_dir)
            live.update(Group(table, _counts_line(counts)), refresh=True)
            if sum(n for state, n in counts.items() if state in FINISHED_STATES) == total:
                return counts.get("completed", 0) == total
            time.sleep(watch)


def wait_for_sweep(sweep_dir: Path, console: Console, poll_s: float = 10.0) -> bool:
    """Block until every run has ended (one sacct call per poll), with a progress bar; True if all completed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("runs finished", total=None)
        while True:
            sweep = load_sweep(Path(sweep_dir))
            merge_scheduler_states(sweep)
            states = Counter(run.get("state") for run in sweep.runs)
            done = sum(count for state, count in states.items() if state in FINISHED_STATES)
            progress.update(task, total=len(sweep.runs), completed=done)
            progress.update(task, description=", ".join(f"{n} {s}" for s, n in sorted(states.items(), key=str)))
            if done == len(sweep.runs):
                refresh_manifest(sweep)
                return states.get("completed", 0) == len(sweep.runs)
            time.sleep(poll_s)


def cancel_sweep(sweep_dir: Path, console: Console | None = None, grace_s: float = 30.0) -> None:
    """Cancel this sweep's Slurm arrays (only those) and record every unfinished run as cancelled."""
    console = console or make_console()
    sweep = load_sweep(Path(sweep_dir))
    arrays = [job["array_id"] for job in sweep.manifest.get("jobs", [])]
    if not arrays:
        console.print(f"{sweep_dir}: no Slurm jobs recorded; nothing to cancel")
        return
    cancel_jobs(arrays)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:  # running jobs record their own cancellation on SIGTERM
        states = job_states(arrays)
        if all(state in TERMINAL for state in states.values()):
            break
        time.sleep(1.0)
    cancelled = 0
    for run in sweep.runs:
        record = read_record(sweep.layout, run["run_id"]) or {"run_id": run["run_id"], "attempt": 0}
        if record.get("state") in FINISHED_STATES:
            continue
        record.update(state="cancelled", reason="cancelled by hpc-sweep cancel", end_time=now_iso())
        write_record(sweep.layout, record)
        cancelled += 1
    sweep = load_sweep(Path(sweep_dir))
    refresh_manifest(sweep, cancelled_at=now_iso())
    console.print(f"cancelled Slurm array job(s) {', '.join(arrays)}; {cancelled} unfinished run(s) recorded")
