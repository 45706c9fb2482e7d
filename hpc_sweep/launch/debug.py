"""The debug executor: the same runs, one after another in the foreground, output streamed to the terminal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import submitit

from hpc_sweep.job import JobRequest, TrainingJob
from hpc_sweep.layout import SweepLayout


def run_debug(
    layout: SweepLayout,
    requests: list[JobRequest],
    on_finish: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, str]:
    """Run each request in this process through submitit's DebugExecutor; return each run's final state."""
    executor = submitit.DebugExecutor(folder=layout.submitit_dir / "debug")
    states: dict[str, str] = {}
    for request in requests:
        job = executor.submit(TrainingJob(), replace(request, echo=True))
        record = job.result()
        states[request.run_id] = record["state"]
        if on_finish:
            on_finish(request.run_id, record)
    return states
