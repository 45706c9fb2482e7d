"""``hpc-sweep status``: one table of where each run of a sweep stands, read from the sweep dir's own records."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from hpc_sweep.collect.textlog import scan_log
from hpc_sweep.manifest import load_sweep, refresh_manifest

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


def show_status(sweep_dir: Path, console: Console | None = None) -> bool:
    """Print the sweep's table and counts; True when every run completed."""
    console = console or Console()
    sweep = load_sweep(Path(sweep_dir))
    table = Table(title=f"{sweep.layout.root} ({sweep.manifest.get('executor')})")
    for column in ("run", "seed", "group", "state", "attempt", "iteration", "mean reward", "elapsed", "reason"):
        table.add_column(column, overflow="fold")
    counts: Counter[str] = Counter()
    for run in sweep.runs:
        state = run.get("state", "pending")
        counts[state] += 1
        scan = scan_log(sweep.layout.train_log(run["run_id"]), max_bytes=16384)
        total = scan.total_iterations or run.get("max_iterations")
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
    console.print(table)
    console.print(", ".join(f"{count} {state}" for state, count in sorted(counts.items())), highlight=False)
    refresh_manifest(sweep)
    return counts.get("completed", 0) == len(sweep.runs)
