"""Collecting runs nobody planned: Isaac Lab and BALLU layouts, resumed runs, text fallbacks, damaged files.

Every run here is a real demo training (rsl-rl-lib's runner writes the event files and the console log).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hpc_sweep.collect.results import collect
from tests.conftest import run_cli

pytestmark = pytest.mark.integration


def train(cwd: Path, *args: str) -> str:
    """Run the demo trainer as Isaac Lab would be run; return its console output."""
    cwd.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-m", "hpc_sweep.demo.train", "--task", "Demo-PointMass-v0", "--num_envs", "32", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "GIT_PYTHON_REFRESH": "quiet"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def isaaclab_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """logs/rsl_rl/point_mass/<ts>_study_seed<k>/ for seeds 3 and 4, plus their console logs."""
    root = tmp_path_factory.mktemp("isaaclab")
    for seed in (3, 4):
        out = train(root, "--seed", str(seed), "--max_iterations", "12", "--run_name", f"study_seed{seed}")
        (root / f"console_seed{seed}.txt").write_text(out)
    return root


def _by_seed(collection) -> dict:
    return {run.source.seed: run for run in collection.runs}


def test_isaaclab_layout_is_found_with_seeds_from_run_names(isaaclab_tree: Path) -> None:
    collection = collect(isaaclab_tree / "logs")
    runs = _by_seed(collection)
    assert sorted(runs) == [3, 4]
    for run in runs.values():
        assert run.data_source == "tensorboard"
        steps, _ = run.metric("mean_reward")
        assert steps.tolist() == list(range(12))
        assert run.metric("value_function") is not None and run.metric("noise_std") is not None
        assert run.source.status == "completed"
        assert run.source.group == "study"


def test_ballu_layout_and_seed_from_agent_yaml(isaaclab_tree: Path, tmp_path: Path) -> None:
    runs = sorted((isaaclab_tree / "logs" / "rsl_rl" / "point_mass").iterdir())
    ballu = tmp_path / "logs" / "rsl_rl" / "ballu_exp" / "world_frame_study"
    shutil.copytree(runs[0], ballu / "seed_3")
    shutil.copytree(runs[1], tmp_path / "logs" / "rsl_rl" / "other" / "no_seed_in_this_name")
    found = _by_seed(collect(tmp_path / "logs"))
    assert sorted(found) == [3, 4]
    assert found[3].source.group == "world_frame_study"
    assert found[4].source.seed == 4  # from params/agent.yaml


def test_legged_gym_timestamps_and_symlinked_runs_are_understood(isaaclab_tree: Path, tmp_path: Path) -> None:
    runs = sorted((isaaclab_tree / "logs" / "rsl_rl" / "point_mass").iterdir())
    tree = tmp_path / "logs" / "anymal"
    shutil.copytree(runs[0], tree / "Mar03_14-22-33_study_seed3")  # legged_gym / rsl_rl's own timestamp
    (tree / runs[1].name).symlink_to(runs[1], target_is_directory=True)  # a tree assembled from links
    (tree / "loop").symlink_to(tmp_path / "logs", target_is_directory=True)  # ...with a link back up
    found = collect(tmp_path / "logs").runs
    assert sorted(run.source.seed for run in found) == [3, 4]  # each run once, the loop walked once
    assert {run.source.group for run in found} == {"study"}
    assert all(run.metric("mean_reward")[0].tolist() == list(range(12)) for run in found)


def test_console_log_fallback_matches_the_event_files(isaaclab_tree: Path, tmp_path: Path) -> None:
    shutil.copy(isaaclab_tree / "console_seed3.txt", tmp_path / "slurm-1234_seed3.out")
    run = collect(tmp_path).runs[0]
    assert run.data_source == "console_log"
    text_steps, text_values = run.metric("mean_reward")
    tb = _by_seed(collect(isaaclab_tree / "logs"))[3]
    tb_steps, tb_values = tb.metric("mean_reward")
    assert text_steps.tolist() == tb_steps.tolist()
    np.testing.assert_allclose(text_values, tb_values, atol=0.006)  # the console prints 2 decimals
    assert run.metric("value_function") is not None and run.metric("entropy") is not None


def test_summaries_txt_fallback(tmp_path: Path) -> None:
    run_dir = tmp_path / "logs" / "rsl_rl" / "exp" / "base" / "seed_7"
    run_dir.mkdir(parents=True)
    rows = ["Iteration\tReward/mean\tReward/std\tEpisode Length/mean"]
    rows += [f"{i}\t{i * 0.5:.3f}\t0.1\t{100 + i}" for i in range(20)]
    rows.append("20\tgarbage")
    (run_dir / "summaries.txt").write_text("\n".join(rows) + "\n")
    collection = collect(tmp_path)
    run = collection.runs[0]
    assert run.source.seed == 7 and run.data_source == "summaries"
    steps, values = run.metric("mean_reward")
    assert steps.tolist() == list(range(20)) and values[-1] == pytest.approx(9.5)
    assert run.metric("episode_length")[1][0] == 100
    assert any("malformed" in w for w in collection.warnings)


def test_resumed_run_becomes_one_curve_with_each_iteration_once(tmp_path: Path) -> None:
    train(tmp_path, "--seed", "5", "--max_iterations", "10", "--run_name", "r_seed5", "agent.save_interval=5")
    first = next((tmp_path / "logs" / "rsl_rl" / "point_mass").iterdir())
    (first / "model_9.pt").unlink()  # as if the job died after the checkpoint at 5
    train(tmp_path, "--seed", "5", "--max_iterations", "5", "--run_name", "r_seed5",
          "--resume", "--load_run", first.name, "--checkpoint", "model_5.pt")  # fmt: skip
    collection = collect(tmp_path / "logs")
    assert len(collection.runs) == 1
    steps, _ = collection.runs[0].metric("mean_reward")
    assert steps.tolist() == list(range(10))
    assert len(collection.runs[0].source.log_dirs) == 2


def test_traceback_with_exit_zero_marks_the_run_failed(isaaclab_tree: Path, tmp_path: Path) -> None:
    text = (isaaclab_tree / "console_seed4.txt").read_text()
    text += (
        'Traceback (most recent call last):\n  File "train.py", line 1\nRuntimeError: CUDA error: device-side assert\n'
    )
    (tmp_path / "job_seed4.log").write_text(text)
    run = collect(tmp_path).runs[0]
    assert run.source.status == "failed"
    assert "RuntimeError: CUDA error: device-side assert" in run.source.error


def test_damaged_event_files_keep_complete_records_and_warn(isaaclab_tree: Path, tmp_path: Path) -> None:
    tree = tmp_path / "logs"
    shutil.copytree(isaaclab_tree / "logs", tree)
    run_dirs = sorted((tree / "rsl_rl" / "point_mass").iterdir())
    event = next(run_dirs[0].glob("events.out.tfevents.*"))
    data = event.read_bytes()
    event.write_bytes(data[: len(data) - 37])  # a job killed mid-write
    (run_dirs[1] / "events.out.tfevents.0.foreign").write_bytes(os.urandom(300))
    result = run_cli("collect", str(tree), "--output_dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "warning" in result.stdout and event.name in result.stdout
    records = json.loads((tmp_path / "out" / "training_results.json").read_text())["experiments"]
    lengths = sorted(len(r["reward_progression"]) for r in records)
    assert lengths[0] >= 10 and lengths[1] == 12
