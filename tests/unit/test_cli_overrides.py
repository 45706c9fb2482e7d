"""Trailing Hydra overrides on the command line, as Isaac Lab's train.py takes them ."""

from __future__ import annotations

import shlex
from pathlib import Path

from tests.conftest import run_cli


def dry_run(tmp_path: Path, *args: str):
    result = run_cli("submit", "--executor", "local", "--dry_run", "--common_folder", "s", *args, cwd=tmp_path)
    argvs = [shlex.split(line) for line in result.stdout.splitlines() if "--run_name" in line]
    return result, argvs


def test_a_trailing_sweep_is_a_grid_axis_and_a_single_value_goes_to_every_run(tmp_path: Path) -> None:
    result, argvs = dry_run(
        tmp_path, "--seeds", "1", "2", "agent.algorithm.learning_rate=1e-3,3e-4", "--sbatch", "comment=END",
        "agent.policy.actor_hidden_dims=[32,32]", "--grid", "num_envs=64,128",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(argvs) == 8  # 2 seeds x 2 learning rates x 2 env counts
    assert all("agent.policy.actor_hidden_dims=[32,32]" in argv for argv in argvs)
    assert sorted({argv[-1] for argv in argvs}) == [
        "agent.algorithm.learning_rate=0.0003",
        "agent.algorithm.learning_rate=0.001",
    ]
    assert " group num_envs=64,learning_rate=0.001 " in result.stdout


def test_trailing_overrides_without_a_verb_submit(tmp_path: Path) -> None:
    result = run_cli("agent.algorithm.gamma=0.99,0.9", "--seeds", "1", "--executor", "local", "--dry_run",
                     cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "agent.algorithm.gamma=0.9 " in result.stdout or result.stdout.rstrip().endswith("agent.algorithm.gamma=0.9")


def test_a_malformed_trailing_override_is_exit_2_with_hydras_message(tmp_path: Path) -> None:
    result, _ = dry_run(tmp_path, "--seeds", "1", "agent.x=[1,2")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "override 'agent.x=[1,2': no viable alternative" in line
    assert list(tmp_path.iterdir()) == []


def test_a_trailing_key_in_the_grid_too_is_refused(tmp_path: Path) -> None:
    result, _ = dry_run(tmp_path, "--seeds", "1", "--grid", "agent.x=1,2", "--no-headless", "agent.x=3,4")
    assert result.returncode == 2 and "names 'agent.x' twice" in result.stderr
