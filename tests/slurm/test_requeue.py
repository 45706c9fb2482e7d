"""Nothing lost on a real cluster: a time limit or a requeue resumes the training from its checkpoint."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np

from hpc_sweep.collect.results import collect
from tests.conftest import run_cli
from tests.slurm.test_slurm_sweeps import _manifest, _status, _wait_until

DEMO = ["--task", "Demo-PointMass-v0", "--profile", "local_test", "--executor", "slurm", "--num_envs", "256"]


def _record(sweep: Path) -> dict:
    return json.loads(next(sweep.glob("runs/*/record.json")).read_text())


def _uninterrupted_final_reward(tmp_path: Path, iterations: int) -> float:
    sweep = tmp_path / "reference"
    result = run_cli("submit", "--task", "Demo-PointMass-v0", "--seeds", "7", "--num_envs", "256", "--executor",
                     "local", "--max_iterations", str(iterations), "--output_dir", str(sweep))  # fmt: skip
    assert result.returncode == 0, result.stderr
    _, values = collect(sweep).runs[0].metric("mean_reward")
    return float(values[-20:].mean())


def test_time_limit_requeues_and_resumes_until_the_run_completes(tmp_path: Path) -> None:
    iterations = 640  # > one 1-minute attempt can train (USR2 comes 15-60 s before the limit: <= ~560 it)
    sweep = tmp_path / "timeout"
    result = run_cli(*DEMO, "--seeds", "7", "--max_iterations", str(iterations), "--time", "1", "--max_requeues", "8",
                     "--output_dir", str(sweep), "--additional_args", "agent.save_interval=25")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert _wait_until(lambda: _status(sweep).returncode == 0, timeout=900, every=5), _status(sweep).stdout
    record = _record(sweep)
    assert record["attempt"] >= 2
    assert any(a["state"] == "requeued" for a in record["attempts"])
    assert record["attempts"][-1]["checkpoint"]
    run = collect(sweep).runs[0]
    steps, values = run.metric("mean_reward")
    assert steps.tolist() == list(range(iterations))
    reference = _uninterrupted_final_reward(tmp_path, iterations)
    assert abs(float(values[-20:].mean()) - reference) < 0.1 * abs(reference) + 0.5


def test_scontrol_requeue_of_a_running_job_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    sweep = tmp_path / "preempt"
    iterations = 400
    result = run_cli(*DEMO, "--seeds", "3", "--max_iterations", str(iterations), "--output_dir", str(sweep),
                     "--additional_args", "agent.save_interval=20")  # fmt: skip
    assert result.returncode == 0, result.stderr
    job_id = _manifest(sweep)["runs"][0]["job_id"]

    def has_checkpoint() -> bool:
        record = _record(sweep) if list(sweep.glob("runs/*/record.json")) else {}
        log = sweep / "runs" / "0000" / "train.log"
        return record.get("state") == "running" and log.exists() and "Learning iteration 60/" in log.read_text()

    assert _wait_until(has_checkpoint, timeout=180, every=1)
    subprocess.run(["scontrol", "requeue", job_id], check=True)
    time.sleep(5)
    assert _wait_until(lambda: _status(sweep).returncode == 0, timeout=600, every=5), _status(sweep).stdout
    record = _record(sweep)
    assert record["attempt"] >= 2 and record["attempts"][-1]["checkpoint"]
    steps, values = collect(sweep).runs[0].metric("mean_reward")
    assert steps.tolist() == list(range(iterations))
    assert np.isfinite(values).all()
