"""The local executor: each run in its own process through submitit's LocalExecutor, with our own slot scheduling.

submitit alone would start every job at once on the same GPUs; here at most ``max_parallel`` run at once, each
pinned to the least-loaded GPU through ``CUDA_VISIBLE_DEVICES``. No scheduler watches these runs, so this module
records what a dead job could not (and a stop signal ends a run: nothing requeues it).

Ctrl-C. Each job is a submitit controller process, its job wrapper (:class:`hpc_sweep.job.TrainingJob`) and the
training. The controllers start in a session of their own (:class:`_SessionExecutor`), so a Ctrl-C in the terminal
reaches hpc-sweep alone: sharing the terminal's process group, submitit's controller would print a
KeyboardInterrupt traceback and SIGKILL the wrapper a second later, before it could record its run. hpc-sweep takes
the signal between two polls (never in the middle of a submission or a record) and :func:`_stop_all` passes SIGINT
to each wrapper while its training runs; the wrapper forwards it to the training and records the run
``cancelled``, or ``completed`` when the training had already finished all its iterations. Then the
KeyboardInterrupt goes up to the command line, which prints its one line. A second Ctrl-C (or the grace period
running out) kills what is left; SIGTERM and SIGHUP (the terminal closed) stop the sweep the same way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import submitit
from submitit.local.local import LocalJob

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
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _SessionExecutor(submitit.LocalExecutor):
    """submitit's LocalExecutor with each job's controller started in a session of its own (see the module
    docstring). The controller's environment is the one ``submitit.local.local.start_controller`` (submitit 1.5)
    gives it; only ``start_new_session`` is added."""

    def _submit_command(self, command: str) -> LocalJob[Any]:
        params = self.parameters
        ntasks = params.get("tasks_per_node", 1)
        visible = params.get("visible_gpus", ())
        gpus = range(params.get("gpus_per_node", 0)) if visible == () else visible[: params.get("gpus_per_node", 0)]
        env = dict(os.environ)
        env.update(
            SUBMITIT_LOCAL_NTASKS=str(ntasks),
            SUBMITIT_LOCAL_COMMAND=command,
            SUBMITIT_LOCAL_TIMEOUT_S=str(int(60 * params.get("timeout_min", 2.0))),
            SUBMITIT_LOCAL_SIGNAL_DELAY_S=str(int(params.get("signal_delay_s", 30))),
            SUBMITIT_LOCAL_NODEID="0",
            SUBMITIT_LOCAL_JOB_NUM_NODES="1",
            SUBMITIT_STDERR_TO_STDOUT="1" if params.get("stderr_to_stdout", False) else "",
            SUBMITIT_EXECUTOR="local",
            CUDA_VISIBLE_DEVICES=",".join(str(k) for k in gpus),
            SUBMITIT_LOCAL_WITH_SHELL="",
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "submitit.local._local", str(self.folder)], env=env, start_new_session=True
        )
        return LocalJob(folder=self.folder, job_id=str(process.pid), process=process, tasks=list(range(ntasks)))


class _StopSignals:
    """The stop signals (Ctrl-C, SIGTERM, SIGHUP) that reach hpc-sweep while its local jobs run, noted instead of
    raised, so that the polling loop stops between two steps. Installed from the main thread only, and never over a
    signal that was ignored when hpc-sweep started (``nohup``, a background job of a script)."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in _STOP_SIGNALS:
                if signal.getsignal(signum) is not signal.SIG_IGN:
                    self._previous[signum] = signal.signal(signum, self._note)
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _note(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signal.Signals(signum).name)

    def reason(self) -> str:
        """The reason recorded for runs this stop cancelled (and that could not record their own end)."""
        first = self.received[0] if self.received else "SIGINT"
        return "stopped by Ctrl-C (KeyboardInterrupt)" if first == "SIGINT" else f"stopped by {first} to hpc-sweep"


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

    Each run gets ``gpus_per_run`` of the least-loaded GPUs. Ctrl-C (or SIGTERM, SIGHUP) stops every running job
    (their trainings get SIGINT and are recorded as cancelled; see the module docstring) and keeps what finished;
    then KeyboardInterrupt is raised, once the children are gone.
    """
    executor = _SessionExecutor(folder=layout.submitit_dir / "%j")
    executor.update_parameters(timeout_min=_WEEK_MIN, gpus_per_node=0)
    pending = list(requests)
    running: dict[str, tuple[submitit.Job[Any], JobRequest]] = {}
    progress = LocalProgress(total=len(requests), running={}, finished={})
    with _StopSignals() as stops:
        try:
            while (pending or running) and not stops.received:
                while pending and len(running) < max_parallel and not stops.received:
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
                if not stops.received:
                    time.sleep(_POLL_S)
        except KeyboardInterrupt:  # not in the main thread: Python's own Ctrl-C
            stops.received.append("SIGINT")
        if stops.received:
            _stop_all(layout, running, progress, stops)
            raise KeyboardInterrupt
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
    layout: SweepLayout,
    running: dict[str, tuple[submitit.Job[Any], JobRequest]],
    progress: LocalProgress,
    stops: _StopSignals,
) -> None:
    """Stop every running job through its wrapper, wait for them to go, and record the ones that could not record
    themselves. A job is killed (controller, wrapper, and with the wrapper its training) when the grace period runs
    out or a second stop signal comes."""
    jobs = {run_id: job for run_id, (job, _) in running.items()}
    told: set[str] = set()
    deadline = time.monotonic() + _STOP_GRACE_S
    while len(stops.received) < 2 and time.monotonic() < deadline:
        alive = {run_id: job for run_id, job in jobs.items() if not job.done()}
        if not alive:
            break
        for run_id, job in alive.items():
            if run_id not in told and _interrupt(job):
                told.add(run_id)
        time.sleep(_POLL_S)
    for job in jobs.values():
        if not job.done():
            with contextlib.suppress(ProcessLookupError, PermissionError, ValueError):
                os.killpg(int(job.job_id), signal.SIGKILL)
    kill_deadline = time.monotonic() + 5.0
    while time.monotonic() < kill_deadline and not all(job.done() for job in jobs.values()):
        time.sleep(0.05)
    for run_id in jobs:
        progress.finished[run_id] = cancel_unfinished(layout, run_id, stops.reason())["state"]
    update_partial_results(layout)


def _interrupt(job: submitit.Job[Any]) -> bool:
    """Pass Ctrl-C to a job's wrapper while its training runs (it forwards SIGINT to the training); True once sent.

    The wrapper is the controller's child; it is told only while it has a child of its own (the training): before,
    the training has not started (and is told on a later poll), after, it has ended and the wrapper is recording it.
    Where the process table does not list children (not Linux), the controller is asked instead: it passes SIGTERM
    on to the wrapper (recorded ``interrupted``, then ``cancelled``, as no scheduler requeues a local run).
    """
    controller = int(job.job_id)
    if not Path(f"/proc/{controller}/task/{controller}/children").exists():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(controller, signal.SIGTERM)
        return True
    for wrapper in _children(controller):
        if _children(wrapper):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(wrapper, signal.SIGINT)
            return True
    return False


def _children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux: ``/proc/<pid>/task/*/children``); empty when it is gone."""
    children: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                children += [int(child) for child in (task / "children").read_text().split()]
    return children


def cancel_unfinished(layout: SweepLayout, run_id: str, reason: str) -> dict[str, Any]:
    """Record a run whose job was stopped as ``cancelled`` with ``reason``, unless its record already holds an end
    (completed, failed, or cancelled by its wrapper); return the record. A record that exists but cannot be read at
    once (NFS mid-replace) is read again for a second before it would be replaced."""
    record = read_record(layout, run_id)
    for _ in range(10):
        if record is not None or not layout.record(run_id).exists():
            break
        time.sleep(0.1)
        record = read_record(layout, run_id)
    record = record or {"run_id": run_id, "attempt": 1}
    if parse_state(record.get("state")) not in FINISHED:
        record.update(state=RunState.CANCELLED, reason=reason, end_time=record.get("end_time") or now_iso())
        write_record(layout, record)
    return record


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
