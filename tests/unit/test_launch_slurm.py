"""Slurm parameters: what each flag and profile key becomes, array splitting, and bad values refused up front."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hpc_sweep.command import JobRequest, TrainingCommand
from hpc_sweep.errors import UsageError
from hpc_sweep.launch.sacct import _parse
from hpc_sweep.launch.slurm import chunks, parse_time_minutes, sbatch_script, slurm_parameters
from hpc_sweep.profiles import load_profile
from tests.conftest import run_cli


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("30", 30), ("90:30", 91), ("04:00:00", 240), ("1-00", 1440), ("2-03:30", 3090), ("0-00:00:30", 1), (15, 15)],
)
def test_slurm_time_formats_become_minutes(text: str | int, minutes: int) -> None:
    assert parse_time_minutes(text) == minutes


@pytest.mark.parametrize("text", ["1h", "04:00:00:00", "-5", "0", "00:00:00", "", "1-", 0])
def test_times_slurm_would_reject_are_usage_errors(text: str | int) -> None:
    with pytest.raises(UsageError, match="time"):
        parse_time_minutes(text)


def test_generic_names_map_to_submitit_parameters() -> None:
    params = slurm_parameters(
        {
            "partition": "gpu",
            "account": "rl-lab",
            "qos": "high",
            "time": "02:00:00",
            "gpus_per_node": 1,
            "cpus_per_task": 8,
            "mem_gb": 32,
            "constraint": "a100",
            "exclude": "node13",
            "array_parallelism": 10,
            "setup": ["module load cuda"],
            "additional_parameters": {"comment": "lr_study"},
            "python": "/opt/venv/bin/python",
        }
    )
    assert params == {
        "partition": "gpu",
        "account": "rl-lab",
        "qos": "high",
        "time": 120,
        "gpus_per_node": 1,
        "cpus_per_task": 8,
        "mem": "32GB",
        "constraint": "a100",
        "exclude": "node13",
        "array_parallelism": 10,
        "setup": ["module load cuda"],
        "additional_parameters": {"comment": "lr_study"},
    }


@pytest.mark.parametrize(
    "resources",
    [{"gpus_per_node": -1}, {"cpus_per_task": 2.5}, {"mem_gb": 0}, {"gpu": 1}, {"setup": "module load x"}],
)
def test_bad_resources_are_usage_errors(resources: dict) -> None:
    with pytest.raises(UsageError):
        slurm_parameters(resources)


def test_sbatch_script_holds_the_array_the_resources_and_quoted_paths(tmp_path: Path) -> None:
    params = slurm_parameters({**load_profile("isaaclab").slurm, "partition": "gpu", "array_parallelism": 4})
    folder = str(tmp_path / "my sweep" / "submitit" / "%j")
    script = sbatch_script(folder, params, "/opt/my env/bin/python", 12)
    assert "#SBATCH --array=0-11%4" in script
    assert "#SBATCH --partition=gpu" in script
    assert "#SBATCH --gpus-per-node=1" in script
    assert "#SBATCH --time=1440" in script
    assert "#SBATCH --signal=USR2@120" in script
    assert "'/opt/my env/bin/python' -u -m submitit.core._submit" in script


def test_arrays_are_split_at_max_array_size() -> None:
    command = TrainingCommand(("x",), "T", 1, 10, 4, (), (), "/s", "isaaclab")
    requests = [JobRequest("/s", f"{i:04d}", command, "n", "c", "isaaclab") for i in range(2500)]
    parts = chunks(requests, 1001)
    assert [len(p) for p in parts] == [1001, 1001, 498]
    assert [r.run_id for p in parts for r in p] == [r.run_id for r in requests]


def test_sacct_output_is_parsed_per_array_task() -> None:
    text = "100_0|COMPLETED\n100_1|CANCELLED by 0\n100_[2-4,7%2]|PENDING\n101|RUNNING\n"
    states = _parse(text)
    assert states == {
        "100_0": "COMPLETED",
        "100_1": "CANCELLED",
        "100_2": "PENDING",
        "100_3": "PENDING",
        "100_4": "PENDING",
        "100_7": "PENDING",
        "101": "RUNNING",
    }


def test_runs_per_gpu_packs_runs_into_fewer_array_tasks_in_the_dry_run(tmp_path: Path) -> None:
    result = run_cli(
        "submit", "--executor", "slurm", "--profile", "local_test", "--seeds", "1", "2", "3", "4", "5",
        "--runs_per_gpu", "2", "--gpus_per_node", "1", "--dry_run", "--output_dir", str(tmp_path / "s"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "#SBATCH --array=0-2" in result.stdout  # 5 runs in packs of 2: 3 jobs
    assert "#SBATCH --gpus-per-node=1" in result.stdout
    assert "each Slurm job runs 2 runs at once" in result.stdout
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    ("folder", "params", "python", "fragment"),
    [
        ("/s/submitit/%j", {"partition": "gpu\nid"}, "/p", "--partition"),
        ("/s/submitit/%j", {"additional_parameters": {"array": "1"}}, "/p", "--array itself"),
        ("/s/submitit/%j", {"mem": "0MB"}, "/p", "--mem_gb"),
        ("/s/submitit/%j", {"time": 10**9}, "/p", "over a year"),
        ("/s/submitit/%j", {"setup": ["ok", "a\nb"]}, "/p", "control character"),
        ("/s/submitit/%j", {"wrap": "id"}, "/p", "unknown Slurm setting"),
        ("/s/submitit/%j", {}, "/p\nid", "control character"),
        ("/s/submitit/%j", {}, "~/venv/bin/python", "absolute path"),
        ("/s%u/submitit/%j", {}, "/p", "'%'"),
        ("s/submitit/%j", {}, "/p", "absolute"),
    ],
)
def test_a_script_is_not_written_from_settings_that_were_edited_into_the_manifest(
    folder: str, params: dict, python: str, fragment: str
) -> None:
    """resubmit rebuilds the launcher from sweep.json: its values are checked again before a script is written."""
    with pytest.raises(UsageError, match=re.escape(fragment)):
        sbatch_script(folder, params, python, 2)


def _stub(bin_dir: Path, name: str, output: str, code: int = 0) -> None:
    script = bin_dir / name
    script.write_text(f"#!/bin/sh\nprintf '%s' '{output}'\nexit {code}\n")
    script.chmod(0o755)


@pytest.mark.parametrize(
    ("sacct", "squeue", "expected"),
    [
        ("", "41_0|PENDING\n41_1|PENDING\n", {"41_0": "PENDING", "41_1": "PENDING"}),  # slurmdbd has not caught up
        ("41_0|COMPLETED\n", "41_1|RUNNING\n", {"41_0": "COMPLETED", "41_1": "RUNNING"}),  # one ended, one live
        ("", "", {}),  # asked, and there is none
    ],
)
def test_a_submission_just_sent_is_found_by_name_before_sacct_knows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sacct: str, squeue: str, expected: dict
) -> None:
    from hpc_sweep.launch.sacct import jobs_named

    _stub(tmp_path, "sacct", sacct)
    _stub(tmp_path, "squeue", squeue)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert jobs_named("study.abc123.s001", "2026-12-03T12:00:00") == expected


def test_no_answer_from_either_is_an_open_question(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hpc_sweep.launch.sacct import jobs_named

    _stub(tmp_path, "sacct", "", code=1)
    _stub(tmp_path, "squeue", "", code=1)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    assert jobs_named("study.abc123.s001", "2026-12-03T12:00:00") is None
