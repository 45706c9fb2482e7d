"""Smoke test of the local Slurm test cluster (tests/slurm/local_cluster.sh): a submitit job array, one count-only GPU
per task, results back through submitit and COMPLETED states in sacct (so slurmdbd accounting works)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import cloudpickle
import pytest
import submitit

pytestmark = pytest.mark.slurm

PARTITION = "debug"
TASKS = 4
GPUS = 2  # the cluster's count-only GPUs


def array_task(x: int) -> dict:
    """Runs in the job: stdlib only (it is pickled by value, so the job need not import this test module)."""
    import os
    import time

    start = time.time()
    time.sleep(2)  # long enough for tasks to overlap if the GPU limit were not enforced
    return {
        "square": x * x,
        "array_task": os.environ.get("SLURM_ARRAY_TASK_ID"),
        "gpus": os.environ.get("SLURM_GPUS_ON_NODE"),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "start": start,
        "end": time.time(),
    }


def _sacct_states(array_id: str) -> dict[str, str]:
    out = subprocess.run(
        ["sacct", "-j", array_id, "-n", "-P", "-X", "-o", "JobID,State"], capture_output=True, text=True, timeout=30
    ).stdout
    return dict(line.split("|", 1) for line in out.splitlines() if "|" in line)


def test_submitit_array_with_gpus_completes_and_is_accounted(tmp_path: Path) -> None:
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit", cluster="slurm")
    executor.update_parameters(slurm_partition=PARTITION, gpus_per_node=1, timeout_min=5, name="smoke")
    module = sys.modules[__name__]
    cloudpickle.register_pickle_by_value(module)
    try:
        jobs = executor.map_array(array_task, list(range(TASKS)))
    finally:
        cloudpickle.unregister_pickle_by_value(module)
    assert len(jobs) == TASKS
    array_id = jobs[0].job_id.split("_")[0]
    assert all(job.job_id == f"{array_id}_{i}" for i, job in enumerate(jobs))

    deadline = time.monotonic() + 120
    while not all(job.done() for job in jobs):
        if time.monotonic() > deadline:
            subprocess.run(["scancel", array_id], check=False)
            pytest.fail(f"array {array_id} not done after 120 s: {[job.state for job in jobs]}")
        time.sleep(0.5)

    results = [job.result() for job in jobs]
    assert [r["square"] for r in results] == [i * i for i in range(TASKS)]
    assert [r["array_task"] for r in results] == [str(i) for i in range(TASKS)]
    assert all(r["gpus"] == "1" for r in results), results
    # The fake GPUs are /dev/null-like devices, so Slurm hands each job one index (files only: none at all).
    assert all(r["cuda_visible_devices"] in ("0", "1", None) for r in results), results
    # Two GPUs: never more than two tasks at once (measured inside the jobs).
    most = max(sum(1 for other in results if other["start"] <= r["start"] < other["end"]) for r in results)
    assert most <= GPUS, results

    # Accounting: slurmdbd records every task as COMPLETED (sacct may lag a moment behind the job's end).
    expected = {f"{array_id}_{i}": "COMPLETED" for i in range(TASKS)}
    deadline = time.monotonic() + 30
    while (states := _sacct_states(array_id)) != expected and time.monotonic() < deadline:
        time.sleep(0.5)
    assert states == expected
    alloc = subprocess.run(
        ["sacct", "-j", array_id, "-n", "-P", "-X", "-o", "AllocTRES"], capture_output=True, text=True, timeout=30
    ).stdout
    assert alloc.count("gres/gpu=1") == TASKS, alloc
