"""Several runs in one GPU job (--runs_per_gpu) and one run over several GPUs (--gpus_per_run) on the real test
cluster, with real demo training."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime
from pathlib import Path

from tests.conftest import run_cli

DEMO = ["--task", "Demo-PointMass-v0", "--profile", "local_test", "--executor", "slurm"]


def _wait_for_status_ok(sweep: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run_cli("status", str(sweep)).returncode == 0:
            return
        time.sleep(2)
    raise AssertionError(run_cli("status", str(sweep)).stdout)


def _record(sweep: Path, run_id: str) -> dict:
    return json.loads((sweep / "runs" / run_id / "record.json").read_text())


def test_two_runs_packed_into_one_gpu_job_both_complete_and_are_collected_apart(tmp_path: Path) -> None:
    sweep = tmp_path / "packed"
    result = run_cli(
        *DEMO, "--seeds", "1", "2", "3", "--runs_per_gpu", "2", "--gpus_per_node", "1", "--max_iterations", "20",
        "--num_envs", "64", "--output_dir", str(sweep),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "queued 3 runs in 2 array tasks" in result.stdout
    manifest = json.loads((sweep / "sweep.json").read_text())
    array = manifest["jobs"][0]["array_id"]
    assert [run["job_id"] for run in manifest["runs"]] == [f"{array}_0", f"{array}_0", f"{array}_1"]
    _wait_for_status_ok(sweep, timeout=300)

    first, second = _record(sweep, "0000"), _record(sweep, "0001")
    assert first["job_id"] == second["job_id"] == f"{array}_0"
    assert first["pid"] == second["pid"]  # one job process drove both trainings
    assert first["log_dir"] != second["log_dir"]
    # ...at the same time, on the job's one GPU
    starts = [datetime.fromisoformat(r["start_time"]) for r in (first, second)]
    ends = [datetime.fromisoformat(r["end_time"]) for r in (first, second)]
    assert max(starts) < min(ends), "the two packed runs did not run concurrently"
    alloc = subprocess.run(
        ["sacct", "-j", array, "-n", "-P", "-X", "-o", "JobID,AllocTRES"], capture_output=True, text=True, check=True
    ).stdout
    assert sum("gres/gpu=1" in line for line in alloc.splitlines()) == 2, alloc
    for run_id in ("0000", "0001", "0002"):
        log = (sweep / "runs" / run_id / "train.log").read_text()
        assert f"hpc_sweep run {run_id} attempt 1" in log and "Learning iteration 19/20" in log

    collected = run_cli("collect", str(sweep))
    assert collected.returncode == 0, collected.stderr
    experiments = json.loads((sweep / "training_results.json").read_text())["experiments"]
    assert [(e["seed"], e["status"], e["training_iterations"]) for e in experiments] == [
        (1, "completed", 20),
        (2, "completed", 20),
        (3, "completed", 20),
    ]
    assert experiments[0]["reward_progression"] != experiments[1]["reward_progression"]


def test_one_run_over_two_gpus_trains_with_two_ranks_and_logs_once(tmp_path: Path) -> None:
    sweep = tmp_path / "multi"
    result = run_cli(
        *DEMO, "--seeds", "7", "--gpus_per_run", "2", "--max_iterations", "10", "--num_envs", "64",
        "--output_dir", str(sweep),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    run = json.loads((sweep / "sweep.json").read_text())["runs"][0]
    assert run["command"][1:6] == ["-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2", "-m"]
    assert run["command"][-1] == "--distributed"
    _wait_for_status_ok(sweep, timeout=300)

    array = json.loads((sweep / "sweep.json").read_text())["jobs"][0]["array_id"]
    alloc = subprocess.run(
        ["sacct", "-j", array, "-n", "-P", "-X", "-o", "AllocTRES"], capture_output=True, text=True, check=True
    ).stdout
    assert "gres/gpu=2" in alloc, alloc  # the job held both count-only GPUs
    # Both ranks trained (gloo on CPU: the test GPUs are count-only); only rank 0 wrote a run directory.
    log = (sweep / "runs" / "0000" / "train.log").read_text()
    assert "Synchronizing parameters for rank 1" in log
    run_dirs = [p for p in (sweep / "logs" / "rsl_rl").glob("*/*") if p.is_dir()]
    assert len(run_dirs) == 1, run_dirs
    assert "world_size: 2" in (run_dirs[0] / "params" / "agent.yaml").read_text()
    collected = run_cli("collect", str(sweep))
    assert collected.returncode == 0, collected.stderr
    (experiment,) = json.loads((sweep / "training_results.json").read_text())["experiments"]
    assert experiment["status"] == "completed" and experiment["training_iterations"] == 10


def test_a_preempted_pack_requeues_and_each_run_resumes_from_its_own_checkpoint(tmp_path: Path) -> None:
    sweep = tmp_path / "preempted_pack"
    iterations = 400
    result = run_cli(
        *DEMO, "--seeds", "1", "2", "--runs_per_gpu", "2", "--max_iterations", str(iterations), "--num_envs", "256",
        "--output_dir", str(sweep), "--additional_args", "agent.save_interval=20",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    job_id = json.loads((sweep / "sweep.json").read_text())["runs"][0]["job_id"]

    def both_past_a_checkpoint() -> bool:
        logs = [sweep / "runs" / run_id / "train.log" for run_id in ("0000", "0001")]
        return all(log.exists() and "Learning iteration 60/" in log.read_text() for log in logs)

    deadline = time.monotonic() + 180
    while not both_past_a_checkpoint():
        assert time.monotonic() < deadline, "the packed runs did not reach iteration 60"
        time.sleep(1)
    # What a preempting scheduler sends first: submitit's USR2 (checkpoint, then requeue), to the job's steps.
    subprocess.run(["scancel", "--signal=USR2", job_id], check=True)
    _wait_for_status_ok(sweep, timeout=600)

    from hpc_sweep.collect.results import collect

    runs = collect(sweep).runs
    for run_id, run in zip(("0000", "0001"), runs, strict=True):
        record = _record(sweep, run_id)
        assert record["attempt"] == 2, record["attempts"]
        assert record["attempts"][0]["state"] == "requeued"
        assert record["attempts"][1]["checkpoint"], "the second attempt did not resume from a checkpoint"
        assert Path(record["attempts"][1]["checkpoint"]).parent.name == Path(record["attempts"][0]["log_dir"]).name
        steps, _ = run.metric("mean_reward")
        assert steps.tolist() == list(range(iterations)), run_id
