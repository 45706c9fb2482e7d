"""Asking Slurm about a sweep's jobs: one ``sacct`` call for the whole sweep, ``squeue`` when accounting is off."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from typing import TYPE_CHECKING

from hpc_sweep.records import FINISHED_STATES

if TYPE_CHECKING:
    from hpc_sweep.manifest import Sweep

#: Slurm states that end a job, and the run state each maps to when the job did not record its own end.
TERMINAL = {
    "COMPLETED": "completed",
    "FAILED": "failed",
    "TIMEOUT": "failed",
    "PREEMPTED": "failed",
    "OUT_OF_MEMORY": "failed",
    "NODE_FAIL": "failed",
    "BOOT_FAIL": "failed",
    "DEADLINE": "failed",
    "CANCELLED": "cancelled",
    "REVOKED": "cancelled",
}
_RANGE = re.compile(r"^(\d+)_\[(.+?)\]$")


def _expand(job_id: str) -> list[str]:
    """``123_[0-2,5%4]`` -> ``123_0 123_1 123_2 123_5``; plain ids unchanged."""
    match = _RANGE.match(job_id)
    if not match:
        return [job_id]
    base, spec = match.group(1), match.group(2).split("%")[0]
    ids: list[str] = []
    for part in spec.split(","):
        first, _, last = part.partition("-")
        ids += [f"{base}_{k}" for k in range(int(first), int(last or first) + 1)]
    return ids


def job_states(array_ids: Iterable[str]) -> dict[str, str]:
    """Slurm state of every task of the given arrays (``"123_4" -> "RUNNING"``), in one scheduler call."""
    ids = ",".join(sorted(set(array_ids)))
    if not ids:
        return {}
    if shutil.which("sacct"):
        result = subprocess.run(
            ["sacct", "-j", ids, "-n", "-P", "-X", "-o", "JobID,State"], capture_output=True, text=True, timeout=60
        )
        states = _parse(result.stdout) if result.returncode == 0 else {}
        if states:
            return states
    if shutil.which("squeue"):
        result = subprocess.run(
            ["squeue", "-h", "-r", "-j", ids, "-o", "%i|%T"], capture_output=True, text=True, timeout=60
        )
        return _parse(result.stdout) if result.returncode == 0 else {}
    return {}


def _parse(text: str) -> dict[str, str]:
    states: dict[str, str] = {}
    for line in text.splitlines():
        job_id, _, state = line.strip().partition("|")
        if not job_id or not state:
            continue
        state = state.split()[0]  # "CANCELLED by 0" -> "CANCELLED"
        for expanded in _expand(job_id):
            states[expanded] = state
    return states


def cancel_jobs(array_ids: Iterable[str]) -> None:
    """``scancel`` the given arrays (all their tasks), and nothing else."""
    ids = sorted(set(array_ids))
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, text=True, timeout=60, check=False)


def merge_scheduler_states(sweep: Sweep) -> None:
    """Overlay Slurm's view (one sacct call) on runs that have not recorded an end themselves.

    A job killed by the scheduler (TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, CANCELLED before it started) cannot write its
    own record; its Slurm state becomes its state and reason here.
    """
    arrays = [job["array_id"] for job in sweep.manifest.get("jobs", [])]
    if not arrays:
        return
    states = job_states(arrays)
    for run in sweep.runs:
        slurm_state = states.get(str(run.get("job_id")))
        if slurm_state is None or run.get("state") in FINISHED_STATES:
            continue
        run["slurm_state"] = slurm_state
        if slurm_state in TERMINAL and run.get("state") == "requeued":
            # The attempt stopped for a requeue that never came: --max_requeues was used up (submitit then ends
            # the job), or the job was cancelled while it waited to start again.
            run["state"] = "cancelled" if TERMINAL[slurm_state] == "cancelled" else "failed"
            run["reason"] = (
                f"stopped at the time limit or by preemption and not requeued again (Slurm state {slurm_state}; "
                "requeues used up? see --max_requeues); resubmit resumes it from its checkpoint"
            )
        elif slurm_state in TERMINAL:
            run["state"] = TERMINAL[slurm_state]
            run["reason"] = run.get("reason") or f"Slurm state {slurm_state}"
        elif slurm_state == "PENDING":
            run["state"] = "pending"
        elif slurm_state in ("RUNNING", "COMPLETING", "CONFIGURING"):
            run["state"] = "running"
