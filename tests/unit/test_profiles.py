"""Profiles are checked where they are read: every field's type and text, with one line naming file, key and fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hpc_sweep.errors import UsageError
from hpc_sweep.profiles import available_profiles, load_profile, parse_profile
from tests.conftest import run_cli

#: A profile's parsed TOML -> what the one-line error must say.
WRONG = [
    ({"description": 5}, "'description' must be a string"),
    ({"command": "python"}, "'command' must be a table"),
    ({"command": {"flags": 5}}, "[command] flags must be a list of flag names, got 5"),
    ({"command": {"flags": "headless"}}, "[command] flags must be a list of flag names"),
    ({"command": {"flags": ["headless", 1]}}, "[command] flags must be a list of flag names"),
    ({"command": {"launcher": 5}}, "[command] launcher must be a string or a list of strings, got 5"),
    ({"command": {"launcher": ["python", 5]}}, "[command] launcher must be a string or a list of strings"),
    ({"command": {"launcher": "python -c 'x"}}, "cannot be split into words (No closing quotation)"),
    ({"command": {"launcher": "python\nid"}}, "control character"),
    ({"command": {"script": ["train.py"]}}, "[command] script must be a string"),
    ({"command": {"workdir": True}}, "[command] workdir must be a string"),
    ({"command": {"workdir": "/x\n/y"}}, "[command] workdir '/x\\n/y' holds the control character"),
    ({"command": {"resume": 1}}, "[command] resume must be a string"),
    ({"command": {"resume": "sometimes"}}, "[command] resume: 'sometimes'; valid:"),
    ({"command": {"layout": ["isaaclab"]}}, "[command] layout must be a string"),
    ({"command": {"extra_args": "--video"}}, "[command] extra_args must be a list of strings"),
    ({"command": {"extra_args": ["--video", 3]}}, "[command] extra_args must be a list of strings"),
    ({"vars": {"image": 1}}, "[vars] image must be a string, got 1"),
    ({"vars": "x"}, "'vars' must be a table"),
    ({"slurm": {"python": 5}}, "[slurm] python must be a string, got 5"),
    ({"slurm": {"python": "venv/bin/python"}}, "[slurm] python 'venv/bin/python': give the absolute path"),
    ({"slurm": {"time": True}}, "[slurm] time True is not a time limit"),
    ({"slurm": {"time": 1.5}}, "[slurm] time 1.5 is not a time limit"),
    ({"slurm": {"mem_gb": True}}, "[slurm] mem_gb True is not a number"),
    ({"slurm": {"mem_gb": "32"}}, "[slurm] mem_gb '32' is not a number"),
    ({"slurm": {"cpus_per_task": 8.0}}, "[slurm] cpus_per_task 8.0: give a positive whole number"),
    ({"slurm": {"gpus_per_node": False}}, "[slurm] gpus_per_node False: give a non-negative whole number"),
    ({"slurm": {"partition": 5}}, "[slurm] partition must be a string, got 5"),
    ({"slurm": {"partition": "gpu\ntouch x"}}, "[slurm] partition 'gpu\\ntouch x' holds the control character"),
    ({"slurm": {"setup": "module load x"}}, "[slurm] setup must be a list of shell lines"),
    ({"slurm": {"setup": ["a", 1]}}, "[slurm] setup must be a string, got 1"),
    ({"slurm": {"setup": ["a\nb"]}}, "[slurm] setup 'a\\nb' holds the control character"),
    ({"slurm": {"additional_parameters": ["mail-type=END"]}}, "must be a table of sbatch options"),
    ({"slurm": {"additional_parameters": {"array": "0-9"}}}, "hpc-sweep sets --array itself"),
    ({"slurm": {"additional_parameters": {"mail-type": 1.5}}}, "give a string, an integer, or true"),
    ({"slurm": {"gpu": 1}}, "[slurm]: unknown key 'gpu'; valid keys:"),
]


@pytest.mark.parametrize(("data", "fragment"), WRONG, ids=lambda v: repr(v)[:50])
def test_a_field_of_the_wrong_type_or_text_names_file_key_and_what_it_takes(data: dict, fragment: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_profile(data, "bad", "/p/bad.toml")
    message = str(raised.value)
    assert message.startswith("profile /p/bad.toml") and fragment in message
    assert "\n" not in message


def test_every_shipped_profile_still_loads() -> None:
    profiles = available_profiles()
    assert {"demo", "isaaclab", "isaaclab_apptainer", "ballu", "local_test"} <= set(profiles)
    for path in profiles.values():
        assert load_profile(str(path)).source == str(path)


def test_a_launcher_given_as_one_string_is_split_like_a_shell_would() -> None:
    profile = parse_profile({"command": {"launcher": "apptainer exec 'my image.sif'"}}, "p", "p.toml")
    assert profile.launcher == ("apptainer", "exec", "my image.sif")
    assert load_profile("demo").with_overrides(launcher="./isaaclab.sh -p").launcher == ("./isaaclab.sh", "-p")
    with pytest.raises(UsageError, match="--launcher"):
        load_profile("demo").with_overrides(launcher="python -c 'x")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"\xff\xfe[command]\n", "is not UTF-8 text; save it as UTF-8"),
        (b"[command\n", "cannot be read as TOML"),
        (b"flags = 5\n", "unknown key 'flags'"),
        (b"[command]\nflags = 5\n", "[command] flags must be a list of flag names, got 5"),
        (b"[command]\npython = 5\n", "unknown key 'python'"),
        (b"[slurm]\npython = 5\n", "[slurm] python must be a string, got 5"),
        (b"[slurm]\ntime = true\n", "[slurm] time True is not a time limit"),
    ],
)
def test_a_broken_profile_file_is_one_line_exit_2_and_creates_nothing(
    content: bytes, fragment: str, tmp_path: Path
) -> None:
    profile = tmp_path / "mine.toml"
    profile.write_bytes(content)
    result = run_cli("submit", "--profile", str(profile), "--seeds", "1", "--executor", "local", "--output_dir",
                     str(tmp_path / "out"))  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and fragment in lines[0] and str(profile) in lines[0], result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.toml"]


def test_an_unreadable_profile_is_exit_2(tmp_path: Path) -> None:
    profile = tmp_path / "mine.toml"
    profile.write_text("[command]\n")
    profile.chmod(0)
    if os.access(profile, os.R_OK):
        pytest.skip("this user reads any file (root)")
    result = run_cli("submit", "--profile", str(profile), "--seeds", "1", "--executor", "local", "--dry_run")
    assert result.returncode == 2 and "cannot be read" in result.stderr and len(result.stderr.splitlines()) == 1
