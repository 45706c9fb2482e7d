"""Profiles are checked where they are read: every field's type and text, with one line naming file, key and fix."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from hpc_sweep import profiles as profiles_module
from hpc_sweep.errors import UsageError
from hpc_sweep.profiles import available_profiles, load_profile, parse_profile, profile_dirs, shipped_profile_dir
from tests.conftest import REPO, run_cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SHIPPED = {"demo", "isaaclab", "isaaclab_apptainer", "ballu", "local_test"}

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
    ({"slurm": {"additional_parameters": {"comment": 1.5}}}, "give a string, an integer, or true"),
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
    assert set(profiles) >= SHIPPED
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


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory outside the repository, with no $HPC_SWEEP_PROFILE_PATH: only shipped profiles are seen."""
    monkeypatch.delenv("HPC_SWEEP_PROFILE_PATH", raising=False)
    work = tmp_path / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def _profile(directory: Path, name: str, description: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.toml"
    path.write_text(f'description = "{description}"\n')
    return path


def test_the_shipped_profiles_are_package_data_found_from_any_directory(elsewhere: Path) -> None:
    """What a wheel install sees: the profiles inside the package, read through importlib.resources."""
    shipped = resources.files("hpc_sweep") / "slurm_templates"
    assert shipped_profile_dir() == shipped
    assert profile_dirs() == [shipped]
    found = available_profiles()
    assert set(found) == SHIPPED
    assert all(path.parent == shipped for path in found.values())
    assert load_profile("demo").source == str(shipped / "demo.toml")


def test_the_installed_package_sees_the_same_profiles_as_the_checkout(elsewhere: Path) -> None:
    """This interpreter's install of hpc_sweep (the editable one of `make install`), imported from outside the
    repository, finds the repository's profiles byte for byte (tests/packaging/check_wheel.sh does this for a wheel)."""
    code = (
        "import hashlib, hpc_sweep\n"
        "from hpc_sweep.profiles import available_profiles\n"
        "print(hpc_sweep.__file__)\n"
        "for name, path in sorted(available_profiles().items()):\n"
        "    print(name, hashlib.sha256(path.read_bytes()).hexdigest())\n"
    )
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "HPC_SWEEP_PROFILE_PATH")}
    result = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True)
    if "No module named 'hpc_sweep'" in result.stderr:
        pytest.skip("hpc_sweep is not installed in this interpreter (make install)")
    assert result.returncode == 0, result.stderr
    imported, *lines = result.stdout.splitlines()
    shipped = REPO / "slurm_templates"
    expected = [f"{p.stem} {hashlib.sha256(p.read_bytes()).hexdigest()}" for p in sorted(shipped.glob("*.toml"))]
    assert lines == expected, f"hpc_sweep imported from {imported}"


def test_the_top_level_slurm_templates_is_the_shipped_directory_so_the_two_never_drift(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The copy users look at in a checkout is a relative link to the package's directory: one set of files."""
    top = REPO / "slurm_templates"
    assert top.is_symlink(), "slurm_templates must be a link to hpc_sweep/slurm_templates (one copy, no drift)"
    assert os.readlink(top) == os.path.join("hpc_sweep", "slurm_templates")
    assert top.resolve() == (REPO / "hpc_sweep" / "slurm_templates").resolve()
    assert top.resolve() == Path(str(resources.files("hpc_sweep") / "slurm_templates")).resolve()
    monkeypatch.delenv("HPC_SWEEP_PROFILE_PATH", raising=False)
    monkeypatch.chdir(REPO)
    assert len(profile_dirs()) == 1  # ./slurm_templates and the shipped directory are one directory
    assert set(available_profiles()) == SHIPPED


def test_every_file_in_the_shipped_directory_is_declared_package_data() -> None:
    """A profile added to the directory but not matched by pyproject's package-data would be missing from wheels."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["hpc_sweep"]
    shipped = REPO / "hpc_sweep" / "slurm_templates"
    names = sorted(path.name for path in shipped.iterdir())
    assert {Path(name).stem for name in names} >= SHIPPED
    for name in names:
        assert any(fnmatch.fnmatch(f"slurm_templates/{name}", pattern) for pattern in patterns), name


def test_profile_path_then_working_directory_then_shipped(elsewhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """$HPC_SWEEP_PROFILE_PATH (its directories in order) shadows ./slurm_templates, which shadows the shipped ones."""
    assert load_profile("demo").description.startswith("Built-in Demo-PointMass-v0")
    _profile(elsewhere / "slurm_templates", "demo", "from the working directory")
    _profile(elsewhere / "slurm_templates", "mine", "only here")
    assert load_profile("demo").description == "from the working directory"
    first, second = elsewhere.parent / "first", elsewhere.parent / "second"
    _profile(second, "demo", "from the second path entry")
    monkeypatch.setenv("HPC_SWEEP_PROFILE_PATH", os.pathsep.join([str(first), str(second)]))
    assert load_profile("demo").description == "from the second path entry"  # a missing entry is skipped
    _profile(first, "demo", "from the first path entry")
    assert load_profile("demo").description == "from the first path entry"
    assert load_profile("mine").description == "only here"
    assert load_profile("isaaclab").source == str(shipped_profile_dir() / "isaaclab.toml")
    assert profile_dirs() == [first, second, elsewhere / "slurm_templates", shipped_profile_dir()]


def test_an_install_without_profiles_says_where_it_looked(elsewhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profiles_module, "shipped_profile_dir", lambda: None)
    with pytest.raises(UsageError, match=r"'demo' is unknown; available: none found \(searched: no profile direc"):
        load_profile("demo")
    (elsewhere / "slurm_templates").mkdir()
    with pytest.raises(UsageError, match=r"none found \(searched: .*elsewhere.slurm_templates\)"):
        load_profile("demo")
