"""Slurm job logs beside a log tree are their runs' console output, never second runs: Isaac Lab and BALLU trees
trained by the stand-ins (``tests/standins``), each run's stdout saved as ``slurm-123_<task>.out`` next to the tree.

The tasks of a job array start in the same second (``STANDIN_TIMESTAMP``), so Isaac Lab's printed timestamp names
several dirs; BALLU prints no timestamp at all, and its ``EXP_DIR`` line only when the run ends. Where the names
leave a choice, identical rewards decide (``hpc_sweep.collect.job_logs``).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from hpc_sweep.collect.discover import discover_runs
from hpc_sweep.collect.results import collect

pytestmark = pytest.mark.integration

STANDINS = Path(__file__).resolve().parents[1] / "standins"
TASK, EXPERIMENT, STAMP = "Isaac-Velocity-Flat-Anymal-C-v0", "anymal_c_flat", "2026-01-02_03-04-05"
BALLU_TASK, BALLU_EXPERIMENT = "Isaac-Ballu-Indirect-Act-v0", "lab_02.24.2026"
ITERATIONS = 6


def _standins(dest: Path) -> Path:
    shutil.copytree(STANDINS, dest, ignore=shutil.ignore_patterns("__pycache__", "logs", "outputs", ".standin_state"))
    (dest / "isaaclab" / "isaaclab.sh").chmod(0o755)
    return dest


def _run(argv: list[str], cwd: Path) -> str:
    env = {**os.environ, "STANDIN_PYTHON": sys.executable, "STANDIN_TIMESTAMP": STAMP, "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


def isaaclab_job(standins: Path, tree: Path, seed: int, echo: bool = False) -> str:
    """One Isaac Lab training as an array task runs it; its job log's text (with the command, as ``set -x`` shows
    it, when ``echo``)."""
    script = standins / "isaaclab" / "scripts" / "reinforcement_learning" / "rsl_rl" / "train.py"
    argv = [str(standins / "isaaclab" / "isaaclab.sh"), "-p", str(script), "--task", TASK, "--seed", str(seed)]
    argv += ["--max_iterations", str(ITERATIONS), "--num_envs", "8", "--headless", "--run_name", f"grp_seed{seed}"]
    return (f"+ {shlex.join(argv)}\n" if echo else "") + _run(argv, tree)


def ballu_job(standins: Path, tree: Path, seed: int, echo: bool = False) -> str:
    """One BALLU training as BALLU's job scripts run it (``echo "Training with seed: $SEED"`` when ``echo``)."""
    argv = [sys.executable, str(standins / "ballu" / "scripts" / "rsl_rl" / "train.py"), "--task", BALLU_TASK]
    argv += ["--seed", str(seed), "--max_iterations", str(ITERATIONS), "--num_envs", "8", "--headless"]
    argv += ["--common_folder", "study"]
    return (f"Training with seed: {seed}\n" if echo else "") + _run(argv, tree)


def cut_before(text: str, iteration: int) -> str:
    """The log of a job killed (time limit) just before ``iteration``: no end lines."""
    return text[: text.index(f"Learning iteration {iteration}/")]


def _by_log(runs) -> dict[str, object]:
    return {log.name: run for run in runs for log in run.console_logs}


@pytest.fixture(scope="module")
def isaaclab_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seeds 1, 10, 11 started in one second; slurm-123_<k>.out beside logs/ (seed 1's log shows its command)."""
    root = tmp_path_factory.mktemp("isaaclab_jobs")
    standins, tree = _standins(root / "standins"), root / "tree"
    tree.mkdir()
    for task, seed in enumerate((1, 10, 11)):
        (tree / f"slurm-123_{task}.out").write_text(isaaclab_job(standins, tree, seed, echo=seed == 1))
    return tree


def test_isaaclab_job_logs_join_their_runs(isaaclab_tree: Path) -> None:
    runs = discover_runs(isaaclab_tree)
    assert len(runs) == 3 and all(run.log_dirs for run in runs)
    owners = _by_log(runs)
    assert {name: owners[name].seed for name in owners} == {"slurm-123_0.out": 1, "slurm-123_1.out": 10,
                                                           "slurm-123_2.out": 11}  # fmt: skip
    assert all(len(run.console_logs) == 1 for run in runs)


def test_collecting_the_tree_gives_each_run_once_and_completed(isaaclab_tree: Path) -> None:
    collection = collect(isaaclab_tree)
    assert sorted(run.source.seed for run in collection.runs) == [1, 10, 11]
    assert {run.source.status for run in collection.runs} == {"completed"}
    assert {run.data_source for run in collection.runs} == {"tensorboard"}


def test_a_job_log_whose_run_dir_was_deleted_stays_a_console_only_run(isaaclab_tree: Path, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(isaaclab_tree, tree)
    shutil.rmtree(tree / "logs" / "rsl_rl" / EXPERIMENT / f"{STAMP}_grp_seed11")
    runs = discover_runs(tree)
    assert len(runs) == 3
    orphan = _by_log(runs)["slurm-123_2.out"]
    assert orphan.log_dirs == [] and orphan.console_logs == [tree / "slurm-123_2.out"]
    assert sorted(run.seed for run in runs if run.log_dirs) == [1, 10]
    assert all(len(run.console_logs) == 1 for run in runs)
    collection = collect(tree)
    console_only = next(run for run in collection.runs if not run.source.log_dirs)
    assert console_only.data_source == "console_log"


def test_ballu_job_logs_join_their_runs_by_common_folder_and_seed(tmp_path: Path) -> None:
    standins, tree = _standins(tmp_path / "standins"), tmp_path / "tree"
    tree.mkdir()
    (tree / "slurm-7_0.out").write_text(ballu_job(standins, tree, 1))  # ended: prints EXP_DIR
    (tree / "slurm-7_1.out").write_text(cut_before(ballu_job(standins, tree, 2, echo=True), 4))  # seed echoed
    (tree / "slurm-7_2.out").write_text(cut_before(ballu_job(standins, tree, 3), 4))  # only its rewards tell
    runs = discover_runs(tree)
    assert len(runs) == 3
    owners = _by_log(runs)
    assert {name: owners[name].seed for name in owners} == {"slurm-7_0.out": 1, "slurm-7_1.out": 2, "slurm-7_2.out": 3}
    for run in runs:
        assert run.log_dirs[0].parts[-3:] == (BALLU_EXPERIMENT, "study", f"seed_{run.seed}")
    assert {run.source.status for run in collect(tree).runs} == {"completed"}


# ------------------------------------------------------------------------------- same rewards, different seeds


def _events(run_dir: Path, rewards: list[float]) -> None:
    run_dir.mkdir(parents=True)
    writer = EventFileWriter(str(run_dir))
    for step, reward in enumerate(rewards):
        summary = Summary(value=[Summary.Value(tag="Train/mean_reward", simple_value=reward)])
        writer.add_event(Event(wall_time=time.time(), step=step, summary=summary))
    writer.close()


def _console(rewards: list[float], *head: str) -> str:
    blocks = [f"\033[1m Learning iteration {it}/{len(rewards)} \033[0m\n{'Mean reward:':>35} {r:.2f}\n"
              for it, r in enumerate(rewards)]  # fmt: skip
    return "".join([*(line + "\n" for line in head), *blocks])


SHARED = [1.0012, 2.0049, 2.9951]
SEED1, SEED2 = [*SHARED, 4.0013, 5.0022, 6.0031], [*SHARED, 7.0044, 8.0011, 9.0007]


@pytest.fixture
def twins(tmp_path: Path) -> Path:
    """Two runs, seeds 1 and 2, whose first three rewards are the same; no job log prints a log dir."""
    experiment = tmp_path / "logs" / "rsl_rl" / "exp"
    _events(experiment / f"{STAMP}_a_seed1", SEED1)
    _events(experiment / f"{STAMP}_a_seed2", SEED2)
    return tmp_path


def test_a_log_goes_to_the_run_whose_every_reward_it_shares(twins: Path) -> None:
    (twins / "job.out").write_text(_console(SEED2))
    runs = discover_runs(twins)
    assert len(runs) == 2 and _by_log(runs)["job.out"].seed == 2


def test_a_shared_prefix_alone_never_picks_one_of_two_runs(twins: Path) -> None:
    (twins / "job.out").write_text(_console(SHARED))
    runs = discover_runs(twins)
    assert len(runs) == 3
    orphan = _by_log(runs)["job.out"]
    assert orphan.log_dirs == [] and "match several runs" in orphan.warnings[0]


def test_the_seed_a_log_shows_picks_among_runs_with_the_same_rewards(twins: Path) -> None:
    (twins / "seed2.out").write_text(_console(SHARED, "+ python train.py --seed 2"))
    (twins / "seed3.out").write_text(_console(SHARED, "+ python train.py --seed 3"))
    owners = _by_log(discover_runs(twins))
    assert owners["seed2.out"].seed == 2 and owners["seed2.out"].log_dirs
    assert owners["seed3.out"].log_dirs == [] and owners["seed3.out"].seed == 3  # no run of seed 3: its own


def test_a_rounding_difference_is_a_different_run(twins: Path) -> None:
    (twins / "job.out").write_text(_console([*SHARED, 4.0013, 5.0022, 6.0131]))  # 6.01 is not seed 1's 6.00
    orphan = _by_log(discover_runs(twins))["job.out"]
    assert orphan.log_dirs == []
