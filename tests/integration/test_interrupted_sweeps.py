"""Interrupted sweeps lose nothing: Ctrl-C prints one line and keeps what finished, ``--resume`` completes the rest,
and a run's earlier attempts never decide its final state; runs left out of group statistics say why.

Real processes throughout (the CLI, submitit's local executor, the job wrapper), with the fast stand-in trainer of
conftest.FAKE_TRAIN, which prints a KeyboardInterrupt traceback when Ctrl-C reaches it, as Python trainings do.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.integration

HEADER = "=== hpc_sweep run "


def _records(sweep: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep.glob("runs/*/record.json")}


def _results(sweep: Path) -> dict:
    return json.loads((sweep / "training_results.json").read_text())


def _submit_argv(profile: Path, sweep: Path) -> list[str]:
    argv = ["submit", "--profile", str(profile), "--executor", "local", "--seeds", "1", "2"]
    return [*argv, "--grid", "max_iterations=3,300", "--max_parallel", "4", "--output_dir", str(sweep)]


def test_ctrl_c_prints_one_line_and_resume_completes_every_run_into_its_group(
    fake_profile: Path, tmp_path: Path
) -> None:
    sweep = tmp_path / "sweep"
    argv = [sys.executable, "-m", "hpc_sweep.cli", *_submit_argv(fake_profile, sweep)]
    env = {**os.environ, "FAKE_SLEEP": "0.1", "CUDA_VISIBLE_DEVICES": "", "COLUMNS": "200"}
    process = subprocess.Popen(argv, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    long_logs = [sweep / "runs" / run_id / "train.log" for run_id in ("0002", "0003")]  # the 300-iteration runs
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = [r.get("state") for r in _records(sweep).values()].count("completed") >= 2
        if done and all(log.exists() and "Learning iteration 2/300" in log.read_text() for log in long_logs):
            break
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGINT)  # what a terminal does on Ctrl-C: the whole foreground process group
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr.decode().splitlines() == ["hpc-sweep: interrupted; finished runs are kept (resume with --resume)"]
    assert "Traceback" not in stdout.decode()  # the children share the terminal's output: none printed one
    states = {run_id: r["state"] for run_id, r in _records(sweep).items()}
    assert states == {"0000": "completed", "0001": "completed", "0002": "cancelled", "0003": "cancelled"}
    for log in long_logs:  # Ctrl-C reached each training, which printed its traceback into attempt 1's part
        assert "KeyboardInterrupt" in log.read_text()

    resumed = run_cli(*_submit_argv(fake_profile, sweep), "--resume", env={"FAKE_SLEEP": "0.002"})
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    collected = run_cli("collect", str(sweep))
    assert collected.returncode == 0, collected.stderr
    assert "Traceback" not in collected.stdout + collected.stderr
    results = _results(sweep)
    by_run = {e["run_id"]: e for e in results["experiments"]}
    for run_id in ("0002", "0003"):
        log = (sweep / "runs" / run_id / "train.log").read_text()
        assert log.count(HEADER) == 2  # both attempts in one log, the first one's traceback included
        assert by_run[run_id]["status"] == "completed" and by_run[run_id]["error"] is None
        assert by_run[run_id]["reward_steps"] == list(range(300))
    for group in results["groups"]:
        assert group["n"] == 2 and group["excluded_runs"] == [] and group["excluded"] == []
    assert results["warnings"] == []


def test_a_traceback_in_attempt_1_and_a_clean_attempt_2_is_completed(fake_profile: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    argv = ["submit", "--profile", str(fake_profile), "--executor", "local", "--seeds", "1", "2"]
    argv += ["--max_iterations", "4", "--output_dir", str(sweep)]
    first = run_cli(*argv, env={"FAKE_BEHAVIOUR_SEED_1": "exception_exit0", "FAKE_SLEEP": "0.01"})
    assert first.returncode == 1
    assert _records(sweep)["0000"]["state"] == "failed"  # the wrapper saw the traceback (exit 0): attempt 1 failed
    again = run_cli("resubmit", str(sweep), "--failed", env={"FAKE_SLEEP": "0.01"})
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    log = (sweep / "runs" / "0000" / "train.log").read_text()
    assert log.count(HEADER) == 2 and "RuntimeError: simulated crash" in log.split(f"{HEADER}0000 attempt 2")[0]
    assert run_cli("collect", str(sweep)).returncode == 0
    results = _results(sweep)
    seed1 = next(e for e in results["experiments"] if e["seed"] == 1)
    assert seed1["status"] == "completed" and seed1["error"] is None
    (group,) = results["groups"]
    assert group["n"] == 2 and group["excluded"] == []


def test_a_completed_run_whose_logs_are_gone_is_listed_and_warned_about(fake_profile: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    argv = ["submit", "--profile", str(fake_profile), "--executor", "local", "--seeds", "1", "2", "3"]
    made = run_cli(*argv, "--max_iterations", "3", "--output_dir", str(sweep), env={"FAKE_SLEEP": "0.01"})
    assert made.returncode == 0, made.stderr
    record = _records(sweep)["0001"]
    for log_dir in record["log_dirs"]:
        shutil.rmtree(sweep / log_dir if not Path(log_dir).is_absolute() else log_dir)
    (sweep / "runs" / "0001" / "train.log").unlink()
    collected = run_cli("collect", str(sweep))
    assert collected.returncode == 0, collected.stderr
    warning = "run 0001 (seed 2) is completed but no reward data found (logs gone?): left out of group statistics"
    assert warning in " ".join((collected.stdout + collected.stderr).split())  # printed (rich may wrap the line)
    results = _results(sweep)
    (group,) = results["groups"]
    assert group["n"] == 2 and group["excluded_runs"] == ["0001"]
    assert group["excluded"] == [
        {"run_id": "0001", "seed": 2, "state": "completed", "reason": "no reward data found (logs gone?)"}
    ]
    assert warning in results["warnings"]
