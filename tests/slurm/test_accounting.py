"""GPU-hours on the real test cluster: what ``status`` and ``collect`` report equals elapsed x GPUs as Slurm accounted
each attempt (its Start and End, its AllocTRES), a packed job split evenly among its runs; the job wrapper's GPU
samples (from a stub ``nvidia-smi``: the cluster's GPUs are count-only) give the ``--runs_per_gpu`` hint."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.unit.test_cost_outputs import stub_nvidia_smi

DEMO = ["--task", "Demo-PointMass-v0", "--profile", "local_test", "--executor", "slurm"]


def _accounted_gpu_seconds(array: str) -> dict[str, list[float]]:
    """Array task -> (End - Start) x GPUs of each of its attempts, from an independent sacct call."""
    out = subprocess.run(
        ["sacct", "-j", array, "-n", "-P", "-X", "-D", "-o", "JobID,Start,End,AllocTRES"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    spans: dict[str, list[float]] = {}
    for job_id, start, end, tres in (line.split("|") for line in out.splitlines() if line.strip()):
        gpus = int(dict(item.split("=", 1) for item in tres.split(",") if "=" in item).get("gres/gpu", 0))
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
        spans.setdefault(job_id, []).append(seconds * gpus)
    return spans


def test_gpu_hours_are_elapsed_times_gpus_per_attempt_and_packed_jobs_are_split(tmp_path: Path) -> None:
    stub = stub_nvidia_smi(tmp_path / "bin", line="25, 1000")
    env = {"PATH": f"{stub}{os.pathsep}{os.environ['PATH']}", "HPC_SWEEP_GPU_SAMPLE_S": "0.5"}  # sbatch exports it
    sweep = tmp_path / "cost"
    result = run_cli(
        *DEMO, "--seeds", "1", "2", "3", "--runs_per_gpu", "2", "--gpus_per_node", "2", "--max_iterations", "20",
        "--num_envs", "64", "--output_dir", str(sweep), env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    deadline = time.monotonic() + 300
    while (status := run_cli("status", str(sweep), env=env)).returncode != 0:
        assert time.monotonic() < deadline, status.stdout
        time.sleep(2)
    assert "GPU-hours so far (3/3 runs)" in status.stdout, status.stdout
    # 25% busy with 2 runs per GPU: one run uses 12.5%, so 6 would reach 80%
    assert "mean GPU utilisation 25%" in status.stdout and "--runs_per_gpu 6" in status.stdout, status.stdout

    collected = run_cli("collect", str(sweep), env=env)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    document = json.loads((sweep / "training_results.json").read_text())
    hours = {e["run_id"]: e["gpu_hours"] for e in document["experiments"]}
    array = json.loads((sweep / "sweep.json").read_text())["jobs"][0]["array_id"]
    spans = _accounted_gpu_seconds(array)
    assert sorted(spans) == [f"{array}_0", f"{array}_1"]
    first, second = spans[f"{array}_0"], spans[f"{array}_1"]
    assert all(seconds > 0 for seconds in first + second)
    tolerance = 1.0 * 2  # 1 s per attempt, times the 2 GPUs each second is counted on
    assert hours["0000"] * 3600 == pytest.approx(sum(first) / 2, abs=tolerance * len(first))  # the pack's half
    assert hours["0001"] * 3600 == pytest.approx(sum(first) / 2, abs=tolerance * len(first))
    assert hours["0002"] * 3600 == pytest.approx(sum(second), abs=tolerance * len(second))  # alone in its job
    assert document["cost"]["gpu_hours"] == pytest.approx(sum(hours.values()))
    assert document["groups"][0]["gpu_hours"] == pytest.approx(sum(hours.values()))
    record = json.loads((sweep / "runs" / "0000" / "record.json").read_text())
    usage = record["attempts"][-1]["gpu_usage"]
    assert (usage["util_mean"], usage["mem_max_mb"]) == (25.0, 2000.0)  # both of the job's GPUs sampled
    assert document["experiments"][0]["gpu_util_mean"] == 25.0
