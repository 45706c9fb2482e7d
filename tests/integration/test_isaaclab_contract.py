"""Our ``isaaclab`` and ``ballu`` profiles against faithful stand-ins of Isaac Lab's and BALLU's RSL-RL ``train.py``
(``tests/standins/``; each file's docstring cites the upstream source of its rules): fresh runs, a failure mid-way,
and ``hpc-sweep resubmit`` resuming every run from its checkpoint.

Isaac Lab resolves ``--load_run`` / ``--checkpoint`` as regular expressions with ``re.match`` (a prefix match) and
takes the alphabetically LAST matching run directory. Array tasks start in the same second, so
``<ts>_grp_seed1``, ``<ts>_grp_seed10`` and ``<ts>_grp_seed11`` sit side by side (here ``STANDIN_TIMESTAMP`` puts
them in one second), and ``--load_run <ts>_grp_seed1`` loads seed 11's checkpoint unless the pattern is anchored.
The stand-in's reward depends on the loaded policy, so a wrong checkpoint also shows in the stitched curve, which is
compared with an uninterrupted sweep's. Test knobs (``STANDIN_*``): ``tests/standins/README.md``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.integration

STANDINS = Path(__file__).resolve().parents[1] / "standins"
ITERATIONS, FAIL_AT, SAVE_EVERY = 8, 5, 2  # fails at 5 after model_0/2/4: resumes from model_4 (iteration 4)
FIRST_STAMP, RESUME_STAMP = "2026-01-02_03-04-05", "2026-01-02_04-05-06"
SEEDS = (1, 10, 11)
GROUP = "grp"
TASK, EXPERIMENT = "Isaac-Velocity-Flat-Anymal-C-v0", "anymal_c_flat"
BALLU_TASK, BALLU_EXPERIMENT = "Isaac-Ballu-Indirect-Act-v0", "lab_02.24.2026"
BALLU_GROUP, BALLU_SEEDS = "bgrp", (1, 10)
LOADED = re.compile(r"\[INFO\]: Loading model checkpoint from: (\S+)")
WARM_STARTED = re.compile(r"\[INFO\]: Warm-starting from checkpoint: (\S+)")


@dataclass(frozen=True)
class Resumed:
    """One interrupted sweep (every run failed once at FAIL_AT, then resubmitted) and its uninterrupted twin."""

    first: subprocess.CompletedProcess[str]
    first_records: dict[int, dict]
    again: subprocess.CompletedProcess[str]
    sweep: Path
    reference: Path
    log_root: Path


def _copy_standins(dest: Path) -> Path:
    """A private copy of the stand-ins (their logs go to tmp), with the launcher executable."""
    shutil.copytree(STANDINS, dest, ignore=shutil.ignore_patterns("__pycache__", "logs", "outputs", ".standin_state"))
    (dest / "isaaclab" / "isaaclab.sh").chmod(0o755)
    return dest


def _env(**extra: str) -> dict[str, str]:
    return {"STANDIN_PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": "", **extra}


def _records(sweep: Path) -> dict[int, dict]:
    """seed -> the run's record.json."""
    manifest = json.loads((sweep / "sweep.json").read_text())
    return {r["seed"]: json.loads((sweep / "runs" / r["run_id"] / "record.json").read_text()) for r in manifest["runs"]}


def _curves(sweep: Path) -> dict[int, tuple[list[int], list[float]]]:
    """seed -> (reward_steps, reward_progression) of training_results.json (attempts stitched by the collector)."""
    experiments = json.loads((sweep / "training_results.json").read_text())["experiments"]
    return {e["seed"]: (e["reward_steps"], e["reward_progression"]) for e in experiments}


def _train_log(sweep: Path, record: dict) -> str:
    return (sweep / "runs" / record["run_id"] / "train.log").read_text(errors="replace")


def _submit(profile: str, task: str, seeds: tuple[int, ...], group: str, sweep: Path, env: dict[str, str], *extra: str):
    return run_cli(
        "submit", "--task", task, "--profile", profile, "--executor", "local", "--seeds", *map(str, seeds),
        "--max_iterations", str(ITERATIONS), "--num_envs", "64", "--common_folder", group, "--max_parallel", "3",
        "--output_dir", str(sweep), *extra, "--additional_args", f"agent.save_interval={SAVE_EVERY}",
        env=env, timeout=300,
    )  # fmt: skip


def _interrupt_and_resume(root: Path, profile: str, task: str, seeds: tuple[int, ...], group: str, *extra: str):
    """Submit with a failure at FAIL_AT on every run's first attempt, resubmit the failed runs, and run the same
    sweep uninterrupted in its own copy of the stand-ins."""
    interrupted, reference = _copy_standins(root / "interrupted"), _copy_standins(root / "reference")
    paths = {"ISAACLAB_PATH": str(interrupted / "isaaclab"), "BALLU_PATH": str(interrupted / "ballu")}
    fail = {"STANDIN_FAIL_AT_ITERATION": str(FAIL_AT)}
    sweep = root / "sweep"
    first = _submit(profile, task, seeds, group, sweep, _env(**paths, **fail, STANDIN_TIMESTAMP=FIRST_STAMP), *extra)
    first_records = _records(sweep)
    again = run_cli(
        "resubmit", str(sweep), "--failed", "--max_parallel", "3",
        env=_env(**paths, **fail, STANDIN_TIMESTAMP=RESUME_STAMP), timeout=300,
    )  # fmt: skip
    reference_paths = {"ISAACLAB_PATH": str(reference / "isaaclab"), "BALLU_PATH": str(reference / "ballu")}
    twin = _submit(profile, task, seeds, group, root / "reference_sweep", _env(**reference_paths), *extra)
    assert twin.returncode == 0, twin.stdout[-3000:] + twin.stderr[-3000:]
    return first, first_records, again, sweep, root / "reference_sweep", interrupted


@pytest.fixture(scope="module")
def isaaclab(tmp_path_factory: pytest.TempPathFactory) -> Resumed:
    root = tmp_path_factory.mktemp("isaaclab_contract")
    first, records, again, sweep, reference, copy = _interrupt_and_resume(root, "isaaclab", TASK, SEEDS, GROUP)
    return Resumed(first, records, again, sweep, reference, copy / "isaaclab" / "logs" / "rsl_rl" / EXPERIMENT)


@pytest.fixture(scope="module")
def ballu(tmp_path_factory: pytest.TempPathFactory) -> Resumed:
    root = tmp_path_factory.mktemp("ballu_contract")
    first, records, again, sweep, reference, copy = _interrupt_and_resume(
        root, "ballu", BALLU_TASK, BALLU_SEEDS, BALLU_GROUP, "--world"
    )
    return Resumed(first, records, again, sweep, reference, copy / "ballu" / "logs" / "rsl_rl" / BALLU_EXPERIMENT)


# ------------------------------------------------------------------------------------------------- Isaac Lab


def test_every_isaaclab_run_fails_midway_on_its_first_attempt(isaaclab: Resumed) -> None:
    assert isaaclab.first.returncode == 1, isaaclab.first.stdout[-3000:] + isaaclab.first.stderr[-3000:]
    for seed, record in isaaclab.first_records.items():
        assert (record["state"], record["attempt"], record["exit_code"]) == ("failed", 1, 1), seed
        assert "RuntimeError: stand-in failure injected at iteration 5" in record["reason"]


def test_first_attempts_share_one_second_yet_each_run_records_its_own_dir(isaaclab: Resumed) -> None:
    first_dirs = sorted(path.name for path in isaaclab.log_root.iterdir() if path.name.startswith(FIRST_STAMP))
    assert first_dirs == [f"{FIRST_STAMP}_{GROUP}_seed{seed}" for seed in SEEDS]
    for seed, record in isaaclab.first_records.items():
        assert Path(record["log_dirs"][0]).name == f"{FIRST_STAMP}_{GROUP}_seed{seed}"


def test_hydra_leftovers_reach_the_agent_config(isaaclab: Resumed) -> None:
    run_dir = isaaclab.log_root / f"{FIRST_STAMP}_{GROUP}_seed10"
    assert sorted(p.name for p in run_dir.glob("model_*.pt")) == ["model_0.pt", "model_2.pt", "model_4.pt"]
    assert "\nsave_interval: 2\n" in (run_dir / "params" / "agent.yaml").read_text()


def test_resubmit_completes_every_run_as_a_second_attempt_with_isaaclab_resume_flags(isaaclab: Resumed) -> None:
    assert isaaclab.again.returncode == 0, isaaclab.again.stdout[-3000:] + isaaclab.again.stderr[-3000:]
    for seed, record in _records(isaaclab.sweep).items():
        assert (record["state"], record["attempt"]) == ("completed", 2), seed
        own = f"{FIRST_STAMP}_{GROUP}_seed{seed}"
        assert Path(record["checkpoint"]) == isaaclab.log_root / own / "model_4.pt"
        argv = record["argv"]
        assert "--resume" in argv and argv[argv.index("--max_iterations") + 1] == str(ITERATIONS - 4)
        assert re.fullmatch(argv[argv.index("--load_run") + 1], own), "the --load_run pattern must match its own dir"
        resumed_dir = isaaclab.log_root / f"{RESUME_STAMP}_{GROUP}_seed{seed}"
        assert "\nresume: true\n" in (resumed_dir / "params" / "agent.yaml").read_text()


@pytest.mark.parametrize(
    "seed",
    [1, 10, 11],
)
def test_each_seed_resumes_from_its_own_checkpoint_and_continues_its_own_curve(isaaclab: Resumed, seed: int) -> None:
    record = _records(isaaclab.sweep)[seed]
    loaded = LOADED.findall(_train_log(isaaclab.sweep, record))
    assert len(loaded) == 1, "only the resumed attempt loads a checkpoint"
    assert Path(loaded[0]) == isaaclab.log_root / f"{FIRST_STAMP}_{GROUP}_seed{seed}" / "model_4.pt"
    steps, rewards = _curves(isaaclab.sweep)[seed]
    reference_steps, reference_rewards = _curves(isaaclab.reference)[seed]
    assert steps == reference_steps
    assert rewards == pytest.approx(reference_rewards, abs=1e-6)


def test_stitched_curves_hold_every_iteration_once(isaaclab: Resumed) -> None:
    for seed, (steps, _rewards) in _curves(isaaclab.sweep).items():
        assert steps == list(range(ITERATIONS)), seed


def test_an_unknown_hydra_key_fails_the_run_with_hydras_message(tmp_path: Path) -> None:
    standins = _copy_standins(tmp_path / "standins")
    sweep = tmp_path / "sweep"
    result = run_cli(
        "submit", "--task", TASK, "--profile", "isaaclab", "--executor", "local", "--seeds", "1",
        "--max_iterations", "2", "--num_envs", "64", "--output_dir", str(sweep),
        "--additional_args", "agent.algorithm.learning_rat=0.001",
        env=_env(ISAACLAB_PATH=str(standins / "isaaclab")), timeout=300,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    record = _records(sweep)[1]
    assert (record["state"], record["exit_code"]) == ("failed", 1)
    log = _train_log(sweep, record)
    assert "[INFO] Using python from: " in log
    assert "Could not override 'agent.algorithm.learning_rat'." in log
    assert not (standins / "isaaclab" / "logs").exists(), "Hydra rejects the override before any run dir exists"


# ------------------------------------------------------------------------------------------------- BALLU


def test_ballu_failure_caught_by_the_script_is_still_recorded_failed(ballu: Resumed) -> None:
    assert ballu.first.returncode == 1, ballu.first.stdout[-3000:] + ballu.first.stderr[-3000:]
    for seed, record in ballu.first_records.items():
        assert (record["state"], record["exit_code"]) == ("failed", 0), seed
        assert "stand-in failure injected" in record["reason"] and "exited 0" in record["reason"]


def test_ballu_common_folder_and_world_pass_through(ballu: Resumed) -> None:
    assert sorted(p.name for p in (ballu.log_root / BALLU_GROUP).iterdir()) == [f"seed_{s}" for s in BALLU_SEEDS]
    params = ballu.log_root / BALLU_GROUP / "seed_1" / "params"
    cli = (params / "cli.yaml").read_text()
    assert "\nworld: true\n" in cli and f"\ncommon_folder: {BALLU_GROUP}\n" in cli
    assert "track_lin_vel_xy_world_exp:\n    weight: 1.0\n" in (params / "env.yaml").read_text()


@pytest.mark.parametrize("seed", BALLU_SEEDS)
def test_ballu_resume_path_warm_starts_from_its_own_seeds_checkpoint(ballu: Resumed, seed: int) -> None:
    assert ballu.again.returncode == 0, ballu.again.stdout[-3000:] + ballu.again.stderr[-3000:]
    record = _records(ballu.sweep)[seed]
    assert (record["state"], record["attempt"]) == ("completed", 2)
    assert record["argv"][-2:] == ["--resume_path", str(ballu.log_root / BALLU_GROUP / f"seed_{seed}" / "model_4.pt")]
    warm = WARM_STARTED.findall(_train_log(ballu.sweep, record))
    assert [Path(path) for path in warm] == [ballu.log_root / BALLU_GROUP / f"seed_{seed}" / "model_4.pt"]
    steps, rewards = _curves(ballu.sweep)[seed]
    reference_steps, reference_rewards = _curves(ballu.reference)[seed]
    assert steps == reference_steps == list(range(ITERATIONS))
    assert rewards == pytest.approx(reference_rewards, abs=1e-6)
