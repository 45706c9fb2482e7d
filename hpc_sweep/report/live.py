"""The live progress display of a local sweep: counts, and each running run's iteration and reward."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from hpc_sweep.launch.base import LocalProgress
from hpc_sweep.layout import SweepLayout
from hpc_sweep.logs.console import scan_log
from hpc_sweep.report.console import make_console
from hpc_sweep.report.failures import failure_markup
from hpc_sweep.runstate import RunState
from hpc_sweep.runstate import style as state_style


class LiveDisplay:
    """A rich ``Live`` table on a terminal; one plain line per finished run otherwise (CI logs, pipes)."""

    def __init__(self, layout: SweepLayout, runs: dict[str, dict[str, Any]], console: Console | None = None) -> None:
        self.layout = layout
        self.runs = runs
        self.console = console or make_console()
        self.started: dict[str, float] = {}
        self.live: Live | None = None
        self._last_render = 0.0

    def __enter__(self) -> LiveDisplay:
        if self.console.is_terminal:
            self.live = Live(console=self.console, refresh_per_second=4, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def update(self, progress: LocalProgress) -> None:
        """Redraw (at most twice a second: reading log tails is cheap but not free)."""
        for run_id in progress.running:
            self.started.setdefault(run_id, time.monotonic())
        if self.live is None or time.monotonic() - self._last_render < 0.5:
            return
        self._last_render = time.monotonic()
        self.live.update(self._render(progress))

    def finished(self, run_id: str, record: dict[str, Any]) -> None:
        """Announce a finished run on its own line (kept in the scrollback); a failed run's line is followed by the
        log line that tells why (when its reason does not quote one) and its log's path."""
        run = self.runs.get(run_id, {})
        state = record.get("state", "?")
        reward, reason = record.get("final_reward_mean"), record.get("reason") or ""
        failed = state == RunState.FAILED
        shown = f"{'last' if failed else 'final'} mean reward {reward:.3f}" if isinstance(reward, (int, float)) else ""
        if failed and reason:  # the reason first: it is what the user needs
            detail = f"{reason}; {shown}" if shown else reason
        else:
            detail = "; ".join(filter(None, [shown, reason]))
        style = state_style(state)
        extra = ""
        if failed:
            extra = failure_markup(record.get("reason"), record.get("last_lines"), self.layout.train_log(run_id))
        self.console.print(
            f"run {run_id} (seed {run.get('seed')}, {escape(str(run.get('group')))}): "
            f"[{style}]{state}[/{style}] {escape(detail)}{extra}",
            highlight=False,
        )

    def _render(self, progress: LocalProgress) -> Group:
        states = list(progress.finished.values())
        done = sum(1 for s in states if s == "completed")
        failed = len(states) - done
        pending = progress.total - len(states) - len(progress.running)
        table = Table(title=None, expand=False)
        for column in ("run", "seed", "group", "gpu", "iteration", "mean reward", "elapsed"):
            table.add_column(column)
        for run_id, gpu in progress.running.items():
            run = self.runs.get(run_id, {})
            scan = scan_log(self.layout.train_log(run_id), max_bytes=16384)
            iteration = "-" if scan.iteration is None else f"{scan.iteration + 1}/{scan.total_iterations}"
            reward = "-" if scan.last_mean_reward is None else f"{scan.last_mean_reward:.3f}"
            elapsed = time.monotonic() - self.started.get(run_id, time.monotonic())
            table.add_row(
                run_id, str(run.get("seed")), str(run.get("group")), gpu or "cpu", iteration, reward, f"{elapsed:.0f}s"
            )
        header = (
            f"[bold]{done}[/bold] done, [bold cyan]{len(progress.running)}[/bold cyan] running, "
            f"[bold red]{failed}[/bold red] failed/cancelled, {pending} pending, of {progress.total} runs"
        )
        return Group(header, table)
