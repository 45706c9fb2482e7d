"""The local executor with real processes: concurrency limit, GPU slots, failures recorded, the sweep going on.

These use a tiny stand-in training script (see conftest.FAKE_TRAIN) so that timing is controlled; the real demo
task runs end to end in test_demo_sweep.py.
"""

from __future__ import annotations

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


def _ran(sweep: Path) -> dict[int, dict]:
    """seed -> what the fake trainer recorded about its own run."""
    out = {}
    for path in sweep.glob("logs/rsl_rl/fake/*/ran.json"):
        data = json.loads(path.read_text())
        out[int(data["argv"][data["argv"].index("--seed") + 1])] = data
    return out


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    best = current = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


def test_at_most_max_parallel_runs_at_once_and_each_gpu_slot_is_used_once(fake_profile: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli(
        "submit", "--profile", str(fake_profile), "--executor", "local", "--seeds", *map(str, range(1, 7)),
        "--max_iterations", "6", "--output_dir", str(sweep),
        env={"CUDA_VISIBLE_DEVICES": "0,1", "FAKE_SLEEP": "0.3"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    ran = _ran(sweep)
    assert sorted(ran) == [1, 2, 3, 4, 5, 6]
    assert _max_overlap([(r["start"], r["end"]) for r in ran.values()]) == 2
    for gpu in ("0", "1"):
        mine = [(r["start"], r["end"]) for r in ran.values() if r["gpu"] == gpu]
        assert mine, f"GPU {gpu} got no run"
        assert _max_overlap(mine) == 1, f"two runs shared GPU {gpu} at once"
    manifest = json.loads((sweep / "sweep.json").read_text())
    assert [run["state"] for run in manifest["runs"]] == ["completed"] * 6
    assert {run["gpu"] for run in manifest["runs"]} == {"0", "1"}


def test_runs_per_gpu_gives_each_gpu_that_many_runs_at_once(fake_profile: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli(
        "submit", "--profile", str(fake_profile), "--executor", "local", "--seeds", *map(str, range(1, 9)),
        "--max_iterations", "8", "--runs_per_gpu", "2", "--output_dir", str(sweep),
        env={"CUDA_VISIBLE_DEVICES": "0,1", "FAKE_SLEEP": "0.3"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 at once" in result.stdout
    ran = _ran(sweep)
    assert sorted(ran) == list(range(1, 9))
    assert _max_overlap([(r["start"], r["end"]) for r in ran.values()]) == 4
    for gpu in ("0", "1"):
        assert _max_overlap([(r["start"], r["end"]) for r in ran.values() if r["gpu"] == gpu]) == 2


def test_max_parallel_flag_limits_concurrency_without_gpus(fake_profile: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli(
        "submit", "--profile", str(fake_profile), "--executor", "local", "--seeds", "1", "2", "3", "4",
        "--max_iterations", "5", "--max_parallel", "3", "--output_dir", str(sweep),
        env={"CUDA_VISIBLE_DEVICES": "", "FAKE_SLEEP": "0.3"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    ran = _ran(sweep)
    assert _max_overlap([(r["start"], r["end"]) for r in ran.values()]) == 3
    assert {r["gpu"] for r in ran.values()} == {""} or {r["gpu"] for r in ran.values()} == {None}


def test_a_killed_run_is_recorded_failed_and_the_sweep_goes_on(fake_profile: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli(
        "submit", "--profile", str(fake_profile), "--executor", "local", "--seeds", "1", "2", "3", "4",
        "--max_iterations", "5", "--max_parallel", "2", "--output_dir", str(sweep),
        env={"FAKE_BEHAVIOUR_SEED_2": "sigkill", "FAKE_BEHAVIOUR_SEED_3": "exception_exit0"},
    )  # fmt: skip
    assert result.returncode == 1  # some runs failed
    runs = {run["seed"]: run for run in json.loads((sweep / "sweep.json").read_text())["runs"]}
    assert runs[1]["state"] == runs[4]["state"] == "completed"
    assert runs[2]["state"] == "failed" and "SIGKILL" in runs[2]["reason"]
    assert runs[3]["state"] == "failed" and runs[3]["exit_code"] == 0
    assert "RuntimeError: simulated crash" in runs[3]["reason"]
    partial = json.loads((sweep / "partial_results.json").read_text())
    assert {r["seed"]: r["status"] for r in partial["results"]} == {
        1: "completed",
        2: "failed",
        3: "failed",
        4: "completed",
    }
    results = json.loads((sweep / "training_results.json").read_text())
    by_seed = {r["seed"]: r for r in results["experiments"]}
    assert by_seed[2]["status"] == "failed" and "SIGKILL" in by_seed[2]["error"]
    assert by_seed[1]["reward_progression"] == [1.0, 1.5, 2.0, 2.5, 3.0]
    log = (sweep / "runs" / runs[2]["run_id"] / "train.log").read_text()
    assert "Learning iteration 2/5" in log  # the output streamed into the log before the kill


def test_resume_runs_only_the_unfinished_runs(fake_profile: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    base = ["submit", "--profile", str(fake_profile), "--executor", "local", "--seeds", "1", "2"]
    base += ["--max_iterations", "3", "--output_dir", str(sweep)]
    first = run_cli(*base, env={"FAKE_BEHAVIOUR_SEED_2": "fail"})
    assert first.returncode == 1
    completed_log = next(sweep.glob("logs/rsl_rl/fake/*seed1/ran.json")).read_bytes()
    second = run_cli(*base, "--resume")
    assert second.returncode == 0, second.stderr
    runs = {run["seed"]: run for run in json.loads((sweep / "sweep.json").read_text())["runs"]}
    assert runs[2]["state"] == "completed" and runs[2]["attempt"] == 2
    assert runs[1]["attempt"] == 1
    assert next(sweep.glob("logs/rsl_rl/fake/*seed1/ran.json")).read_bytes() == completed_log


def test_debug_executor_streams_output_in_the_foreground(fake_profile: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli(
        "submit", "--profile", str(fake_profile), "--executor", "debug", "--seeds", "1", "2",
        "--max_iterations", "3", "--output_dir", str(sweep),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Learning iteration 2/3") == 2
    ran = _ran(sweep)
    assert ran[1]["end"] <= ran[2]["start"]  # one after another


def test_ctrl_c_stops_every_child_and_keeps_what_finished(fake_profile: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    argv = [sys.executable, "-m", "hpc_sweep.cli", "submit", "--profile", str(fake_profile), "--executor", "local"]
    argv += ["--seeds", "1", "2", "3", "--grid", "max_iterations=2,400", "--max_parallel", "2"]
    argv += ["--output_dir", str(sweep)]  # the three 2-iteration runs finish before the interrupt
    env = {**os.environ, "FAKE_SLEEP": "0.2", "CUDA_VISIBLE_DEVICES": ""}
    process = subprocess.Popen(argv, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    states: list[str] = []
    while time.monotonic() < deadline and not (states.count("completed") >= 3 and states.count("running") >= 2):
        time.sleep(0.2)
        states = [json.loads(p.read_text()).get("state") for p in sweep.glob("runs/*/record.json")]
    os.killpg(process.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    process.wait(timeout=60)
    assert process.returncode == 130
    runs = json.loads((sweep / "sweep.json").read_text())["runs"]
    short = {run["run_id"] for run in runs if run["max_iterations"] == 2}
    assert {run["state"] for run in runs if run["run_id"] in short} == {"completed"}
    long_states = [run["state"] for run in runs if run["run_id"] not in short]
    assert long_states.count("cancelled") == 2 and set(long_states) <= {"cancelled", "pending"}
    time.sleep(1)
    leftover = subprocess.run(["pgrep", "-f", str(sweep)], capture_output=True, text=True).stdout.split()
    assert leftover == [], "a training process outlived Ctrl-C"


def test_a_training_that_creates_no_log_directory_is_failed_with_that_reason(tmp_path: Path) -> None:
    script = tmp_path / "silent.py"
    script.write_text("print('training... but writing nowhere')\n")
    profile = tmp_path / "silent.toml"
    profile.write_text(f'[command]\nlauncher = ["{{python}}"]\nscript = "{script}"\nflags = []\n')
    sweep = tmp_path / "sweep"
    result = run_cli(
        "submit", "--profile", str(profile), "--executor", "local", "--seeds", "1", "--output_dir", str(sweep)
    )
    assert result.returncode == 1
    run = json.loads((sweep / "sweep.json").read_text())["runs"][0]
    assert run["state"] == "failed" and run["exit_code"] == 0
    assert "no log directory created" in run["reason"]
