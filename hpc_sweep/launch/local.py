"""The local executor: each run in its own process through submitit's LocalExecutor, with our own slot scheduling.

submitit alone would start every job at once on the same GPUs; here at most ``max_parallel`` run at once, each
pinned to the least-loaded GPU through ``CUDA_VISIBLE_DEVICES``. No scheduler watches these runs, so this module
records what a dead job could not (and a stop signal ends a run: nothing requeues it).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import submitit

from hpc_sweep.command import JobRequest
from hpc_sweep.job import TrainingJob
from hpc_sweep.launch.base import LocalProgress, ObserverFactory
from hpc_sweep.launch.gpus import default_max_parallel, detect_gpus, pick_gpus
from hpc_sweep.layout import SweepLayout
from hpc_sweep.manifest import Sweep, load_sweep, refresh_manifest
from hpc_sweep.records import now_iso, read_record, update_partial_results, write_record
from hpc_sweep.runstate import FINISHED, RunState, end_without_scheduler, parse_state

if TYPE_CHECKING:
    from rich.console import Console

_POLL_S = 0.25
_STOP_GRACE_S = 20.0
_WEEK_MIN = 7 * 24 * 60


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
                    progress.finished[run_id] = record.get("state", RunState.FAILED)
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
    state = parse_state(record.get("state"))
    if end_without_scheduler(state) is not state:
        record["state"] = end_without_scheduler(state)
        write_record(layout, record)
        update_partial_results(layout)
    if record.get("state") in FINISHED:
        return record
    try:
        job.result()
        reason = "the job ended without recording a result"
    except Exception as error:  # submitit wraps the job's failure; its text is the reason
        reason = f"the job process failed: {str(error).strip().splitlines()[-1] if str(error).strip() else error!r}"
    record.update(state=RunState.FAILED, reason=reason, end_time=now_iso())
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
        if record.get("state") not in FINISHED:
            record.update(state=RunState.CANCELLED, reason="stopped by Ctrl-C (KeyboardInterrupt)", end_time=now_iso())
            write_record(layout, record)
        progress.finished[run_id] = record["state"]
        if not job.done():
            job.cancel()
    update_partial_results(layout)


class LocalLauncher:
    """Runs on this machine, ``max_parallel`` at once, spread over its GPUs, shown by an observer (the live table)."""

    name = "local"
    runs_here = True

    def __init__(self, max_parallel: int | None = None, observe: ObserverFactory | None = None) -> None:
        self.max_parallel = max_parallel
        self.observe = observe

    @classmethod
    def from_settings(cls, settings: dict[str, Any], observe: ObserverFactory | None = None) -> LocalLauncher:
        return cls(settings.get("max_parallel"), observe)

    def settings(self) -> dict[str, Any]:
        return {"max_parallel": self.max_parallel}

    def describe(self, sweep_dir: Path, requests: list[JobRequest], console: Console) -> None:
        """Nothing beyond each run's command: local runs are those commands."""

    def launch(self, sweep: Sweep, requests: list[JobRequest], console: Console) -> bool:
        """Run every request on the pool; sweep.json and partial_results.json show what finished, even on Ctrl-C."""
        gpus = detect_gpus()
        per_run = int(sweep.manifest["spec"].get("gpus_per_run", 1))
        sharing = int(sweep.manifest["spec"].get("runs_per_gpu", 1))
        max_parallel = self.max_parallel or default_max_parallel(gpus, per_run, sharing)
        console.print(f"local executor: {max_parallel} at once, GPUs: {', '.join(gpus) if gpus else 'none (CPU)'}")
        observing = self.observe(sweep, console) if self.observe else contextlib.nullcontext(None)
        try:
            with observing as observer:
                states = run_local(
                    sweep.layout,
                    requests,
                    max_parallel,
                    gpus,
                    per_run,
                    observer.update if observer else None,
                    observer.finished if observer else None,
                )
        finally:
            record_what_finished(sweep.layout.root, requests)
        return all(state == RunState.COMPLETED for state in states.values())

    def refresh(self, sweep: Sweep) -> None:
        """Local runs record their own end (or this launcher records it for them): nothing to overlay."""

    def wait(self, sweep_dir: Path, console: Console) -> bool:
        """Local runs have ended when :meth:`launch` returns."""
        sweep = load_sweep(sweep_dir)
        return all(run.get("state") == RunState.COMPLETED for run in sweep.runs)

    def cancel(self, sweep: Sweep, console: Console) -> None:
        console.print(f"{sweep.layout.root}: no Slurm jobs recorded; nothing to cancel")


def record_what_finished(sweep_dir: Path, requests: list[JobRequest]) -> None:
    """Write the runs' records back into sweep.json and regenerate partial_results.json (after runs here ended)."""
    refresh_manifest(load_sweep(sweep_dir))
    if requests:
        update_partial_results(SweepLayout(Path(sweep_dir)))
