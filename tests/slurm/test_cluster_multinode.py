"""The test cluster's two-node partition ``multi`` (nodes mn1 and mn2: two more slurmd's on this host, see
tests/slurm/local_cluster.sh): a 2-node batch job runs one srun task on each node, with one count-only GPU each, and
``torch.distributed.run`` over the two nodes (master address: the first node's name) all-reduces with gloo."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slurm

PARTITION = "multi"
NODES = ["mn1", "mn2"]


def _run_two_node_job(tmp_path: Path, script: str, timeout: float) -> str:
    """Submit SCRIPT as a 2-node batch job (one task per node) on partition multi, wait for it in sacct, return its
    output; the job must end COMPLETED."""
    batch = tmp_path / "job.sh"
    batch.write_text("#!/bin/bash\nset -euo pipefail\n" + script)
    out = tmp_path / "job.out"
    submitted = subprocess.run(
        ["sbatch", "--parsable", "--partition", PARTITION, "--nodes", "2", "--ntasks-per-node", "1",
         "--cpus-per-task", "1", "--gpus-per-node", "1", "--time", "5", "--job-name", "multinode",
         "--output", str(out), "--chdir", str(tmp_path), str(batch)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip().split(";")[0]
    deadline = time.monotonic() + timeout
    state = ""
    try:
        while True:
            sacct = subprocess.run(
                ["sacct", "-j", job_id, "-n", "-P", "-X", "-o", "State"],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            state = (sacct.stdout.strip().splitlines() or [""])[0].strip()
            if state and state not in ("PENDING", "RUNNING", "COMPLETING", "CONFIGURING", "REQUEUED"):
                break
            assert time.monotonic() < deadline, f"job {job_id} still {state or 'unknown to sacct'} after {timeout} s"
            time.sleep(0.5)
    finally:
        if state in ("", "PENDING", "RUNNING", "CONFIGURING", "REQUEUED"):
            subprocess.run(["scancel", job_id], capture_output=True, timeout=30)
    text = out.read_text() if out.exists() else "(no output file)"
    assert state == "COMPLETED", f"job {job_id}: {state}\n{text}"
    return text


def test_two_node_job_runs_a_task_on_each_node_with_a_gpu_each(tmp_path: Path) -> None:
    text = _run_two_node_job(
        tmp_path, "srun bash -c 'echo \"task $SLURM_NODEID $SLURMD_NODENAME gpus=$SLURM_GPUS_ON_NODE\"'\n", timeout=30
    )
    tasks = sorted(line for line in text.splitlines() if line.startswith("task "))
    assert tasks == ["task 0 mn1 gpus=1", "task 1 mn2 gpus=1"], text


ALL_REDUCE = """\
import os

import torch
import torch.distributed as dist

dist.init_process_group("gloo")
total = torch.ones(1)
dist.all_reduce(total)
print(f"rank {dist.get_rank()} on {os.environ['SLURMD_NODENAME']}: world {dist.get_world_size()} sum {total.item()}")
dist.destroy_process_group()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_torch_distributed_run_over_the_two_nodes_all_reduces_with_gloo(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    (tmp_path / "all_reduce.py").write_text(ALL_REDUCE)
    command = (
        f"{sys.executable} -m torch.distributed.run --nnodes 2 --nproc_per_node 1 --node_rank $SLURM_NODEID "
        f"--master_addr {NODES[0]} --master_port {_free_port()} all_reduce.py"
    )
    text = _run_two_node_job(tmp_path, f"srun bash -c '{command}'\n", timeout=90)
    ranks = sorted(line for line in text.splitlines() if line.startswith("rank "))
    assert ranks == ["rank 0 on mn1: world 2 sum 2.0", "rank 1 on mn2: world 2 sum 2.0"], text
