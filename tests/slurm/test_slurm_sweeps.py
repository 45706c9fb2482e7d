"""Sweeps on the real Slurm test cluster, through the CLI, with real demo training."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime
from pathlib import Path

from tests.conftest import run_cli

DEMO = ["--task", "Demo-PointMass-v0", "--profile", "local_test", "--executor", "slurm"]


def _wait_until(predicate, timeout: float, every: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def _manifest(sweep: Path) -> dict:
    return json.loads((sweep / "sweep.json").read_text())


def _status(sweep: Path):
    return run_cli("status", str(sweep))


def test_grid_sweep_is_one_array_that_completes_and_collects(tmp_path: Path) -> None:
    sweep = tmp_path / "grid"
    started = time.monotonic()
    result = run_cli(
        *DEMO, "--seeds", "1", "2", "--grid", "num_envs=64,128", "--max_iterations", "15",
        "--output_dir", str(sweep),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - started < 30, "submit must return as soon as the jobs are queued"
    arrays = [job["array_id"] for job in _manifest(sweep)["jobs"]]
    assert len(arrays) == 1 and arrays[0] in result.stdout
    assert {run["job_id"] for run in _manifest(sweep)["runs"]} == {f"{arrays[0]}_{i}" for i in range(4)}
    first = _status(sweep)
    assert first.returncode == 1 and ("pending" in first.stdout or "running" in first.stdout)
    assert _wait_until(lambda: _status(sweep).returncode == 0, timeout=300), _status(sweep).stdout
    final = _status(sweep)
    assert "4 completed" in final.stdout
    collected = run_cli("collect", str(sweep))
    assert collected.returncode == 0, collected.stderr
    runs = json.loads((sweep / "training_results.json").read_text())["experiments"]
    assert [r["status"] for r in runs] == ["completed"] * 4
    assert sorted({r["point"]["num_envs"] for r in runs}) == ["128", "64"]
    assert all(r["training_iterations"] == 15 and r["data_source"] == "tensorboard" for r in runs)


def test_two_count_only_gpus_never_run_more_than_two_jobs_at_once(tmp_path: Path) -> None:
    sweep = tmp_path / "gpus"
    result = run_cli(
        *DEMO, "--seeds", "1", "2", "3", "--max_iterations", "25", "--num_envs", "64", "--gpus_per_node", "1",
        "--output_dir", str(sweep),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert _wait_until(lambda: _status(sweep).returncode == 0, timeout=300), _status(sweep).stdout
    array = _manifest(sweep)["jobs"][0]["array_id"]

    def intervals() -> list[tuple[datetime, datetime]]:
        out = subprocess.run(
            ["sacct", "-j", array, "-n", "-P", "-X", "-o", "JobID,Start,End,AllocTRES"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        rows = [line.split("|") for line in out.splitlines() if line.strip()]
        return [(datetime.fromisoformat(r[1]), datetime.fromisoformat(r[2])) for r in rows if r[2] != "Unknown"]

    assert _wait_until(lambda: len(intervals()) == 3, timeout=60)
    spans = intervals()
    most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert most <= 2
    assert (
        "gres/gpu=1"
        in subprocess.run(
            ["sacct", "-j", array, "-n", "-P", "-X", "-o", "AllocTRES"], capture_output=True, text=True
        ).stdout
    )


def test_cancel_stops_the_sweep_and_records_every_run(tmp_path: Path) -> None:
    sweep = tmp_path / "cancel"
    result = run_cli(*DEMO, "--seeds", "1", "2", "3", "--max_iterations", "30000", "--num_envs", "64",
                     "--output_dir", str(sweep))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert _wait_until(lambda: "running" in _status(sweep).stdout, timeout=120)
    cancelled = run_cli("cancel", str(sweep))
    assert cancelled.returncode == 0, cancelled.stderr
    runs = _manifest(sweep)["runs"]
    assert {run["state"] for run in runs} == {"cancelled"}
    assert all(run.get("reason") for run in runs)
    status = _status(sweep)
    assert status.returncode == 1 and "3 cancelled" in status.stdout


def test_a_failing_run_is_failed_with_its_exit_code_and_the_others_complete(tmp_path: Path) -> None:
    sweep = tmp_path / "fail"
    result = run_cli(
        *DEMO, "--seeds", "1", "2", "--max_iterations", "10", "--num_envs", "64",
        "--grid", "env.episode_length=100,not_a_number", "--output_dir", str(sweep),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert _wait_until(lambda: "pending" not in _status(sweep).stdout and "running" not in _status(sweep).stdout, 300)
    status = _status(sweep)
    assert status.returncode == 1
    runs = {(run["point"]["env.episode_length"], run["seed"]): run for run in _manifest(sweep)["runs"]}
    assert runs[("100", 1)]["state"] == runs[("100", 2)]["state"] == "completed"
    for seed in (1, 2):
        bad = runs[("not_a_number", seed)]
        assert bad["state"] == "failed" and bad["exit_code"] not in (0, None)
        assert f"exit code {bad['exit_code']}" in bad["reason"]
    assert "2 completed" in status.stdout and "2 failed" in status.stdout


def test_wait_blocks_until_the_sweep_ends_then_collects(tmp_path: Path) -> None:
    sweep = tmp_path / "wait"
    result = run_cli(*DEMO, "--seeds", "1", "2", "--max_iterations", "10", "--num_envs", "64", "--wait",
                     "--output_dir", str(sweep))  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert [run["state"] for run in _manifest(sweep)["runs"]] == ["completed", "completed"]
    results = json.loads((sweep / "training_results.json").read_text())
    assert [r["status"] for r in results["experiments"]] == ["completed", "completed"]
    assert (sweep / "training_analysis.png").is_file()
    # --wait waits for the collect job queued after the array too: it has ended when submit returns
    (collect_job,) = [entry["job_id"] for entry in _manifest(sweep)["followups"]]
    (array,) = [job["array_id"] for job in _manifest(sweep)["jobs"]]
    assert f"then: collect job {collect_job} (after array {array}): completed" in _status(sweep).stdout
