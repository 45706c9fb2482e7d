"""What runs inside one job: the training subprocess, its live log, and the run's record.

Every executor (slurm, local, debug) runs :func:`run_training` through submitit, so a cluster node runs exactly what
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
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpc_sweep.collect.textlog import LogScan
from hpc_sweep.layout import SweepLayout
from hpc_sweep.records import now_iso, read_record, update_partial_results, write_record

_KILL_GRACE_S = 15.0


@dataclass(frozen=True)
class JobRequest:
    """Everything one job needs, as plain picklable values (no import of the planning code on the node)."""

    sweep_dir: str
    run_id: str
    argv: tuple[str, ...]
    workdir: str
    run_name: str
    seed: int
    common_folder: str
    gpu: str | None = None
    echo: bool = False


def run_training(request: JobRequest) -> dict[str, Any]:
    """Run one training to its end and return the run's final record (also written to ``record.json``).

    A failure of the training never raises here: it is recorded with its reason, so the sweep goes on.
    """
    layout = SweepLayout(Path(request.sweep_dir))
    previous = read_record(layout, request.run_id) or {}
    attempt = int(previous.get("attempt", 0)) + 1
    record: dict[str, Any] = {
        **previous,
        "run_id": request.run_id,
        "state": "running",
        "attempt": attempt,
        "host": socket.gethostname(),
        "job_id": _job_id(),
        "pid": os.getpid(),
        "start_time": now_iso(),
        "end_time": None,
        "exit_code": None,
        "reason": None,
        "gpu": request.gpu,
    }
    write_record(layout, record)
    started = time.time()
    log_path = layout.train_log(request.run_id)
    outcome = _run_subprocess(request, log_path, attempt)
    duration = time.time() - started
    scan: LogScan = outcome.scan
    log_dir = _find_log_dir(request, scan, started)
    state, reason = _classify(outcome, scan, log_dir)
    attempts = [*previous.get("attempts", [])]
    attempts.append(
        {
            "attempt": attempt,
            "job_id": record["job_id"],
            "host": record["host"],
            "start_time": record["start_time"],
            "end_time": now_iso(),
            "exit_code": outcome.returncode,
            "state": state,
            "reason": reason,
            "log_dir": log_dir,
        }
    )
    log_dirs = [*previous.get("log_dirs", [])]
    if log_dir and log_dir not in log_dirs:
        log_dirs.append(log_dir)
    record.update(
        state=state,
        reason=reason,
        exit_code=outcome.returncode,
        end_time=attempts[-1]["end_time"],
        duration_minutes=round(duration / 60.0, 4),
        log_dir=log_dir,
        log_dirs=log_dirs,
        attempts=attempts,
        iterations_done=None if scan.iteration is None else scan.iteration + 1,
        total_iterations=scan.total_iterations,
        final_reward_mean=scan.last_mean_reward,
        first_reward_mean=scan.first_mean_reward,
        last_lines=scan.tail,
    )
    write_record(layout, record)
    with contextlib.suppress(OSError, TimeoutError, ValueError):
        update_partial_results(layout)
    return record


@dataclass
class _Outcome:
    returncode: int | None
    scan: LogScan
    stopped_by: str | None
    start_error: str | None


def _run_subprocess(request: JobRequest, log_path: Path, attempt: int) -> _Outcome:
    """Start the training in its own process group, stream its output live into the log, forward stop signals."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("GIT_PYTHON_REFRESH", "quiet")
    if request.gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = request.gpu
    scan = LogScan()
    stopped_by: list[str] = []
    with open(log_path, "ab", buffering=0) as log:
        header = f"=== hpc_sweep run {request.run_id} attempt {attempt} on {socket.gethostname()} at {now_iso()}\n"
        header += f"=== cwd: {request.workdir}\n=== argv: {list(request.argv)}\n"
        log.write(header.encode())
        try:
            Path(request.workdir).mkdir(parents=True, exist_ok=True)
            process = subprocess.Popen(
                list(request.argv),
                cwd=request.workdir,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        except OSError as error:
            message = f"could not start the training command: {error}"
            log.write(f"=== {message}\n".encode())
            return _Outcome(returncode=None, scan=scan, stopped_by=None, start_error=message)

        def forward(signum: int, _frame: Any) -> None:
            stopped_by.append(signal.Signals(signum).name)
            _stop_group(process, signal.SIGTERM if signum != signal.SIGINT else signal.SIGINT)

        handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        previous = {}
        for signum in handled:
            with contextlib.suppress(ValueError):  # not the main thread: cannot install handlers
                previous[signum] = signal.signal(signum, forward)
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
    stopped = stopped_by[0] if stopped_by else None
    return _Outcome(returncode=returncode, scan=scan, stopped_by=stopped, start_error=None)


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGKILL the training if this wrapper dies (e.g. SIGKILLed), so none is orphaned."""
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


def _classify(outcome: _Outcome, scan: LogScan, log_dir: str | None) -> tuple[str, str | None]:
    """Decide the run's state and a one-line reason from the exit code, the signal and the log."""
    if outcome.start_error:
        return "failed", outcome.start_error
    code = outcome.returncode
    if outcome.stopped_by:
        return "cancelled", f"stopped by {outcome.stopped_by} (exit code {code})"
    log_reason = scan.failure_reason()
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        return "failed", f"killed by signal {name}" + (f"; {log_reason}" if log_reason else "")
    if code != 0:
        return "failed", f"exit code {code}" + (f"; {log_reason}" if log_reason else "")
    if log_reason:
        return "failed", f"{log_reason} (the process exited 0)"
    if log_dir is None:
        return "failed", "no log directory created (the training printed no log dir and none was found)"
    return "completed", None


def _find_log_dir(request: JobRequest, scan: LogScan, started: float) -> str | None:
    """Locate the run directory the training wrote: from its printed lines first, then by name under logs/rsl_rl."""
    candidates: list[Path] = []
    if scan.log_root:
        root = Path(request.workdir, scan.log_root)
        if root.is_dir():
            prefix = scan.exact_name or ""
            candidates = [p for p in root.iterdir() if p.is_dir() and prefix and p.name.startswith(prefix)]
            named = [p for p in candidates if p.name.endswith(request.run_name)]
            candidates = named or candidates
    if not candidates:
        base = Path(request.workdir, "logs", "rsl_rl")
        patterns = [f"*/*_{request.run_name}", f"*/{request.common_folder}/seed_{request.seed}"]
        for pattern in patterns:
            candidates += [p for p in base.glob(pattern) if p.is_dir() and p.stat().st_mtime >= started - 5]
    if not candidates:
        return None
    return str(max(candidates, key=lambda p: p.stat().st_mtime).resolve())


def _job_id() -> str | None:
    """The scheduler's id of this job (Slurm array task id form when in an array), if any."""
    array_job, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array_job and task:
        return f"{array_job}_{task}"
    return (
        os.environ.get("SLURM_JOB_ID")
        or os.environ.get("SUBMITIT_LOCAL_JOB_ID")
        or os.environ.get("SUBMITIT_DEBUG_JOB_ID")
    )
