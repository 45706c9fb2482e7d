"""Asking Slurm about a sweep's jobs: one ``sacct`` call for the whole sweep, ``squeue`` when accounting is off."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable

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
