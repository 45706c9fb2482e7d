"""``hpc-sweep cancel``: the sweep's own launcher cancels its jobs (only those) and records the runs it stopped."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from hpc_sweep.launch.base import launcher_for
from hpc_sweep.manifest import load_sweep
from hpc_sweep.report.console import make_console


def cancel_sweep(sweep_dir: Path, console: Console | None = None) -> None:
    """Cancel every job of the sweep in ``sweep_dir`` and record its unfinished runs as cancelled."""
    console = console or make_console()
    from hpc_sweep.tune.state import is_tune_dir

    if is_tune_dir(Path(sweep_dir)):
        from hpc_sweep.verbs.tune_status import cancel_controller

        cancel_controller(Path(sweep_dir), console)  # first: it would submit the next rung
    sweep = load_sweep(Path(sweep_dir))
    launcher_for(sweep).cancel(sweep, console)
