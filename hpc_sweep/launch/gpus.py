"""Which GPUs (or, without GPUs, how many CPUs) this machine grants local runs, and how runs are spread over them."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter


def detect_gpus() -> list[str]:
    """GPU ids visible to us: ``CUDA_VISIBLE_DEVICES`` when set (ids or UUIDs, kept as given), else ``nvidia-smi``."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [item.strip() for item in visible.split(",") if item.strip()]
        return [] if ids and ids[0].startswith("-") else ids
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        output = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in output.splitlines() if line.strip()]


def default_max_parallel(gpus: list[str], gpus_per_run: int = 1, runs_per_gpu: int = 1) -> int:
    """One run per GPU slot (``runs_per_gpu`` slots a GPU) when there are GPUs, else one run per two of the CPUs we
    were granted (training is CPU-bound then; see :func:`available_cpus`)."""
    if gpus:
        return max(1, len(gpus) * runs_per_gpu // gpus_per_run)
    return max(1, available_cpus() // 2)


def available_cpus() -> int:
    """CPUs this process was granted, not the whole node's: inside ``salloc``/``sbatch`` a Slurm job owns only some.

    The smallest of what is known: Slurm's count for this job on this node (``SLURM_CPUS_ON_NODE``, else
    ``SLURM_CPUS_PER_TASK``) and the CPU affinity mask (which a cgroup cpuset, ``taskset`` or Slurm's task binding
    narrows); ``os.cpu_count()`` only when neither is known. Both are upper bounds, so the smaller wins: without CPU
    binding Slurm leaves the mask at the whole node, and a job step bound to fewer CPUs still carries the job's count.
    """
    known = [count for count in (_slurm_cpus(), _affinity_cpus()) if count]
    return min(known) if known else max(1, os.cpu_count() or 1)


def _slurm_cpus() -> int | None:
    """Slurm's CPU count for this job on this node; None outside Slurm or when the value is not a positive number."""
    for name in ("SLURM_CPUS_ON_NODE", "SLURM_CPUS_PER_TASK"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


def _affinity_cpus() -> int | None:
    """How many CPUs this process may run on (Linux and some BSDs); None where the platform cannot say."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is None:
        return None
    try:
        return len(affinity(0)) or None
    except OSError:
        return None


def pick_gpus(gpus: list[str], running: list[str | None], count: int = 1) -> str | None:
    """The ``count`` least-loaded GPUs (ties to the lowest index) as a CUDA_VISIBLE_DEVICES value; None without GPUs.

    ``running`` holds the CUDA_VISIBLE_DEVICES value of each run now running.
    """
    if not gpus:
        return None
    load = Counter(gpu for value in running if value for gpu in value.split(","))
    chosen = sorted(gpus, key=lambda gpu: (load[gpu], gpus.index(gpu)))[: max(1, count)]
    return ",".join(sorted(chosen, key=gpus.index))
