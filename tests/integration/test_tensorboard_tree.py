"""``collect`` writes ``tensorboard/<group>/seed<k>``: one TensorBoard run per seed per group, however the training
named its dirs and however many attempts a run took; rebuilt atomically, movable with the sweep, and never mistaken
for runs. Real demo trainings; what TensorBoard shows is read with TensorBoard's own loader."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer

from hpc_sweep.collect.results import collect
from tests.conftest import run_cli

pytestmark = pytest.mark.integration


def train(cwd: Path, *args: str) -> None:
    """The demo trainer, run as Isaac Lab's train.py would be."""
    cwd.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "hpc_sweep.demo.train", "--task", "Demo-PointMass-v0", "--num_envs", "16", *args]
    env = {**os.environ, "GIT_PYTHON_REFRESH": "quiet"}
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def tensorboard_runs(logdir: Path) -> dict[str, list[int]]:
    """Run name -> the steps of its Train/mean_reward, as TensorBoard loads them."""
    mux = EventMultiplexer()
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    return {run: [event.step for event in mux.Tensors(run, "Train/mean_reward")] for run in mux.Runs()}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo sweep of two seeds, run and collected here."""
    path = tmp_path_factory.mktemp("tb") / "sweep"
    result = run_cli(
        "submit", "--task", "Demo-PointMass-v0", "--seeds", "1", "2", "--max_iterations", "5", "--num_envs", "16",
        "--executor", "local", "--max_parallel", "2", "--common_folder", "tbstudy", "--output_dir", str(path),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return path


def test_each_seed_is_one_tensorboard_run_named_by_group_and_seed(sweep: Path) -> None:
    views = sweep / "tensorboard"
    assert tensorboard_runs(views) == {"tbstudy/seed1": [0, 1, 2, 3, 4], "tbstudy/seed2": [0, 1, 2, 3, 4]}
    for seed in (1, 2):
        link = views / "tbstudy" / f"seed{seed}"
        assert link.is_symlink() and not os.readlink(link).startswith("/")  # inside the sweep: relative
        assert link.resolve().name.endswith(f"tbstudy_seed{seed}")


def test_collect_prints_the_tensorboard_command(sweep: Path) -> None:
    result = run_cli("collect", str(sweep))
    assert result.returncode == 0, result.stderr
    assert f"tensorboard --logdir {sweep / 'tensorboard'}" in result.stdout


def test_a_collect_keeps_unchanged_views_and_replaces_changed_ones_leaving_no_old_tree(sweep: Path) -> None:
    before = os.readlink(sweep / "tensorboard")
    assert run_cli("collect", str(sweep)).returncode == 0
    assert os.readlink(sweep / "tensorboard") == before  # the same links: nothing rebuilt
    marker = sweep / before / ".hpc_sweep_tensorboard_view"
    marker.write_text(marker.read_text().splitlines()[0] + "\n")  # written for other links, or by an older collect
    assert run_cli("collect", str(sweep)).returncode == 0
    after = os.readlink(sweep / "tensorboard")
    assert after != before and after.startswith(".tensorboard-")
    assert [p.name for p in sweep.glob(".tensorboard*")] == [after]
    assert sorted(tensorboard_runs(sweep / "tensorboard")) == ["tbstudy/seed1", "tbstudy/seed2"]


def test_a_moved_sweep_keeps_its_views(sweep: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "moved"
    shutil.copytree(sweep, moved, symlinks=True)
    assert sorted(tensorboard_runs(moved / "tensorboard")) == ["tbstudy/seed1", "tbstudy/seed2"]
    assert (moved / "tensorboard" / "tbstudy" / "seed1").resolve().is_relative_to(moved.resolve())


def test_a_resumed_run_is_one_curve_over_its_attempts(tmp_path: Path) -> None:
    tree = tmp_path / "isaaclab"
    train(tree, "--seed", "5", "--max_iterations", "10", "--run_name", "r_seed5", "agent.save_interval=5")
    first = next((tree / "logs" / "rsl_rl" / "point_mass").iterdir())
    (first / "model_9.pt").unlink()  # as if the job died after the checkpoint at 5
    train(tree, "--seed", "5", "--max_iterations", "5", "--run_name", "r_seed5",
          "--resume", "--load_run", first.name, "--checkpoint", "model_5.pt")  # fmt: skip
    out = tmp_path / "out"
    result = run_cli("collect", str(tree / "logs"), "--output_dir", str(out))
    assert result.returncode == 0, result.stderr
    seed_dir = out / "tensorboard" / "r" / "seed5"
    assert seed_dir.is_dir() and not seed_dir.is_symlink()
    links = sorted(seed_dir.iterdir())
    assert len(links) == 2 and all(link.is_symlink() and os.readlink(link).startswith("/") for link in links)
    assert list(tensorboard_runs(out / "tensorboard")) == ["r/seed5"]
    (steps,) = tensorboard_runs(out / "tensorboard").values()  # one run, "r/seed5"
    # TensorBoard's data server drops the first attempt's points from step 5 on when the second attempt redoes them
    # (preemption); its Python loader keeps both: every iteration is there either way, in one run
    assert sorted(set(steps)) == list(range(10)) and steps[:10] == list(range(10))


def test_a_foreign_tree_gets_views_only_in_the_output_dir(tmp_path: Path) -> None:
    tree = tmp_path / "logs"
    train(tmp_path, "--seed", "3", "--max_iterations", "3", "--run_name", "s_seed3")
    result = run_cli("collect", str(tree))
    assert result.returncode == 0, result.stderr
    assert not (tree / "tensorboard").exists() and "tensorboard --logdir" not in result.stdout
    inside = tree / "results"  # an output dir inside the tree: its views are never read as runs
    for _ in range(2):
        assert run_cli("collect", str(tree), "--output_dir", str(inside)).returncode == 0
        assert len(collect(tree).runs) == 1
    assert tensorboard_runs(inside / "tensorboard") == {"s/seed3": [0, 1, 2]}


def test_a_tensorboard_dir_of_the_users_is_left_alone(sweep: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(sweep, copy, symlinks=True)
    os.unlink(copy / "tensorboard")
    (copy / "tensorboard").mkdir()
    (copy / "tensorboard" / "notes.txt").write_text("mine")
    result = run_cli("collect", str(copy))
    assert result.returncode == 0, result.stderr
    assert "was not written by hpc-sweep" in " ".join(result.stdout.split())
    assert [p.name for p in (copy / "tensorboard").iterdir()] == ["notes.txt"]
