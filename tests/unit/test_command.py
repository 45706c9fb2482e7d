"""The command builder: the exact argv each profile produces, never a shell string."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hpc_sweep.command import TrainingCommand, build_command
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
    assert argv[:9] == (
        "python", "-m", "hpc_sweep.launch.apptainer", "--bind", str(SWEEP), "/images/isaac lab.sif", "--",
        "/workspace/isaaclab/isaaclab.sh", "-p",
    )  # fmt: skip


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


def test_a_resumed_attempt_trains_only_the_remaining_iterations_with_isaac_labs_flags() -> None:
    command = build_command(one_run(additional_args=("--video",)), load_profile("demo"), SWEEP, "/py")
    checkpoint = (Path("/logs/rsl_rl/exp/2026-01-01_00-00-00_study_seed7/model_40.pt"), 40)
    argv = command.resume_argv(checkpoint)
    assert argv[argv.index("--max_iterations") + 1] == "60"
    load_run, file = argv[-3], argv[-1]
    assert (argv[-5], argv[-4], argv[-2]) == ("--resume", "--load_run", "--checkpoint")
    assert re.match(load_run, "2026-01-01_00-00-00_study_seed7") and re.match(file, "model_40.pt")
    assert argv[: argv.index("--max_iterations")] == command.argv[: command.argv.index("--max_iterations")]
    assert "--video" in argv and command.argv[command.argv.index("--max_iterations") + 1] == "100"


@pytest.mark.parametrize(
    ("style", "tail"),
    [
        ("checkpoint_path", ("--resume", "--checkpoint", "/r/model_99.pt")),
        ("resume_path", ("--resume_path", "/r/model_99.pt")),
    ],
)
def test_resume_styles_name_the_checkpoint_as_their_script_expects(style: str, tail: tuple[str, ...]) -> None:
    profile = parse_profile({"command": {"resume": style}}, "p", "p.toml")
    argv = build_command(one_run(), profile, SWEEP, "/py").resume_argv((Path("/r/model_99.pt"), 99))
    assert argv[-len(tail) :] == tail
    assert argv[argv.index("--max_iterations") + 1] == "1"  # at least one iteration, even at the last checkpoint


def test_resume_style_none_starts_over_with_every_iteration() -> None:
    command = build_command(one_run(), parse_profile({"command": {"resume": "none"}}, "p", "p.toml"), SWEEP, "/py")
    assert command.resume_argv((Path("/r/model_50.pt"), 50)) == command.argv


def test_a_passed_max_iterations_flag_is_not_mistaken_for_ours() -> None:
    """The resume argv is built from the run, not by patching the first ``--max_iterations`` in a list."""
    command = build_command(one_run(additional_args=("--max_iterations_note", "x")), load_profile("demo"), SWEEP, "/p")
    argv = command.resume_argv((Path("/r/model_30.pt"), 30))
    assert argv.count("--max_iterations") == 1 and argv[argv.index("--max_iterations") + 1] == "70"


def test_the_manifest_form_of_a_command_rebuilds_it_exactly() -> None:
    command = build_command(one_run(grid=parse_grid(["agent.x=[1,2]"])), load_profile("demo"), SWEEP, "/py")
    assert TrainingCommand.from_dict(json.loads(json.dumps(command.to_dict()))) == command


def test_ballu_grid_points_get_their_own_common_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BALLU_PATH", "/home/u/ballu")
    runs = expand_runs(SweepSpec(task="Isc-BALLU", common_folder="study", seeds=(7,), grid=parse_grid(["env.k=1,2"])))
    folders = [build_command(run, load_profile("ballu"), SWEEP, "py").argv for run in runs]
    assert [argv[argv.index("--common_folder") + 1] for argv in folders] == ["study_k-1", "study_k-2"]


def test_isaac_lab_resume_patterns_select_only_the_runs_own_dir_and_file() -> None:
    """Isaac Lab applies --load_run/--checkpoint with re.match, taking the last match: seed 1 must not match seed 10."""
    command = build_command(one_run(seeds=(1,)), load_profile("demo"), SWEEP, "/py")
    argv = command.resume_argv((Path("/l/2026-01-01_00-00-00_study_seed1.x/model_4.pt"), 4))
    load_run, file = argv[argv.index("--load_run") + 1], argv[argv.index("--checkpoint") + 1]
    assert re.match(load_run, "2026-01-01_00-00-00_study_seed1.x")
    for other in ("2026-01-01_00-00-00_study_seed10.x", "2026-01-01_00-00-00_study_seed1-x", "x2026-01-01"):
        assert not re.match(load_run, other)
    assert re.match(file, "model_4.pt") and not re.match(file, "model_4.pt.bak") and not re.match(file, "model_4Xpt")
