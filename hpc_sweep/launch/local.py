"""The local executor: each run in its own process through submitit's LocalExecutor, with our own slot scheduling.

submitit alone would start every job at once on the same GPUs; here at most ``max_parallel`` run at once, each
pinned to the least-loaded GPU through ``CUDA_VISIBLE_DEVICES``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import submitit

from hpc_sweep.job import JobRequest, TrainingJob
from hpc_sweep.launch.gpus import pick_gpus
from hpc_sweep.layout import SweepLayout
from hpc_sweep.records import FINISHED_STATES, now_iso, read_record, update_partial_results, write_record

_POLL_S = 0.25
_STOP_GRACE_S = 20.0
_WEEK_MIN = 7 * 24 * 60


@dataclass
class LocalProgress:
    """What the display needs to know after each poll."""

    total: int
    running: dict[str, str | None]  # run_id -> gpu
    finished: dict[str, str]  # run_id -> state


def run_local(
    layout: SweepLayout,
    requests: list[JobRequest],
    max_parallel: int,
    gpus: list[str],
    gpus_per_run: int = 1,
    on_update: Callable[[LocalProgress], None] | None = None,
    on_finish: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, str]:
    """Run every request, at most ``max_parallel`` at once; return the final state of each run.

    Each run gets ``gpus_per_run`` of the least-loaded GPUs. Ctrl-C stops every running job (their training
    processes get SIGINT and are recorded as cancelled) and keeps what finished; the KeyboardInterrupt is re-raised
    once the children are gone.
    """
    executor = submitit.LocalExecutor(folder=layout.submitit_dir / "%j")
    executor.update_parameters(timeout_min=_WEEK_MIN, gpus_per_node=0)
    pending = list(requests)
    running: dict[str, tuple[submitit.Job[Any], JobRequest]] = {}
    progress = LocalProgress(total=len(requests), running={}, finished={})
    try:
        while pending or running:
            while pending and len(running) < max_parallel:
                request = pending.pop(0)
                gpu = pick_gpus(gpus, [r.gpu for _, r in running.values()], gpus_per_run)
                request = replace(request, gpu=gpu)
                running[request.run_id] = (executor.submit(TrainingJob(), request), request)
                progress.running[request.run_id] = gpu
            for run_id, (job, _request) in list(running.items()):
                if job.done():
                    del running[run_id]
                    del progress.running[run_id]
                    record = _final_record(layout, run_id, job)
                    progress.finished[run_id] = record.get("state", "failed")
                    if on_finish:
                        on_finish(run_id, record)
            if on_update:
                on_update(progress)
            time.sleep(_POLL_S)
    except KeyboardInterrupt:
        _stop_all(layout, running, progress)
        raise
    return progress.finished


def _final_record(layout: SweepLayout, run_id: str, job: submitit.Job[Any]) -> dict[str, Any]:
    """The run's record once its job ended; a job that died without recording (killed wrapper) is recorded here."""
    record = read_record(layout, run_id) or {"run_id": run_id, "attempt": 1}
    if record.get("state") == "interrupted":  # no scheduler requeues local runs: a stop signal ends them
        record["state"] = "cancelled"
        write_record(layout, record)
        update_partial_results(layout)
    if record.get("state") in FINISHED_STATES:
        return record
    try:
        job.result()
        reason = "the job ended without recording a result"
    except Exception as error:  # submitit wraps the job's failure; its text is the reason
        reason = f"the job process failed: {str(error).strip().splitlines()[-1] if str(error).strip() else error!r}"
    record.update(state="failed", reason=reason, end_time=now_iso())
    write_record(layout, record)
    update_partial_results(layout)
    return record


def _stop_all(
    layout: SweepLayout, running: dict[str, tuple[submitit.Job[Any], JobRequest]], progress: LocalProgress
) -> None:
    """Cancel every running job, wait for them to go, and record the ones that could not record themselves."""
    for job, _ in running.values():
        job.cancel()
    deadline = time.monotonic() + _STOP_GRACE_S
    while time.monotonic() < deadline and not all(job.done() for job, _ in running.values()):
        time.sleep(_POLL_S)
    for run_id, (job, _) in running.items():
        record = read_record(layout, run_id) or {"run_id": run_id, "attempt": 1}
        if record.get("state") not in FINISHED_STATES:
            record.update(state="cancelled", reason="stopped by Ctrl-C (KeyboardInterrupt)", end_time=now_iso())
            write_record(layout, record)
        progress.finished[run_id] = record["state"]
        if not job.done():
            job.cancel()
    update_partial_results(layout)
