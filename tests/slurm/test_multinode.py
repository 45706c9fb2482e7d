"""``--nodes 2`` on the test cluster's two-node partition ``multi`` (two slurmd daemons on this host, see
local_cluster.sh): one demo run over both nodes with gloo, its requeue and resume as one group, and a failure on
the second node only, reported as that run's failure with that node named."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli

MULTI = ["--profile", "local_test", "--executor", "slurm", "-p", "multi", "--nodes", "2", "--num_envs", "64"]


def _record(sweep: Path, run_id: str = "0000") -> dict:
    path = sweep / "runs" / run_id / "record.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(1)


def _ended(sweep: Path, run_id: str = "0000") -> bool:
    return _record(sweep, run_id).get("state") in {"completed", "failed", "cancelled"}


@pytest.fixture(autouse=True)
def _multi_partition() -> None:
    out = subprocess.run(["sinfo", "-h", "-p", "multi", "-o", "%D"], capture_output=True, text=True).stdout.split()
    assert out and int(out[0]) == 2, "the test cluster has no two-node partition 'multi' (local_cluster.sh start)"


def test_an_array_of_two_node_runs_trains_each_policy_over_both_nodes(tmp_path: Path) -> None:
    sweep = tmp_path / "two_nodes"
    result = run_cli("submit", *MULTI, "--seeds", "3", "6", "--max_iterations", "30", "--output_dir", str(sweep))
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((sweep / "sweep.json").read_text())
    assert len({run["job_id"].split("_")[0] for run in manifest["runs"]}) == 1  # one array, a task per run
    _wait_for(lambda: _ended(sweep) and _ended(sweep, "0001"), 300, f"the runs did not end: {_record(sweep)}")
    for run_id in ("0000", "0001"):
        record = _record(sweep, run_id)
        assert record["state"] == "completed", record
        assert [node["host"] for node in record["nodes"]] == ["mn1", "mn2"]
        leader = (sweep / "runs" / run_id / "train.log").read_text()
        follower = (sweep / "runs" / run_id / "train.node1.log").read_text()
        assert "rank 0 (local rank 0) of world size 2 on mn1" in leader
        assert "rank 1 (local rank 0) of world size 2 on mn2" in follower
        assert "Learning iteration 29/30" in leader and "Learning iteration" not in follower  # rank 0 logs
    collected = run_cli("collect", str(sweep))
    assert collected.returncode == 0, collected.stderr
    experiments = json.loads((sweep / "training_results.json").read_text())["experiments"]
    assert len(experiments) == 2  # one run each, not one per node
    assert all(e["status"] == "completed" and e["training_iterations"] == 30 for e in experiments)


def test_a_failure_on_the_second_node_only_fails_the_run_naming_that_node(tmp_path: Path) -> None:
    sweep = tmp_path / "second_node_fails"
    env = {**os.environ, "HPC_SWEEP_DEMO_CRASH": "1@5"}  # global rank 1 (node 1) raises at iteration 5
    result = run_cli("submit", *MULTI, "--seeds", "4", "--max_iterations", "40", "--output_dir", str(sweep), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    _wait_for(lambda: _ended(sweep), 300, f"the run did not end: {_record(sweep)}")
    record = _record(sweep)
    assert record["state"] == "failed", record
    assert record["reason"].startswith("node 1 (mn2) failed first"), record["reason"]
    assert "injected failure on rank 1" in record["reason"]
    status = run_cli("status", str(sweep))
    assert "node 1 (mn2)" in status.stdout


def test_a_two_node_run_past_its_time_limit_is_requeued_and_resumes_as_one_group(tmp_path: Path) -> None:
    """A --time=1 job ends 60-90 s after it starts; 1200 iterations take about 150 s over two nodes here."""
    sweep = tmp_path / "requeued"
    iterations = 1200
    result = run_cli(
        "submit", *MULTI, "--seeds", "5", "--max_iterations", str(iterations), "--time", "1", "--max_requeues", "20",
        "--output_dir", str(sweep), "--additional_args", "agent.save_interval=25",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    _wait_for(lambda: _ended(sweep), 900, f"the requeued run did not end: {_record(sweep)}")
    record = _record(sweep)
    assert record["state"] == "completed", record
    states = [a["state"] for a in record["attempts"]]
    assert len(states) >= 2 and "requeued" in states and states[-1] == "completed", states
    assert "--resume" in record["argv"] and record["attempts"][-1]["checkpoint"]
    follower = (sweep / "runs" / "0000" / "train.node1.log").read_text()
    assert follower.count("=== hpc_sweep run 0000 attempt") == len(states)  # both nodes started again each time
    assert "Loading model checkpoint" in follower  # every rank resumed from the checkpoint

    from hpc_sweep.collect.results import collect

    (run,) = collect(sweep).runs
    steps, _ = run.metric("mean_reward")
    assert steps.tolist() == list(range(iterations))  # every iteration once in the stitched curve


def test_more_nodes_than_the_partition_has_is_refused_before_anything_exists(tmp_path: Path) -> None:
    sweep = tmp_path / "too_many"
    result = run_cli("submit", *MULTI, "--nodes", "3", "--seeds", "1", "--output_dir", str(sweep))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "partition multi has 2 node(s)" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not sweep.exists()
