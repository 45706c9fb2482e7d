"""The ``isaaclab`` profile on the real test cluster against the Isaac Lab stand-in (``tests/standins/``): seeds that
share a prefix (1, 10, 11) start in one second, hit a one-minute time limit, are requeued by Slurm and resume, each
from its OWN checkpoint, until they complete; the stitched curves equal an uninterrupted sweep's.

Isaac Lab resolves ``--load_run``/``--checkpoint`` with ``re.match`` and takes the last match in sorted order, so an
unanchored ``--load_run <ts>_grp_seed1`` loads seed 11's checkpoint; the stand-in's reward depends on the policy it
loaded, so a wrong checkpoint shows in the curve, not only in the printed path.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.integration.test_isaaclab_contract import _copy_standins, _curves, _records, _train_log
from tests.slurm.test_slurm_sweeps import _status, _wait_until

SEEDS = (1, 10, 11)
GROUP, STAMP = "grp", "2026-02-03_04-05-06"
ITERATIONS, SAVE_EVERY, SLEEP_S = 40, 5, 2.5  # about 100 s of training per run: no one-minute attempt can finish it
TASK, EXPERIMENT = "Isaac-Velocity-Flat-Anymal-C-v0", "anymal_c_flat"
LOADED = re.compile(r"\[INFO\]: Loading model checkpoint from: (\S+)")


def _submit(standins: Path, sweep: Path, executor: str, sleep_s: float, *slurm: str):
    env = {
        "ISAACLAB_PATH": str(standins / "isaaclab"),
        "STANDIN_PYTHON": sys.executable,
        "STANDIN_TIMESTAMP": STAMP,  # every first attempt in one second, as array tasks that start together
        "STANDIN_TIMESTAMP_FRESH_ONLY": "1",  # a resumed attempt gets its own (real) timestamp, as in Isaac Lab
        "STANDIN_SLEEP": str(sleep_s),
        "CUDA_VISIBLE_DEVICES": "",
    }
    return run_cli(
        "submit", "--task", TASK, "--profile", "isaaclab", "--executor", executor, "--seeds", *map(str, SEEDS),
        "--max_iterations", str(ITERATIONS), "--num_envs", "64", "--common_folder", GROUP,
        "--output_dir", str(sweep), *slurm, "--additional_args", f"agent.save_interval={SAVE_EVERY}",
        env=env, timeout=600,
    )  # fmt: skip


@pytest.fixture(scope="module")
def requeued(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The sweep on Slurm (three runs packed in one job, a one-minute limit) and its uninterrupted local twin."""
    root = tmp_path_factory.mktemp("isaaclab_requeue")
    standins, twin_standins = _copy_standins(root / "standins"), _copy_standins(root / "twin_standins")
    sweep = root / "sweep"
    result = _submit(
        standins, sweep, "slurm", SLEEP_S, "--partition", "debug", "--time", "1", "--gpus_per_node", "1",
        "--cpus_per_task", "1", "--mem_gb", "1", "--runs_per_gpu", "3", "--max_requeues", "8",
        "--setup", "export GIT_PYTHON_REFRESH=quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    twin = _submit(twin_standins, root / "twin", "local", 0.0, "--max_parallel", "3")
    assert twin.returncode == 0, twin.stdout[-3000:] + twin.stderr[-3000:]
    assert _wait_until(lambda: _status(sweep).returncode == 0, timeout=900, every=5), _status(sweep).stdout
    collected = run_cli("collect", str(sweep))
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    return sweep, root / "twin", standins / "isaaclab" / "logs" / "rsl_rl" / EXPERIMENT


def test_the_first_attempts_shared_one_second_and_slurm_requeued_every_run(requeued: tuple[Path, Path, Path]) -> None:
    sweep, _twin, log_root = requeued
    assert sorted(p.name for p in log_root.glob(f"{STAMP}_*")) == [f"{STAMP}_{GROUP}_seed{s}" for s in SEEDS]
    for seed, record in _records(sweep).items():
        assert record["state"] == "completed" and record["attempt"] >= 2, (seed, record["attempts"])
        assert any(attempt["state"] == "requeued" for attempt in record["attempts"]), seed


@pytest.mark.parametrize("seed", SEEDS)
def test_every_resumed_attempt_loads_its_own_seeds_checkpoint(requeued: tuple[Path, Path, Path], seed: int) -> None:
    sweep, _twin, log_root = requeued
    record = _records(sweep)[seed]
    loaded = [Path(path) for path in LOADED.findall(_train_log(sweep, record))]
    assert len(loaded) == record["attempt"] - 1, "each attempt after the first resumes from a checkpoint"
    for path in loaded:
        assert path.parent.parent == log_root and path.parent.name.endswith(f"_{GROUP}_seed{seed}"), path
    argv = record["argv"]
    own = Path(record["checkpoint"] if Path(record["checkpoint"]).is_absolute() else sweep / record["checkpoint"])
    assert re.fullmatch(argv[argv.index("--load_run") + 1], own.parent.name)
    for other in SEEDS:
        if other != seed:
            assert not re.match(
                argv[argv.index("--load_run") + 1], own.parent.name.replace(f"seed{seed}", f"seed{other}")
            )


def test_stitched_curves_equal_the_uninterrupted_sweeps(requeued: tuple[Path, Path, Path]) -> None:
    sweep, twin, _log_root = requeued
    curves, reference = _curves(sweep), _curves(twin)
    for seed in SEEDS:
        steps, rewards = curves[seed]
        assert steps == list(range(ITERATIONS)), seed
        # points lost with a killed attempt's unflushed TensorBoard buffer come from the console (4 decimals)
        assert rewards == pytest.approx(reference[seed][1], abs=1e-4), seed
    experiments = json.loads((sweep / "training_results.json").read_text())["experiments"]
    assert {e["status"] for e in experiments} == {"completed"}


BALLU_TASK, BALLU_EXPERIMENT, BALLU_SEEDS = "Isaac-Ballu-Indirect-Act-v0", "lab_02.24.2026", (1, 10)
WARM_STARTED = re.compile(r"\[INFO\]: Warm-starting from checkpoint: (\S+)")


def test_ballu_runs_requeued_by_slurm_warm_start_from_their_own_seed_dir(tmp_path: Path) -> None:
    """BALLU's script reuses ``<common_folder>/seed_<s>/`` across attempts and resumes with ``--resume_path``."""
    standins, twin_standins = _copy_standins(tmp_path / "standins"), _copy_standins(tmp_path / "twin_standins")

    def submit(copy: Path, sweep: Path, executor: str, sleep_s: float, *slurm: str):
        env = {"BALLU_PATH": str(copy / "ballu"), "STANDIN_PYTHON": sys.executable, "STANDIN_SLEEP": str(sleep_s)}
        return run_cli(
            "submit", "--task", BALLU_TASK, "--profile", "ballu", "--executor", executor, "--world",
            "--seeds", *map(str, BALLU_SEEDS), "--max_iterations", str(ITERATIONS), "--num_envs", "64",
            "--common_folder", "bgrp", "--output_dir", str(sweep), *slurm,
            "--additional_args", f"agent.save_interval={SAVE_EVERY}", env=env, timeout=600,
        )  # fmt: skip

    sweep = tmp_path / "sweep"
    result = submit(
        standins, sweep, "slurm", SLEEP_S, "--partition", "debug", "--time", "1", "--gpus_per_node", "1",
        "--cpus_per_task", "1", "--mem_gb", "1", "--runs_per_gpu", "2", "--max_requeues", "8",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    twin = submit(twin_standins, tmp_path / "twin", "local", 0.0, "--max_parallel", "2")
    assert twin.returncode == 0, twin.stdout[-3000:] + twin.stderr[-3000:]
    assert _wait_until(lambda: _status(sweep).returncode == 0, timeout=900, every=5), _status(sweep).stdout
    assert run_cli("collect", str(sweep)).returncode == 0
    seed_dirs = standins / "ballu" / "logs" / "rsl_rl" / BALLU_EXPERIMENT / "bgrp"
    curves, reference = _curves(sweep), _curves(tmp_path / "twin")
    for seed, record in _records(sweep).items():
        assert record["state"] == "completed" and record["attempt"] >= 2, (seed, record["attempts"])
        warm = [Path(path) for path in WARM_STARTED.findall(_train_log(sweep, record))]
        assert warm and all(path.parent == seed_dirs / f"seed_{seed}" for path in warm), warm
        assert curves[seed][0] == list(range(ITERATIONS))
        assert curves[seed][1] == pytest.approx(reference[seed][1], abs=1e-4), seed
