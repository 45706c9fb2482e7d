"""sbatch's own spellings on the command line (``-p``, ``--mem 32G``, ``--gres``, ``--mail-type`` ...), no argparse
abbreviations, the job named for the study, and a top-level --help with examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli


def _script(tmp_path: Path, *flags: str) -> list[str]:
    result = run_cli("submit", "--seeds", "1", "--executor", "slurm", "--dry_run", "--output_dir",
                     str(tmp_path / "s"), "--common_folder", "lr_study", *flags)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "s").exists()
    return [line for line in result.stdout.splitlines() if line.startswith("#SBATCH")]


def test_sbatch_spellings_reach_the_script_as_sbatch_writes_them(tmp_path: Path) -> None:
    lines = _script(
        tmp_path, "-p", "gpu", "--mem", "32G", "--gres", "gpu:a100:1", "--nodelist", "node[01-02]",
        "--reservation", "res1", "--mail-type", "end,FAIL", "--mail-user", "me@lab.org",
    )  # fmt: skip
    for expected in ("--partition=gpu", "--mem=32GB", "--gres=gpu:a100:1", "--reservation=res1",
                     "--mail-type=END,FAIL", "--mail-user=me@lab.org", "--job-name=lr_study"):  # fmt: skip
        assert f"#SBATCH {expected}" in lines, (expected, lines)
    assert any(line.startswith("#SBATCH --nodelist=") and "node[01-02]" in line for line in lines)


@pytest.mark.parametrize(("given", "written"), [("16000M", "16000MB"), ("1.5G", "1536MB"), ("500", "500MB")])
def test_mem_in_sbatch_units_is_rounded_up_to_whole_megabytes(tmp_path: Path, given: str, written: str) -> None:
    assert f"#SBATCH --mem={written}" in _script(tmp_path, "--mem", given)


def test_the_job_name_can_be_set_and_defaults_to_the_common_folder(tmp_path: Path) -> None:
    assert "#SBATCH --job-name=lr_study" in _script(tmp_path)
    assert "#SBATCH --job-name=anymal-lr" in _script(tmp_path, "--job-name", "anymal-lr")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--mem", "32G", "--mem_gb", "4"], "give only one"),
        (["--mem", "lots"], "not a memory size"),
        (["--mail-type", "end,sometimes"], "Slurm mail types"),
        (["--mem_g", "4"], "unrecognized arguments"),  # no abbreviations: --mem_g is not --mem_gb
        (["--sbatch", "reservation=r"], "use --reservation"),
        (["--gres", "gpu:1\ntouch x"], "control character"),
    ],
)
def test_bad_spellings_are_one_line_errors_and_create_nothing(tmp_path: Path, flags: list[str], message: str) -> None:
    result = run_cli("submit", "--seeds", "1", "--executor", "slurm", "--dry_run", "--output_dir",
                     str(tmp_path / "s"), *flags)  # fmt: skip
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "s").exists()


def test_top_level_help_shows_examples_of_every_day_use() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert result.stdout.count("hpc-sweep submit") >= 2 and "hpc-sweep collect" in result.stdout
    assert "hpc-sweep compare" in result.stdout
