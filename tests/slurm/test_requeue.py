"""Nothing lost on a real cluster: a time limit or a requeue resumes the training from its checkpoint."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from hpc_sweep.collect.results import collect
from tests.conftest import run_cli
from tests.slurm.test_slurm_sweeps import _manifest, _status, _wait_until

DEMO = ["--task", "Demo-PointMass-v0", "--profile", "local_test", "--executor", "slurm", "--num_envs", "256"]


def _record(sweep: Path) -> dict:
    return json.loads(next(sweep.glob("runs/*/record.json")).read_text())


def _start_uninterrupted_reference(tmp_path: Path, iterations: int) -> tuple[subprocess.Popen[str], Path]:
    """The same run (seed, envs, iterations) on the local executor, never interrupted; started in the background."""
    sweep = tmp_path / "reference"
    argv = [sys.executable, "-m", "hpc_sweep.cli", "submit", "--task", "Demo-PointMass-v0", "--seeds", "7",
            "--num_envs", "256", "--executor", "local", "--max_iterations", str(iterations),
            "--output_dir", str(sweep)]  # fmt: skip
    env = {**os.environ, "GIT_PYTHON_REFRESH": "quiet"}
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), sweep


def _demo_iterations_per_second(tmp_path: Path) -> float:
    """How fast the demo trains here (256 envs, one thread), from the trainer's own "Training time" line."""
    out = subprocess.run(
        [sys.executable, "-m", "hpc_sweep.demo.train", "--task", "Demo-PointMass-v0", "--seed", "7", "--num_envs",
         "256", "--max_iterations", "60", "--headless"],
        cwd=tmp_path, capture_output=True, text=True, check=True, env={**os.environ, "GIT_PYTHON_REFRESH": "quiet"},
    ).stdout  # fmt: skip
    seconds = float(re.search(r"^Training time: ([0-9.]+) seconds", out, re.MULTILINE).group(1))
    return 60 / seconds


def _submit_past_a_one_minute_limit(tmp_path: Path, name: str, seed: int, max_requeues: int) -> tuple[Path, int]:
    """Submit a demo run that needs about 150 s of training here with ``--time 1``; return its sweep and length.

    A --time=1 job ends 60-90 s after it starts (the controller checks limits every 30 s), so no single attempt can
    finish it, whatever the machine's speed.
    """
    iterations = max(640, math.ceil(_demo_iterations_per_second(tmp_path) * 150))
    sweep = tmp_path / name
    result = run_cli(*DEMO, "--seeds", str(seed), "--max_iterations", str(iterations), "--time", "1",
                     "--max_requeues", str(max_requeues), "--output_dir", str(sweep),
                     "--additional_args", "agent.save_interval=25")  # fmt: skip
    assert result.returncode == 0, result.stderr
    return sweep, iterations


def test_time_limit_requeues_and_resumes_until_the_run_completes(tmp_path: Path) -> None:
    sweep, iterations = _submit_past_a_one_minute_limit(tmp_path, "timeout", seed=7, max_requeues=20)
    reference, reference_sweep = _start_uninterrupted_reference(tmp_path, iterations)
    try:
        assert _wait_until(lambda: _status(sweep).returncode == 0, timeout=900, every=5), _status(sweep).stdout
        output, _ = reference.communicate(timeout=900)
    finally:
        reference.kill()
    assert reference.returncode == 0, output[-2000:]
    record = _record(sweep)
    assert record["attempt"] >= 2, f"{iterations} iterations finished in one attempt: {record['attempts']}"
    assert any(a["state"] == "requeued" for a in record["attempts"])
    assert record["attempts"][-1]["checkpoint"]
    row = next(line for line in _status(sweep).stdout.splitlines() if "0000" in line)
    cells = [cell.strip() for cell in row.split("│")[1:-1]]  # run seed group state attempt iteration ...
    assert cells[3] == "completed" and int(cells[4]) >= 2 and cells[5] == f"{iterations}/{iterations}", row
    run = collect(sweep).runs[0]
    steps, values = run.metric("mean_reward")
    assert steps.tolist() == list(range(iterations))
    _, reference_values = collect(reference_sweep).runs[0].metric("mean_reward")
    # Medians over the last 10% of iterations: right after a resume RSL-RL's mean reward dips for a few iterations
    # (its episode statistics restart empty, and the first episodes to end are the short ones), and an attempt that
    # resumes shortly before the end puts that dip into any short final window.
    tail = max(20, iterations // 10)
    final, expected = float(np.median(values[-tail:])), float(np.median(reference_values[-tail:]))
    assert abs(final - expected) < 0.1 * abs(expected) + 0.5, (final, expected)


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


def test_a_time_limit_with_no_requeues_left_is_failed_with_that_reason(tmp_path: Path) -> None:
    sweep, iterations = _submit_past_a_one_minute_limit(tmp_path, "no_requeues", seed=5, max_requeues=0)

    def ended() -> bool:
        return "1 failed" in _status(sweep).stdout

    assert _wait_until(ended, timeout=240, every=5), _status(sweep).stdout
    status = _status(sweep)
    assert status.returncode == 1, status.stdout
    (run,) = _manifest(sweep)["runs"]  # status writes its merged view back to sweep.json
    assert run["state"] == "failed" and "not requeued again" in run["reason"], run
    record = _record(sweep)
    assert record["attempt"] == 1 and record["attempts"][0]["state"] == "requeued"
    collected = run_cli("collect", str(sweep))
    assert collected.returncode == 0, collected.stderr
    (experiment,) = json.loads((sweep / "training_results.json").read_text())["experiments"]
    assert experiment["status"] == "failed" and "not requeued again" in experiment["error"]
    assert 0 < experiment["training_iterations"] < iterations  # what it trained before the limit is kept
