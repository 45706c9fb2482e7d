"""Asking Slurm about a sweep's jobs: one ``sacct`` call for the whole sweep, ``squeue`` when accounting is off."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable

from hpc_sweep.launch.accounting import ACCOUNTING_FORMAT, JobReport, expand_job_id, parse_accounting


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


def job_report(array_ids: Iterable[str]) -> JobReport:
    """Every task's state and every attempt's accounting (time, GPUs, CPUs, CPU time, peak memory) of the given
    arrays, in one ``sacct -D`` call (see :mod:`hpc_sweep.launch.accounting`); states only, from ``squeue``, when
    accounting does not answer."""
    ids = ",".join(sorted(set(array_ids)))
    if not ids:
        return JobReport()
    if shutil.which("sacct"):
        command = ["sacct", "-j", ids, "-n", "-P", "-D", "-o", ACCOUNTING_FORMAT]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        report = parse_accounting(result.stdout) if result.returncode == 0 else JobReport()
        if report.states:
            return report
    if shutil.which("squeue"):
        result = subprocess.run(
            ["squeue", "-h", "-r", "-j", ids, "-o", "%i|%T"], capture_output=True, text=True, timeout=60
        )
        return JobReport(states=_parse(result.stdout) if result.returncode == 0 else {})
    return JobReport()


def _parse(text: str) -> dict[str, str]:
    states: dict[str, str] = {}
    for line in text.splitlines():
        job_id, _, state = line.strip().partition("|")
        if not job_id or not state:
            continue
        state = state.split()[0]  # "CANCELLED by 0" -> "CANCELLED"
        for expanded in expand_job_id(job_id):
            states[expanded] = state
    return states


def cancel_jobs(array_ids: Iterable[str]) -> None:
    """``scancel`` the given arrays (all their tasks), and nothing else."""
    ids = sorted(set(array_ids))
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, text=True, timeout=60, check=False)


def jobs_named(name: str, since: str) -> dict[str, str] | None:
    """Every task (``"123_4" -> state``) of the jobs called ``name`` submitted since ``since`` (ISO time), pending
    ones included; None when neither sacct nor squeue answers (the question is then open, not "none").

    A controller that crashed between sbatch and recording the job ids asks this before submitting again: job names
    of its submissions are unique, so a hit means the submission happened. Both are asked: sacct knows jobs that
    have ended, and squeue knows at once a job just submitted, which a busy slurmdbd may add to sacct's database a
    minute later (a controller that believed sacct alone then sent the same submission twice).
    """
    found: dict[str, str] = {}
    answered = False
    if shutil.which("sacct"):
        command = ["sacct", "-n", "-P", "-X", "--name", name, "-S", since[:19], "-o", "JobID,State"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode == 0:
            found.update(_parse(result.stdout))
            answered = True
    if shutil.which("squeue"):
        result = subprocess.run(
            ["squeue", "-h", "-r", "--name", name, "-o", "%i|%T"], capture_output=True, text=True, timeout=60
        )
        if result.returncode == 0:
            found.update(_parse(result.stdout))  # the live state, where sacct's may lag
            answered = True
    return found if answered else None
