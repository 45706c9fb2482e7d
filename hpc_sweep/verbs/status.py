"""``hpc-sweep status``: one table of where each run of a sweep stands, from its records and its launcher's view."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from hpc_sweep.launch.base import launcher_for
from hpc_sweep.logs.console import scan_log
from hpc_sweep.manifest import load_sweep, refresh_manifest
from hpc_sweep.report.console import make_console
from hpc_sweep.runstate import FINISHED, RunState, parse_state, style


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
    launcher_for(sweep).refresh(sweep)
    table = Table(title=f"{sweep.layout.root} ({sweep.manifest.get('executor')})")
    for column in ("run", "seed", "group", "state", "attempt", "iteration", "mean reward", "elapsed", "reason"):
        table.add_column(column, overflow="fold")
    counts: Counter[str] = Counter()
    for run in sweep.runs:
        state = parse_state(run.get("state"))
        counts[state.value] += 1
        scan = scan_log(sweep.layout.train_log(run["run_id"]), max_bytes=16384)
        total = run.get("max_iterations") or scan.total_iterations
        iteration = "-" if scan.iteration is None else f"{scan.iteration + 1}/{total}"
        reward = "-" if scan.last_mean_reward is None else f"{scan.last_mean_reward:.3f}"
        table.add_row(
            run["run_id"],
            str(run.get("seed")),
            str(run.get("group")),
            f"[{style(state)}]{state}[/]",
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
        return counts.get(RunState.COMPLETED, 0) == total
    from rich.console import Group
    from rich.live import Live

    with Live(console=console, auto_refresh=False) as live:
        while True:
            table, counts, total = status_table(sweep_dir)
            live.update(Group(table, _counts_line(counts)), refresh=True)
            if sum(n for state, n in counts.items() if state in FINISHED) == total:
                return counts.get(RunState.COMPLETED, 0) == total
            time.sleep(watch)
