"""Which GPUs this machine offers to local runs, and how runs are spread over them."""

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
    """One run per GPU slot (``runs_per_gpu`` slots a GPU) when there are GPUs, else one run per two CPU cores
    (training is CPU-bound then)."""
    if gpus:
        return max(1, len(gpus) * runs_per_gpu // gpus_per_run)
    return max(1, (os.cpu_count() or 2) // 2)


def pick_gpus(gpus: list[str], running: list[str | None], count: int = 1) -> str | None:
    """The ``count`` least-loaded GPUs (ties to the lowest index) as a CUDA_VISIBLE_DEVICES value; None without GPUs.

    ``running`` holds the CUDA_VISIBLE_DEVICES value of each run now running.
    """
    if not gpus:
        return None
    load = Counter(gpu for value in running if value for gpu in value.split(","))
    chosen = sorted(gpus, key=lambda gpu: (load[gpu], gpus.index(gpu)))[: max(1, count)]
    return ",".join(sorted(chosen, key=gpus.index))
