"""A run killed mid-way is recorded failed; `resubmit --failed` resumes it from its checkpoint to completion,
and no other run's files change. Real demo training, real SIGKILL."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.integration


def _fingerprint(paths: list[Path]) -> dict[str, str]:
    out = {}
    for root in paths:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_sigkilled_run_is_failed_then_resubmit_resumes_it_and_leaves_others_untouched(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    argv = [sys.executable, "-m", "hpc_sweep.cli", "submit", "--task", "Demo-PointMass-v0", "--seeds", "1", "2"]
    argv += ["--max_iterations", "60", "--num_envs", "64", "--executor", "local", "--max_parallel", "2"]
    group = f"victim{os.getpid()}"  # a name no other test's training carries: only this sweep's seed 2 is killed
    argv += ["--output_dir", str(sweep), "--common_folder", group, "--additional_args", "agent.save_interval=5"]
    env = {**os.environ, "GIT_PYTHON_REFRESH": "quiet", "CUDA_VISIBLE_DEVICES": ""}
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim_log = sweep / "runs" / "0001" / "train.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if victim_log.exists() and "Learning iteration 20/60" in victim_log.read_text(errors="replace"):
            break
        time.sleep(0.2)
    victim = f"hpc_sweep.demo.train.*{group}_seed2"
    pids = subprocess.run(["pgrep", "-f", victim], capture_output=True, text=True).stdout
    assert pids.split(), "the seed-2 training process was not found"
    for pid in pids.split():
        os.kill(int(pid), signal.SIGKILL)
    process.wait(timeout=300)
    assert process.returncode == 1
    runs = {run["seed"]: run for run in json.loads((sweep / "sweep.json").read_text())["runs"]}
    assert runs[1]["state"] == "completed"
    assert runs[2]["state"] == "failed" and "SIGKILL" in runs[2]["reason"]

    others = [sweep / "runs" / runs[1]["run_id"], Path(runs[1]["log_dir"])]
    before = _fingerprint(others)
    again = run_cli("resubmit", str(sweep), "--failed")
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert _fingerprint(others) == before

    record = json.loads((sweep / "runs" / runs[2]["run_id"] / "record.json").read_text())
    assert record["state"] == "completed" and record["attempt"] == 2
    assert record["checkpoint"].endswith(".pt") and len(record["log_dirs"]) == 2
    assert "--resume" in record["argv"]
    results = json.loads((sweep / "training_results.json").read_text())
    resumed = next(r for r in results["experiments"] if r["seed"] == 2)
    assert resumed["status"] == "completed"
    assert resumed["reward_steps"] == list(range(60))  # every iteration once, stitched across the two attempts
