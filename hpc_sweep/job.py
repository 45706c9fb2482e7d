"""What runs inside one job: the training subprocess, its live log, and the run's record.

Every executor (slurm, local, debug) runs :class:`TrainingJob` through submitit, so a cluster node runs exactly what
the local tests run. This module imports only the standard library and our light helpers: its start-up cost is paid
once per job, times thousands.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpc_sweep.command import JobRequest
from hpc_sweep.gpu_sampler import GpuSampler
from hpc_sweep.job_env import apply_planned_env, job_id
from hpc_sweep.layout import SweepLayout
from hpc_sweep.logs.console import LogScan
from hpc_sweep.logs.layouts import LAYOUTS, RunIdentity, latest_checkpoint
from hpc_sweep.node_group import Placement, leader_end, node_log, placement, write_report
from hpc_sweep.provenance.attempt import attempt_code
from hpc_sweep.records import now_iso, read_record, update_partial_results, write_record
from hpc_sweep.runstate import RunState, classify_exit

_KILL_GRACE_S = 15.0
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@dataclass
class _Outcome:
    """How one attempt of the training process ended."""

    returncode: int | None
    scan: LogScan
    stopped_by: str | None
    start_error: str | None


class TrainingJob:
    """The job function every executor runs (through submitit): one training, to its end, then its record.

    It is checkpointable in submitit's sense: on the time-limit/preemption signal submitit calls :meth:`checkpoint`,
    which stops the training (its checkpoints ``model_<it>.pt`` are on disk) and records the attempt, and submitit
    requeues the job. Every attempt, requeued or resubmitted, resumes from the latest checkpoint of the run's earlier
    attempts with the profile's resume flags, for the remaining iterations only.
    """

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._record: dict[str, Any] | None = None
        self._request: JobRequest | None = None
        self._scan = LogScan()
        self._started = time.time()
        self._stopped_by: list[str] = []
        # Guards the end of the record: a requeue signal (checkpoint) and the training's own end may race in a pack.
        self._ending = threading.RLock()
        self._checkpointed = False
        self._sampler: GpuSampler | None = None  # this attempt's GPU utilisation samples (gpu_usage)

    def __getstate__(self) -> dict[str, Any]:
        """submitit pickles the job before it runs: only a fresh one travels (a lock and a process do not pickle)."""
        return {}

    def __setstate__(self, _state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]

    def __call__(self, request: JobRequest) -> dict[str, Any]:
        """Run one attempt and return the run's final record (also written to ``record.json``).

        A failure of the training never raises here: it is recorded with its reason, so the sweep goes on.
        """
        layout = SweepLayout(Path(request.sweep_dir))
        previous = read_record(layout, request.run_id) or {}
        if reached_budget(previous, request):  # a duplicate submission (e.g. a restarted tune controller's)
            return previous
        earlier = [layout.load_path(log_dir) for log_dir in previous.get("log_dirs", [])]  # relative: in this dir
        checkpoint = latest_checkpoint(earlier)
        argv = list(request.command.resume_argv(checkpoint) if checkpoint else request.argv)
        place = placement(argv)  # None unless the run spans several nodes (hpc_sweep.node_group)
        if place is not None:
            argv = place.argv(argv)
            if not place.leader:
                return self._follow(layout, request, argv, place, int(previous.get("attempt", 0)) + 1)
        record: dict[str, Any] = {
            **previous,
            "run_id": request.run_id,
            "state": RunState.RUNNING,
            "attempt": int(previous.get("attempt", 0)) + 1,
            "host": socket.gethostname(),
            "job_id": job_id(),
            "pid": os.getpid(),
            "start_time": now_iso(),
            "end_time": None,
            "exit_code": None,
            "reason": None,
            "gpu": request.gpu,
            "checkpoint": layout.store_path(checkpoint[0]) if checkpoint else None,
            "argv": argv,
        }
        record.update(attempt_code(layout.root, record["attempt"], previous))  # the code this attempt runs
        self._record, self._request = record, request
        write_record(layout, record)
        self._sampler = GpuSampler(request.gpu or os.environ.get("CUDA_VISIBLE_DEVICES")).start()
        started = self._started = time.time()
        outcome = self._run_subprocess(request, argv, layout.train_log(request.run_id), record["attempt"])
        with self._ending:
            if self._checkpointed:  # the requeue signal stopped this attempt and recorded it
                return record
            state, reason = classify_exit(
                outcome.returncode,
                start_error=outcome.start_error,
                stopped_by=outcome.stopped_by,
                log_failure=outcome.scan.failure_reason(),
                log_dir_found=_find_log_dir(request, outcome.scan, started) is not None,
                finished_all_iterations=outcome.scan.iteration is not None
                and outcome.scan.iteration + 1 >= request.command.max_iterations,
            )
            if place is None:
                return self._finish(layout, outcome, state, reason, started)
        # a multi-node run's leader: the followers' reports, outside the lock (a requeue signal may come meanwhile)
        record["nodes"], reason = leader_end(layout, request.run_id, place, state is RunState.COMPLETED, reason)
        with self._ending:
            if self._checkpointed:
                return record
            return self._finish(layout, outcome, state, reason, started)

    def _follow(
        self, layout: SweepLayout, request: JobRequest, argv: list[str], place: Placement, attempt: int
    ) -> dict[str, Any]:
        """A follower node's part of a multi-node run: its ranks, its own log, its end reported to the leader."""
        self._request = request
        outcome = self._run_subprocess(request, argv, node_log(layout, request.run_id, place.node), attempt)
        failure = outcome.start_error or outcome.scan.failure_reason()
        return write_report(layout, request.run_id, place, outcome.returncode, failure)

    def checkpoint(self, request: JobRequest) -> Any:
        """submitit's hook on the time-limit (or preemption) signal: stop the training, record, requeue as is."""
        import submitit

        stop_for_requeue([self])
        return submitit.helpers.DelayedSubmission(TrainingJob(), request)

    def stop(self, signame: str) -> None:
        """Stop the training on a scheduler or user signal (SIGINT is passed on as is, the others as SIGTERM)."""
        self._stopped_by.append(signame)
        if self._process is not None:
            _stop_group(self._process, signal.SIGINT if signame == "SIGINT" else signal.SIGTERM)

    def _claim_for_requeue(self) -> bool:
        """Mark the running attempt as ending in a requeue, before its training is stopped (so that the training's
        end is not recorded as a failure); False when the attempt already ended by itself."""
        with self._ending:
            if self._record is None or self._request is None or self._record.get("end_time"):
                return False
            self._checkpointed = True
            return True

    def _record_requeue(self) -> None:
        """Once the claimed attempt's training was stopped: record the attempt as requeued."""
        with self._ending:
            assert self._record is not None and self._request is not None
            layout = SweepLayout(Path(self._request.sweep_dir))
            outcome = _Outcome(self._process.poll() if self._process else None, self._scan, "SIGUSR2", None)
            reason = "time limit or preemption signal: requeued, will resume from the latest checkpoint"
            self._finish(layout, outcome, RunState.REQUEUED, reason, self._started)

    def _finish(
        self, layout: SweepLayout, outcome: _Outcome, state: RunState, reason: str | None, started: float
    ) -> dict[str, Any]:
        """Write the attempt's end into the record, then regenerate partial_results.json.

        Paths inside the sweep dir are recorded relative to it (see :meth:`SweepLayout.store_path`), so that a copied
        or moved sweep dir reads its own files; earlier attempts' absolute paths are rewritten the same way.
        """
        assert self._record is not None and self._request is not None
        record, scan = self._record, outcome.scan
        found = _find_log_dir(self._request, scan, started)
        log_dir = layout.store_path(found) if found else None
        log_dirs = list(dict.fromkeys(layout.store_path(layout.load_path(d)) for d in record.get("log_dirs", [])))
        if log_dir and log_dir not in log_dirs:
            log_dirs.append(log_dir)
        end = now_iso()
        attempt = {
            "attempt": record["attempt"],
            "job_id": record["job_id"],
            "host": record["host"],
            "start_time": record["start_time"],
            "end_time": end,
            "exit_code": outcome.returncode,
            "state": state,
            "reason": reason,
            "log_dir": log_dir,
            "checkpoint": record.get("checkpoint"),
            "gpu_usage": self._sampler.stop() if self._sampler else None,
        }
        record.update(
            state=state,
            reason=reason,
            exit_code=outcome.returncode,
            end_time=end,
            duration_minutes=round((time.time() - started) / 60.0, 4),
            log_dir=log_dir or record.get("log_dir"),
            log_dirs=log_dirs,
            attempts=[*record.get("attempts", []), attempt],
            iterations_done=None if scan.iteration is None else scan.iteration + 1,
            total_iterations=self._request.command.max_iterations,
            final_reward_mean=scan.last_mean_reward,
            first_reward_mean=record.get("first_reward_mean") or scan.first_mean_reward,
            last_lines=scan.tail,
        )
        write_record(layout, record)
        with contextlib.suppress(OSError, TimeoutError, ValueError):
            update_partial_results(layout)
        return record

    def _run_subprocess(self, request: JobRequest, argv: list[str], log_path: Path, attempt: int) -> _Outcome:
        """Start the training in its own process group, stream its output live into the log, forward stop signals."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("GIT_PYTHON_REFRESH", "quiet")
        if request.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = request.gpu
        apply_planned_env(env, request.env)
        scan = self._scan = LogScan()
        with open(log_path, "ab", buffering=0) as log:
            header = f"=== hpc_sweep run {request.run_id} attempt {attempt} on {socket.gethostname()} at {now_iso()}\n"
            header += f"=== cwd: {request.workdir}\n=== argv: {argv}\n"
            log.write(header.encode())
            try:
                Path(request.workdir).mkdir(parents=True, exist_ok=True)
                process = self._process = subprocess.Popen(
                    argv,
                    cwd=request.workdir,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    preexec_fn=_prepare_child,
                )
            except OSError as error:
                message = f"could not start the training command: {error}"
                log.write(f"=== {message}\n".encode())
                return _Outcome(returncode=None, scan=scan, stopped_by=None, start_error=message)

            def forward(signum: int, _frame: Any) -> None:
                self.stop(signal.Signals(signum).name)

            previous = {}
            if threading.current_thread() is threading.main_thread():  # in a pack, PackedJob forwards signals
                previous = {signum: signal.signal(signum, forward) for signum in _FORWARDED}
            try:
                assert process.stdout is not None
                for raw in process.stdout:
                    log.write(raw)
                    line = raw.decode("utf-8", errors="replace")
                    scan.feed(line)
                    if request.echo:
                        sys.stdout.write(line)
                        sys.stdout.flush()
                returncode = _wait_or_kill(process)
            finally:
                for signum, handler in previous.items():
                    signal.signal(signum, handler)
            log.write(f"=== exit code {returncode} at {now_iso()}\n".encode())
        stopped = self._stopped_by[0] if self._stopped_by else None
        return _Outcome(returncode=returncode, scan=scan, stopped_by=stopped, start_error=None)


class PackedJob:
    """Several runs in one job, sharing its GPU (``--runs_per_gpu``): each run its own TrainingJob, process, log,
    record and requeue/resume; the pack requeues as one job.

    Runs are driven from threads (the trainings are processes; the threads only stream their output), and this
    object forwards the job's stop signals to all of them. Runs that completed in an earlier attempt of the pack are
    not run again.
    """

    def __init__(self) -> None:
        self._jobs: list[TrainingJob] = []

    def __call__(self, requests: tuple[JobRequest, ...]) -> list[dict[str, Any]]:
        """Run every unfinished request of the pack at once; return their records in order."""
        layout = SweepLayout(Path(requests[0].sweep_dir))
        todo = [r for r in requests if not reached_budget(read_record(layout, r.run_id) or {}, r)]
        self._jobs = [TrainingJob() for _ in todo]
        records: dict[str, dict[str, Any]] = {}

        def run(job: TrainingJob, request: JobRequest) -> None:
            records[request.run_id] = job(request)

        def forward(signum: int, _frame: Any) -> None:
            for job in self._jobs:
                job.stop(signal.Signals(signum).name)

        previous = {signum: signal.signal(signum, forward) for signum in _FORWARDED}
        pairs = list(zip(self._jobs, todo, strict=True))
        threads = [threading.Thread(target=run, args=pair, name=f"run-{pair[1].run_id}") for pair in pairs]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():  # join with a timeout, so that signals reach the handlers promptly
                    thread.join(timeout=0.5)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return [records.get(r.run_id) or read_record(layout, r.run_id) or {"run_id": r.run_id} for r in requests]

    def checkpoint(self, requests: tuple[JobRequest, ...]) -> Any:
        """submitit's hook on the time-limit (or preemption) signal: stop every training, record, requeue the pack."""
        import submitit

        stop_for_requeue(self._jobs)
        return submitit.helpers.DelayedSubmission(PackedJob(), requests)


def reached_budget(record: dict[str, Any], request: JobRequest) -> bool:
    """Whether the run already completed the iterations ``request`` asks for.

    A completed run asked for more iterations than it trained (a ``tune`` promotion to the next rung: the same run,
    a larger ``--max_iterations``) is not finished: its attempt resumes from the run's last checkpoint. A record
    without ``total_iterations`` (written before it was recorded) counts as finished when completed.
    """
    if record.get("state") != RunState.COMPLETED:
        return False
    trained = record.get("total_iterations")
    return not isinstance(trained, int) or trained >= request.command.max_iterations


def stop_for_requeue(jobs: list[TrainingJob]) -> None:
    """Stop the trainings of ``jobs`` (SIGTERM to all, SIGKILL after a grace period) and record them as requeued;
    attempts that already ended by themselves keep their own record."""
    claimed = [job for job in jobs if job._claim_for_requeue()]
    processes = [job._process for job in claimed if job._process is not None]
    for process in processes:
        _stop_group(process, signal.SIGTERM)
    deadline = time.monotonic() + _KILL_GRACE_S
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        _stop_group(process, signal.SIGKILL)
    for job in claimed:
        job._record_requeue()


def _prepare_child() -> None:
    """In the child, before exec: leave the time-limit signal to this wrapper, and die with it.

    Slurm sends ``--signal=USR2@...`` (and ``scancel --signal``) to every process of the job step, the training
    included, whose default action on SIGUSR2 is to die at once; ignored, the signal reaches only this wrapper, which
    stops the training itself and records the requeue (a script that installs its own handler still gets it). Then
    ask Linux to SIGKILL the training if this wrapper dies (e.g. SIGKILLed), so none is orphaned.
    """
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _stop_group(process: subprocess.Popen[bytes], signum: int) -> None:
    """Send ``signum`` to the training's whole process group (simulators spawn helpers)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _wait_or_kill(process: subprocess.Popen[bytes]) -> int:
    """Wait for the process; if it lingers after closing its output, give it a grace period, then kill the group."""
    try:
        return process.wait(timeout=_KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        _stop_group(process, signal.SIGKILL)
        return process.wait()


def _find_log_dir(request: JobRequest, scan: LogScan, started: float) -> str | None:
    """The run directory this attempt wrote, as the profile's log layout finds it."""
    run = RunIdentity(Path(request.workdir), request.run_name, request.common_folder, request.seed)
    found = LAYOUTS[request.layout].find_run_dir(run, scan, started)
    return str(found) if found else None
