"""The command builder: the exact argv each profile produces, never a shell string."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpc_sweep.command import build_command
from hpc_sweep.errors import UsageError
from hpc_sweep.profiles import load_profile, parse_profile
from hpc_sweep.spec import SweepSpec, expand_runs, parse_grid

SWEEP = Path("/scratch/sweep")


def one_run(**kwargs):
    base = {"common_folder": "study", "seeds": (7,), "max_iterations": 100, "num_envs": 512}
    return expand_runs(SweepSpec(**{**base, **kwargs}))[0]


def test_demo_profile_runs_our_trainer_with_this_python() -> None:
    command = build_command(one_run(), load_profile("demo"), SWEEP, "/usr/bin/python3")
    assert command.argv == (
        "/usr/bin/python3",
        "-m",
        "hpc_sweep.demo.train",
        "--task",
        "Demo-PointMass-v0",
        "--seed",
        "7",
        "--max_iterations",
        "100",
        "--num_envs",
        "512",
        "--headless",
        "--run_name",
        "study_seed7",
    )
    assert command.workdir == str(SWEEP)


def test_isaaclab_profile_uses_isaaclab_sh_and_keeps_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISAACLAB_PATH", "/opt/IsaacLab")
    run = one_run(
        task="Isaac-Velocity-Rough-Anymal-C-v0",
        additional_args=("--video", "--video_interval", "1000"),
        grid=parse_grid(["agent.algorithm.learning_rate=0.001"]),
    )
    argv = build_command(run, load_profile("isaaclab"), SWEEP, "python").argv
    assert argv[:3] == ("./isaaclab.sh", "-p", "scripts/reinforcement_learning/rsl_rl/train.py")
    tail = argv[argv.index("--run_name") :]
    assert tail == (
        "--run_name",
        "study_learning_rate-0.001_seed7",
        "--video",
        "--video_interval",
        "1000",
        "agent.algorithm.learning_rate=0.001",
    )
    assert build_command(run, load_profile("isaaclab"), SWEEP, "python").workdir == "/opt/IsaacLab"


def test_missing_environment_variable_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ISAACLAB_PATH", raising=False)
    with pytest.raises(UsageError, match="ISAACLAB_PATH"):
        build_command(one_run(task="Isaac-X"), load_profile("isaaclab"), SWEEP, "python")


def test_ballu_profile_passes_common_folder_and_world(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BALLU_PATH", "/home/u/ballu")
    argv = build_command(one_run(task="Isc-Vel-BALLU-encoder", world=True), load_profile("ballu"), SWEEP, "py").argv
    assert argv[argv.index("--common_folder") : argv.index("--common_folder") + 2] == ("--common_folder", "study")
    assert "--world" in argv and "--run_name" not in argv


def test_world_with_a_script_that_has_no_world_flag_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISAACLAB_PATH", "/opt/IsaacLab")
    with pytest.raises(UsageError, match="--world"):
        build_command(one_run(task="Isaac-X", world=True), load_profile("isaaclab"), SWEEP, "python")


def test_apptainer_profile_fills_its_image_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISAACLAB_SIF", "/images/isaac lab.sif")
    argv = build_command(one_run(task="Isaac-X"), load_profile("isaaclab_apptainer"), SWEEP, "python").argv
    assert argv[:6] == ("apptainer", "exec", "--nv", "--bind", str(SWEEP), "/images/isaac lab.sif")


def test_unknown_profile_keys_list_the_valid_ones() -> None:
    with pytest.raises(UsageError, match="valid keys"):
        parse_profile({"command": {"scirpt": "x.py"}}, "bad", "bad.toml")
    with pytest.raises(UsageError, match="unknown key 'resolution'"):
        parse_profile({"resolution": 1}, "bad", "bad.toml")
    with pytest.raises(UsageError, match="flags"):
        parse_profile({"command": {"flags": ["headless", "fast"]}}, "bad", "bad.toml")


def test_multi_gpu_runs_use_torch_distributed_run(monkeypatch: pytest.MonkeyPatch) -> None:
    demo = build_command(one_run(gpus_per_run=2), load_profile("demo"), SWEEP, "/py").argv
    assert demo[:7] == (
        "/py",
        "-m",
        "torch.distributed.run",
        "--nnodes=1",
        "--nproc_per_node=2",
        "-m",
        "hpc_sweep.demo.train",
    )
    assert "--distributed" in demo
    monkeypatch.setenv("ISAACLAB_PATH", "/opt/IsaacLab")
    isaac = build_command(one_run(task="Isaac-X", gpus_per_run=4), load_profile("isaaclab"), SWEEP, "/py").argv
    assert isaac[:6] == ("./isaaclab.sh", "-p", "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=4")
    assert isaac[6] == "scripts/reinforcement_learning/rsl_rl/train.py"
