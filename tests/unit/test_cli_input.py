"""The command line as a user types it: the seed script's flags, dry runs, and bad input (exit 2, nothing created)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from hpc_sweep.cli_args import build_parser, split_passthrough
from tests.conftest import run_cli

DEMO = "Demo-PointMass-v0"

#: Every example command of the seed README, with the demo task substituted where a task is named.
SEED_EXAMPLES = [
    f"--task {DEMO} --seeds 42 123 456 789 999 --max_iterations 2000",
    f"--task {DEMO} --seeds 42 123 --max_iterations 500 --num_envs 2048",
    f'--task {DEMO} --seeds 42 123 456 --common_folder "base_frame_study" --max_iterations 1000',
    f'--task {DEMO} --seeds 42 123 456 --common_folder "world_frame_study" --max_iterations 1000 --world',
    f'--task {DEMO} --seeds 1 2 3 4 5 --max_iterations 3000 --num_envs 8192 --common_folder "ballu_performance_study"'
    ' --output_dir "experiments/ballu_2024" --additional_args "--video" "--video_interval" "1000"',
    "--seeds 1 2 3 4 5 6 7 8 9 10 --max_iterations 2000",
    '--num_envs 2048 --common_folder "env_2k" --seeds 42 123 456',
    '--num_envs 8192 --common_folder "env_8k" --seeds 42 123 456',
    '--common_folder "baseline" --seeds 1 2 3 4 5',
    '--common_folder "world_frame" --world --seeds 1 2 3 4 5',
    '--max_iterations 500 --common_folder "short_train"',
    '--max_iterations 5000 --common_folder "long_train"',
    f"--task {DEMO} --seeds 42 123 456 789 999 --max_iterations 2000 --common_folder baseline_base_frame"
    ' --output_dir "results/reward_comparison"',
    '--additional_args "--device" "cuda:0" --seeds 42',
]


def _seed_values(argv: list[str], flag: str, default: list[str]) -> list[str]:
    if flag not in argv:
        return default
    values = []
    for token in argv[argv.index(flag) + 1 :]:
        if token.startswith("--"):
            break
        values.append(token)
    return values


@pytest.mark.parametrize("example", SEED_EXAMPLES)
def test_seed_readme_examples_dry_run_print_each_command_and_create_nothing(example: str, tmp_path: Path) -> None:
    argv = shlex.split(example)
    result = run_cli("submit", *argv, "--executor", "local", "--dry_run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []
    seeds = _seed_values(argv, "--seeds", ["42", "123", "456", "789", "999"])
    commands = [shlex.split(line) for line in result.stdout.splitlines() if "hpc_sweep.demo.train" in line]
    assert len(commands) == len(seeds)
    for seed, command in zip(seeds, commands, strict=True):
        assert command[command.index("--seed") + 1] == seed
        assert command[command.index("--task") + 1] == DEMO
        expected_iterations = _seed_values(argv, "--max_iterations", ["1000"])[0]
        assert command[command.index("--max_iterations") + 1] == expected_iterations
        assert command[command.index("--num_envs") + 1] == _seed_values(argv, "--num_envs", ["4096"])[0]
        assert "--headless" in command
        assert ("--world" in command) == ("--world" in argv)
        if "--additional_args" in argv:
            start = argv.index("--additional_args") + 1
            passed = [t for t in argv[start:] if t not in ("--seeds", "42")]
            assert command[-len(passed) :] == passed


def test_seed_script_invocation_without_verb_means_submit(tmp_path: Path) -> None:
    result = run_cli("--seeds", "5", "--max-iterations", "3", "--executor", "local", "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "--max_iterations 3" in result.stdout


def test_additional_args_take_dashed_values_until_the_next_known_flag() -> None:
    parser = build_parser()
    argv = ["submit", "--additional_args", "--video", "--video_interval", "1000", "--seeds", "1", "--", "--x=1"]
    args = parser.parse_args(split_passthrough(argv, parser))
    assert args.additional_args == ["--video", "--video_interval", "1000", "--x=1"]
    assert args.seeds == [1]


BAD_INPUTS = [
    (["--seeds", "1", "x"], "invalid int"),
    (["--seeds", "1", "1"], "repeats"),
    (["--max_iterations", "0"], "--max_iterations"),
    (["--num_envs", "-4"], "--num_envs"),
    (["--executor", "kubernetes"], "invalid choice"),
    (["--task", ""], "--task"),
    (["--grid", "num_envs"], "malformed"),
    (["--grid", "num_envs=1,x"], "integers"),
    (["--profile", "no_such_profile"], "unknown"),
    (["--profile", "missing/file.toml"], "no such file"),
    (["--max_parallel", "0"], "positive"),
    (["--common_folder", "../escape"], "--common_folder"),
    (["--executor", "slurm", "--time", "1h"], "not a Slurm time"),
    (["--executor", "slurm", "--gpus_per_node", "-1"], "non-negative"),
    (["--executor", "slurm", "--sbatch", "mail-type"], "KEY=VALUE"),
    (["--max_requeues", "-1"], "--max_requeues"),
    (["--runs_per_gpu", "0"], "positive"),
    (["--runs_per_gpu", "2", "--gpus_per_run", "2"], "only one of them"),
    (["--common_folder", ".."], "--common_folder"),
    (["--launcher", "python -c 'x"], "--launcher"),
    (["--", "--max_iterations", "999"], "use --max_iterations"),
    (["--executor", "slurm", "--mem_gb", "nan"], "--mem_gb"),
    (["--executor", "slurm", "--partition", "gpu\ntouch pwned.txt #"], "--partition"),
    (["--executor", "slurm", "--sbatch", "array=0-99"], "--array"),
]


@pytest.mark.parametrize(("args", "fragment"), BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_and_creates_nothing(args: list[str], fragment: str, tmp_path: Path) -> None:
    result = run_cli("submit", "--executor", "local", "--output_dir", "out", *args, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_existing_sweep_is_not_overwritten_without_resume(tmp_path: Path) -> None:
    sweep = tmp_path / "out"
    sweep.mkdir()
    (sweep / "sweep.json").write_text('{"runs": []}')
    result = run_cli("submit", "--executor", "local", "--output_dir", str(sweep), "--seeds", "1", cwd=tmp_path)
    assert result.returncode == 2
    assert "--resume" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert (sweep / "sweep.json").read_text() == '{"runs": []}'
    assert sorted(p.name for p in sweep.iterdir()) == ["sweep.json"]


def test_collect_of_a_missing_path_is_exit_2(tmp_path: Path) -> None:
    result = run_cli("collect", str(tmp_path / "nope"))
    assert result.returncode == 2 and "does not exist" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("collect", str(empty))
    assert result.returncode == 2 and "no training runs" in result.stderr


def test_profiles_lists_the_shipped_profiles() -> None:
    result = run_cli("profiles")
    assert result.returncode == 0
    for name in ("demo", "isaaclab", "isaaclab_apptainer", "ballu"):
        assert name in result.stdout
