"""Log layouts: which run directory an attempt wrote, which checkpoint resumes it, and what a run dir's name says."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from hpc_sweep.logs.console import LogScan
from hpc_sweep.logs.layouts import (
    LAYOUTS,
    RunIdentity,
    group_of,
    infer_seed,
    latest_checkpoint,
    read_agent_params,
    run_key,
)

_LEGACY_CHECKPOINT = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19."  # the legacy pickle format's magic


def _dir(path: Path, age_s: float = 0.0) -> Path:
    path.mkdir(parents=True)
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def _run(workdir: Path, seed: int = 1) -> RunIdentity:
    return RunIdentity(workdir, f"study_seed{seed}", "study", seed)


def test_isaac_lab_finds_its_own_seed_and_not_a_longer_seed(tmp_path: Path) -> None:
    base = tmp_path / "logs" / "rsl_rl" / "exp"
    mine = _dir(base / "2026-01-01_00-00-00_study_seed1")
    _dir(base / "2026-01-01_00-00-00_study_seed10")
    assert LAYOUTS["isaaclab"].find_run_dir(_run(tmp_path), LogScan(), time.time() - 1) == mine.resolve()


def test_the_trainings_printed_lines_win(tmp_path: Path) -> None:
    base = tmp_path / "logs" / "rsl_rl" / "exp"
    _dir(base / "2026-01-01_00-00-00_study_seed1")
    printed = _dir(base / "2026-01-01_00-00-05_study_seed1", age_s=1000)  # old, but named by the training itself
    scan = LogScan(log_root="logs/rsl_rl/exp", exact_name="2026-01-01_00-00-05")
    assert LAYOUTS["isaaclab"].find_run_dir(_run(tmp_path), scan, time.time()) == printed.resolve()


def test_a_directory_older_than_the_attempt_is_an_earlier_attempts(tmp_path: Path) -> None:
    _dir(tmp_path / "logs" / "rsl_rl" / "exp" / "2025-01-01_00-00-00_study_seed1", age_s=3600)
    assert LAYOUTS["isaaclab"].find_run_dir(_run(tmp_path), LogScan(), time.time()) is None


def test_the_newest_of_several_matches_is_taken(tmp_path: Path) -> None:
    base = tmp_path / "logs" / "rsl_rl" / "exp"
    _dir(base / "2026-01-01_00-00-00_study_seed1", age_s=2)
    newest = _dir(base / "2026-01-01_00-00-02_study_seed1")
    assert LAYOUTS["isaaclab"].find_run_dir(_run(tmp_path), LogScan(), time.time() - 4) == newest.resolve()


def test_ballu_finds_common_folder_and_seed(tmp_path: Path) -> None:
    mine = _dir(tmp_path / "logs" / "rsl_rl" / "ballu_exp" / "study" / "seed_1")
    _dir(tmp_path / "logs" / "rsl_rl" / "ballu_exp" / "study" / "seed_10")
    assert LAYOUTS["ballu"].find_run_dir(_run(tmp_path), LogScan(), time.time() - 1) == mine.resolve()
    assert LAYOUTS["isaaclab"].find_run_dir(_run(tmp_path), LogScan(), time.time() - 1) is None


def test_legged_gym_looks_under_logs_experiment(tmp_path: Path) -> None:
    mine = _dir(tmp_path / "logs" / "anymal" / "Mar03_14-22-33_study_seed1")
    assert LAYOUTS["legged_gym"].find_run_dir(_run(tmp_path), LogScan(), time.time() - 1) == mine.resolve()


def test_latest_checkpoint_is_the_highest_iteration_over_attempts(tmp_path: Path) -> None:
    first, second = _dir(tmp_path / "a1"), _dir(tmp_path / "a2")
    for directory, names in ((first, ["model_0.pt", "model_150.pt", "model_50.pt"]), (second, ["model_100.pt"])):
        for name in names:
            (directory / name).write_bytes(_LEGACY_CHECKPOINT)
    (second / "model_999.pt.tmp").write_bytes(_LEGACY_CHECKPOINT)  # a half-written save is not a checkpoint
    assert latest_checkpoint([str(first), str(second)]) == (first / "model_150.pt", 150)
    (second / "model_150.pt").write_bytes(_LEGACY_CHECKPOINT)
    assert latest_checkpoint([str(first), str(second)]) == (second / "model_150.pt", 150)  # later attempt on ties
    assert latest_checkpoint([str(tmp_path / "none")]) is None
    assert latest_checkpoint([first, second]) == (second / "model_150.pt", 150)  # Paths as well as strings


def test_a_checkpoint_cut_short_by_preemption_is_skipped_for_the_one_before(tmp_path: Path) -> None:
    """torch.save writes in place: a preemption mid-save leaves a truncated model_<it>.pt under its final name."""
    torch = pytest.importorskip("torch")
    run = _dir(tmp_path / "2024-03-01_14-22-33_seed1")
    state = {"model_state_dict": {"w": torch.arange(4096, dtype=torch.float32)}, "iter": 60}
    torch.save(state, run / "model_60.pt")
    whole = (run / "model_60.pt").read_bytes()
    (run / "model_80.pt").write_bytes(whole[: len(whole) // 2])  # the save of iteration 80, cut short
    (run / "model_100.pt").write_bytes(b"")  # created, nothing written yet
    assert latest_checkpoint([run]) == (run / "model_60.pt", 60)
    assert torch.load(run / "model_60.pt")["iter"] == 60  # what is chosen loads
    with pytest.raises((RuntimeError, OSError)):  # "failed finding central directory" or a bad seek, by where it ends
        torch.load(run / "model_80.pt")  # what was skipped would have failed the resumed attempt at once
    (run / "model_80.pt").write_bytes(whole)
    assert latest_checkpoint([run]) == (run / "model_80.pt", 80)


@pytest.mark.parametrize(
    ("name", "seed"),
    [
        ("2026-01-01_00-00-00_study_seed42", 42),
        ("seed_7", 7),
        ("Mar03_14-22-33_run-seed-3", 3),
        ("2026-01-01_00-00-00_seedless", None),
        ("study_seedling", None),
        ("study_seed_42", 42),
        ("run_seed42_lr0.001", 42),
        ("SEED_5", 5),
        # negative seeds: a minus sign after a separator, or "-" right after "_seed" (our own f"{group}_seed{seed}")
        ("2026-01-01_00-00-00_study_seed-1", -1),
        ("study_seed-12_lr0.1", -12),
        ("seed_-3", -3),
        ("run-seed--4", -4),
        # "-" in a dashed name, or at the start of the name, separates: seed 3, seed 7
        ("run-seed-3", 3),
        ("seed-7", 7),
    ],
)
def test_seed_from_the_run_dir_name(tmp_path: Path, name: str, seed: int | None) -> None:
    assert infer_seed(_dir(tmp_path / name)) == seed


def test_a_negative_seed_in_the_name_wins_over_agent_yaml_and_leaves_the_group(tmp_path: Path) -> None:
    run = _dir(tmp_path / "2026-01-01_00-00-00_study_seed-1")
    (run / "params").mkdir()
    (run / "params" / "agent.yaml").write_text("seed: 1\n")
    assert infer_seed(run) == -1
    assert group_of(run) == group_of(tmp_path / "2026-01-01_00-00-00_study_seed1") == "study"
    assert group_of(Path("x/run_seed-2_lr0.1")) == "run_lr0.1"


def test_seed_of_a_stray_console_log_from_its_file_name(tmp_path: Path) -> None:
    log = tmp_path / "exp" / "job_study_seed-2.out"
    log.parent.mkdir()
    log.write_text("Learning iteration 0/1\n")
    assert infer_seed(log) == -2


def test_seed_from_agent_yaml_when_the_name_has_none(tmp_path: Path) -> None:
    run = _dir(tmp_path / "2026-01-01_00-00-00_plain")
    (run / "params").mkdir()
    (run / "params" / "agent.yaml").write_text("seed: 123\nresume: true\nmax_iterations: 300\n")
    assert infer_seed(run) == 123
    params = read_agent_params(run)
    assert (params.seed, params.resume, params.max_iterations) == (123, True, 300)
    assert read_agent_params(tmp_path / "missing").max_iterations is None


def test_attempts_share_a_key_and_seeds_share_a_group() -> None:
    first, resumed = Path("x/2026-01-01_00-00-00_study_seed1"), Path("x/2026-01-02_09-00-00_study_seed1")
    assert run_key(first) == run_key(resumed) == "study_seed1"
    assert group_of(first) == group_of(Path("x/Mar03_14-22-33_study_seed2")) == "study"
    assert group_of(Path("exp/study/seed_3")) == "study"
