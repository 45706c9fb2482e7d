"""``hpc-sweep tune`` on the real test cluster: the controller is a CPU job that submits each rung's array; killed
at the worst moment (a promotion sent to Slurm, its job ids not yet recorded) and restarted, it continues from its
files without sending the promotion twice or losing it."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from tests.conftest import run_cli

DEMO = ["--task", "Demo-PointMass-v0", "--profile", "local_test", "--executor", "slurm"]


def _state(study: Path) -> dict:
    path = study / "tune" / "state.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _controller_ids(study: Path) -> list[str]:
    return [entry["job_id"] for entry in json.loads((study / "sweep.json").read_text()).get("tune_controller", [])]


def _job_state(job_id: str) -> str:
    out = subprocess.run(["sacct", "-j", job_id, "-n", "-P", "-X", "-o", "State"], capture_output=True, text=True)
    return (out.stdout.split() or ["PENDING"])[-1]


def _wait(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(2)


def test_a_controller_killed_after_sending_a_promotion_restarts_without_repeating_it(tmp_path: Path) -> None:
    study = tmp_path / "study"
    env = {**os.environ, "HPC_SWEEP_TUNE_FAULT": "after_send:1"}  # dies once the promotion reached sbatch
    result = run_cli(
        "tune", *DEMO, "--seeds", "1", "2", "--trials", "3", "--rungs", "8,24", "--eta", "3", "--num_envs", "64",
        "--confirm", "0", "--poll_s", "2", "--runs_per_gpu", "3", "--common_folder", "tunecrash",
        "--output_dir", str(study), "agent.algorithm.learning_rate=loguniform(1e-4,1e-2)", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (first,) = _controller_ids(study)
    _wait(lambda: _job_state(first) in {"FAILED", "COMPLETED", "CANCELLED"}, 600, "the controller did not stop")
    assert _job_state(first) == "FAILED"  # the injected crash
    state = _state(study)
    assert [s["id"] for s in state["submissions"]] == [0, 1]
    assert state["submissions"][1]["job_ids"] is None  # sent, but not recorded: the open question

    status = run_cli("status", str(study))
    assert "tune controller: job" in status.stdout and "--resume" in status.stdout

    again = run_cli("tune", "--resume", "--executor", "slurm", "--output_dir", str(study))
    assert again.returncode == 0, again.stdout + again.stderr
    second = _controller_ids(study)[-1]
    assert second != first
    _wait(lambda: _state(study).get("phase") == "done", 600, f"the study did not finish: {_state(study)}")

    state = _state(study)
    promotion = state["submissions"][1]
    assert promotion["job_ids"] and len(state["submissions"]) == 2  # adopted, not decided again
    since = promotion["created"][:19]  # the name is unique to this study; older studies' jobs are not counted
    named = subprocess.run(
        ["sacct", "-n", "-P", "-X", "--name", promotion["name"], "-S", since, "-o", "JobID"],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert len({job.split("_")[0] for job in named}) == 1, named  # one array for the promotion, never two
    (top,) = [t for t in state["trials"] if t["rung"] == 1]
    for run_id in top["runs"]:
        record = json.loads((study / "runs" / run_id / "record.json").read_text())
        assert [a["state"] for a in record["attempts"]] == ["completed", "completed"]
        assert record["iterations_done"] == 24
    assert (study / "trials.csv").is_file() and (study / "training_results.json").is_file()
