"""The debug executor: the same runs, one after another in the foreground, output streamed to the terminal.

Ctrl-C: the job wrapper runs in this process; while a training runs it forwards the SIGINT to it and records the run
``cancelled``, and the sweep stops there (the runs after it stay pending) with the command line's one line. A Ctrl-C
outside a training (between two runs, while a run is recorded) stops the sweep the same way, and the run it caught
unrecorded is recorded ``cancelled``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import submitit

from hpc_sweep.command import JobRequest
from hpc_sweep.job import TrainingJob
from hpc_sweep.launch.base import ObserverFactory
from hpc_sweep.launch.local import cancel_unfinished, record_what_finished
from hpc_sweep.manifest import Sweep, load_sweep
from hpc_sweep.runstate import RunState

if TYPE_CHECKING:
    from rich.console import Console


class DebugLauncher:
    """Each run in this process through submitit's DebugExecutor (a debugger can step into the job wrapper)."""

    name = "debug"
    runs_here = True

    @classmethod
    def from_settings(cls, settings: dict[str, Any], observe: ObserverFactory | None = None) -> DebugLauncher:
        return cls()

    def settings(self) -> dict[str, Any]:
        return {}

    def describe(self, sweep_dir: Path, requests: list[JobRequest], console: Console) -> None:
        """Nothing beyond each run's command: debug runs are those commands."""

    def launch(self, sweep: Sweep, requests: list[JobRequest], console: Console) -> bool:
        """Run each request in turn, its output echoed; sweep.json and partial results are written even on Ctrl-C."""
        executor = submitit.DebugExecutor(folder=sweep.layout.submitit_dir / "debug")
        states: dict[str, str] = {}
        try:
            for request in requests:
                job = executor.submit(TrainingJob(), replace(request, echo=True))
                try:
                    states[request.run_id] = job.result()["state"]
                except KeyboardInterrupt:
                    cancel_unfinished(sweep.layout, request.run_id, "stopped by Ctrl-C (KeyboardInterrupt)")
                    raise
                if states[request.run_id] == RunState.CANCELLED:  # Ctrl-C reached the training through the wrapper
                    raise KeyboardInterrupt
        finally:
            record_what_finished(sweep.layout.root, requests)
        return all(state == RunState.COMPLETED for state in states.values())

    def refresh(self, sweep: Sweep) -> None:
        """Debug runs record their own end: nothing to overlay."""

    def wait(self, sweep_dir: Path, console: Console) -> bool:
        """Debug runs have ended when :meth:`launch` returns."""
        return all(run.get("state") == RunState.COMPLETED for run in load_sweep(sweep_dir).runs)

    def cancel(self, sweep: Sweep, console: Console) -> None:
        console.print(f"{sweep.layout.root}: no Slurm jobs recorded; nothing to cancel")
