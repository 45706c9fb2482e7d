"""A real end-to-end demo sweep: real RSL-RL PPO training in real processes, collected into results and a figure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import hpc_sweep
from tests.conftest import run_cli

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """The acceptance command: 3 seeds x 30 iterations x 128 envs on the local executor."""
    sweep = tmp_path_factory.mktemp("demo") / "X"
    result = run_cli(
        "submit", "--task", "Demo-PointMass-v0", "--seeds", "1", "2", "3", "--max_iterations", "30",
        "--num_envs", "128", "--executor", "local", "--output_dir", str(sweep),
    )  # fmt: skip
    return sweep, result


def test_demo_sweep_completes_every_run_and_rewards_improve(demo_sweep: tuple[Path, object]) -> None:
    sweep, result = demo_sweep
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads((sweep / "training_results.json").read_text())
    runs = results["experiments"]
    assert [r["status"] for r in runs] == ["completed"] * 3
    assert sorted(r["seed"] for r in runs) == [1, 2, 3]
    for run in runs:
        assert run["data_source"] == "tensorboard"
        assert run["training_iterations"] == 30
        assert len(run["reward_progression"]) == 30
        assert run["final_reward_mean"] > run["reward_progression"][0]
        assert run["entropy_progression"] and run["value_function_progression"] and run["noise_std_progression"]
    assert len({round(r["final_reward_mean"], 6) for r in runs}) == 3  # seeds differ


def test_demo_sweep_leaves_event_files_manifest_partial_results_and_figure(demo_sweep: tuple[Path, object]) -> None:
    sweep, _ = demo_sweep
    manifest = json.loads((sweep / "sweep.json").read_text())
    assert [run["state"] for run in manifest["runs"]] == ["completed"] * 3
    for run in manifest["runs"]:
        log_dir = Path(run["log_dir"])
        assert log_dir.parent == sweep / "logs" / "rsl_rl" / "point_mass"
        assert list(log_dir.glob("events.out.tfevents.*"))
        assert (log_dir / "params" / "agent.yaml").is_file()
        assert "Learning iteration 29/30" in (sweep / "runs" / run["run_id"] / "train.log").read_text()
    partial = json.loads((sweep / "partial_results.json").read_text())
    assert partial["completed_runs"] == 3
    figure = sweep / "training_analysis.png"
    assert figure.stat().st_size > 20_000
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_collect_of_the_sweep_and_of_its_bare_log_tree_agree(demo_sweep: tuple[Path, object], tmp_path: Path) -> None:
    sweep, _ = demo_sweep
    tidy = hpc_sweep.load_metrics(sweep)
    assert set(["run_id", "seed", "tag", "metric", "step", "value", "wall_time"]) <= set(tidy.columns)
    rewards = tidy[tidy.metric == "mean_reward"]
    assert rewards.groupby("run_id").step.nunique().tolist() == [30, 30, 30]
    bare = tmp_path / "copy" / "logs"
    shutil.copytree(sweep / "logs", bare)
    result = run_cli("collect", str(bare), "--output_dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    again = pd.read_parquet(tmp_path / "out" / "metrics.parquet")
    mine = again[again.metric == "mean_reward"].groupby("seed").value.last().sort_index().astype("float64")
    theirs = rewards.groupby("seed").value.last().sort_index()
    assert mine.round(5).tolist() == theirs.round(5).tolist()
    summary = json.loads((tmp_path / "out" / "training_results.json").read_text())
    assert sorted(r["seed"] for r in summary["experiments"]) == [1, 2, 3]
    assert all(r["status"] == "completed" for r in summary["experiments"])
