"""Nothing reaches the sbatch script unchecked: for any text in any field, either a one-line UsageError or a script
whose shell lines are exactly ours, and which, run by bash, starts nothing but srun and the node's Python."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hpc_sweep.errors import UsageError
from hpc_sweep.launch.slurm import sbatch_script, slurm_parameters
from tests.conftest import run_cli

#: Pieces an attacker (or a slip of the keyboard) would use to get a command into the script.
HOSTILE = st.sampled_from(
    ["\n", "\r", "\x00", "\t", "'", '"', "$(touch pwned.txt)", "`touch pwned.txt`", "; touch pwned.txt #", "\\",
     " ", "#", "%", "\u2028", "\x1b[2J", "gpu", "a100", "node[01-02]", "comment", "END", "-", "_", "~"]
)  # fmt: skip
#: Any text at all, and text a shell would find interesting but which holds no control character.
TEXT = st.one_of(
    st.lists(st.one_of(st.text(max_size=8), HOSTILE), max_size=4).map("".join),
    st.lists(
        st.one_of(
            st.text(st.characters(categories=["L", "N", "P", "S", "Zs"]), max_size=6),
            st.sampled_from(["$(touch pwned.txt)", "`touch pwned.txt`", "'", '"', "; touch pwned.txt #", "#", "\\"]),
        ),
        max_size=4,
    ).map("".join),
)
NUMBER = st.one_of(st.integers(-3, 5000), st.booleans(), st.floats(allow_nan=True), TEXT)
#: sbatch options users may set, those the tool writes itself (and their abbreviations and spellings), and anything.
SBATCH_KEY = st.one_of(
    st.sampled_from(["begin", "comment", "gpus", "exclusive", "--licenses", "wckey_x"]),
    st.sampled_from(["array", "output", "error", "job-name", "open-mode", "signal", "nodes", "requeue", "chdir",
                     "partition", "time", "mem", "part", "arr", "o", "job_name", "--array"]),
    TEXT,
)  # fmt: skip
#: A valid value of every resource; each example replaces some of them by anything at all.
VALID: dict[str, Any] = {
    "partition": "gpu,debug",
    "account": "rl-lab",
    "qos": "high",
    "constraint": "a100&ib",
    "exclude": "node[01-02],gpu7",
    "time": "04:00:00",
    "gpus_per_node": 1,
    "cpus_per_task": 8,
    "array_parallelism": 4,
    "mem_gb": 32,
    "additional_parameters": {"comment": "lr study"},
    "setup": ["module load cuda/12.4"],
    "python": "/opt/venv/bin/python",
}


def near(valid: str) -> st.SearchStrategy[str]:
    """``valid`` with a hostile piece (or any text) slipped in somewhere: the values that nearly pass."""
    inserted = st.builds(lambda at, piece: valid[:at] + piece + valid[at:], st.integers(0, len(valid)), HOSTILE)
    return st.one_of(inserted, TEXT, st.builds(lambda text: valid + text, TEXT))


ANYTHING = {
    **{key: near(VALID[key]) for key in ("partition", "account", "qos", "constraint", "exclude", "python")},
    "time": st.one_of(near("04:00:00"), st.integers(-5, 10**8), st.booleans()),
    **dict.fromkeys(("gpus_per_node", "cpus_per_task", "array_parallelism"), NUMBER),
    "mem_gb": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2, 10**7), st.booleans()),
    "additional_parameters": st.dictionaries(
        SBATCH_KEY, st.one_of(near("END"), st.integers(), st.booleans()), min_size=1, max_size=2
    ),
    "setup": st.lists(near("module load cuda/12.4"), min_size=1, max_size=3),
}


BOUNDED = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PER_FIELD = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_one_line(error: UsageError) -> None:
    message = str(error)
    assert message and "\n" not in message and "\r" not in message and len(message.splitlines()) == 1


def parse_script(script: str, setup: list[str] | None) -> tuple[dict[str, str | bool], list[str]]:
    """The script's ``#SBATCH`` options (each once, each value exactly one shell word) and its shell lines, after
    checking that the script is exactly: header, options, the setup lines as given, the two command lines."""
    lines = script.split("\n")
    assert lines[:3] == ["#!/bin/bash", "", "# Parameters"]
    count = next(i for i, line in enumerate(lines[3:]) if not line.startswith("#SBATCH"))
    options: dict[str, str | bool] = {}
    for line in lines[3 : 3 + count]:
        assert line.startswith("#SBATCH --"), line
        key, sep, value = line[len("#SBATCH --") :].partition("=")
        assert key not in options and key and all(c.isascii() and (c.isalnum() or c == "-") for c in key), line
        words = shlex.split(value) if sep else []
        assert not sep or len(words) == 1, f"{line!r} is not one word"
        options[key] = words[0] if sep else True
    setup_section = ["", "# setup", *setup] if setup is not None else []
    tail = lines[3 + count :]
    assert tail[: len(setup_section)] == setup_section
    assert tail[len(setup_section) :][:3] == ["", "# command", "export SUBMITIT_EXECUTOR=slurm"]
    assert tail[len(setup_section) + 4 :] == [""]
    return options, tail[len(setup_section) + 3 : len(setup_section) + 4]


def srun_argv(folder: str, python: str) -> list[str]:
    logs = folder.replace("%j", "%A_%a") + "/" + "%A_%a_%t_log."
    return ["srun", "--unbuffered", "--output", logs + "out", "--error", logs + "err",
            python, "-u", "-m", "submitit.core._submit", folder]  # fmt: skip


def script_or_error(resources: dict[str, Any], folder: str, python: str, count: int = 3) -> str | None:
    """The script for these inputs, or None after checking that the refusal is a one-line UsageError."""
    try:
        params = slurm_parameters(resources)
        return sbatch_script(folder, params, python, count)
    except UsageError as error:
        assert_one_line(error)
        return None


@pytest.mark.parametrize("field", sorted(ANYTHING))
@PER_FIELD
@given(data=st.data())
def test_any_resource_value_is_refused_in_one_line_or_lands_as_one_sbatch_word(field: str, data: st.DataObject) -> None:
    """One resource at a time holds anything (the others are valid, or absent), so most examples reach a script."""
    kept = data.draw(st.sets(st.sampled_from(sorted(VALID))), label="kept")
    resources = {**{key: VALID[key] for key in kept}, field: data.draw(ANYTHING[field], label=field)}
    folder, python = "/scratch/my sweep/submitit/%j", "/opt/venv/bin/python"
    script = script_or_error(resources, folder, python)
    if script is None:
        return
    options, (srun,) = parse_script(script, resources.get("setup"))
    assert shlex.split(srun) == srun_argv(folder, python)
    for name in ("partition", "account", "qos", "constraint", "exclude"):
        if name in resources:
            assert options[name] == resources[name]
    extra = {k.lstrip("-").replace("_", "-"): v for k, v in resources.get("additional_parameters", {}).items()}
    for key, value in extra.items():
        assert options[key] == (True if value is True else str(value))
    assert options["array"].startswith("0-2%") and int(options["array"].split("%")[1]) >= 1
    assert options["output"] == "/scratch/my sweep/submitit/%A_%a/%A_%a_0_log.out"
    assert options["error"] == "/scratch/my sweep/submitit/%A_%a/%A_%a_0_log.err"
    assert (options["job-name"], options["open-mode"], options["nodes"]) == ("hpc_sweep", "append", "1")
    assert options["signal"].startswith("USR2@") and "requeue" not in options and "chdir" not in options
    if "mem" in options:
        assert options["mem"].endswith(("GB", "MB")) and int(options["mem"][:-2]) >= 1
    if "time" in options:
        assert 1 <= int(options["time"]) <= 365 * 24 * 60


def _stubs(directory: Path) -> dict[str, str]:
    """``srun`` that logs its argv and runs the rest of it, as Slurm would; PATH holds nothing else."""
    (directory / "bin").mkdir()
    srun = directory / "bin" / "srun"
    srun.write_text('#!/bin/bash\nprintf "%s\\0" "$@" > "$STUB_LOG.srun"\nshift 5\nexec "$@"\n')
    srun.chmod(0o755)
    return {"PATH": str(directory / "bin"), "STUB_LOG": str(directory / "log")}


def _stub_python(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('#!/bin/bash\nprintf "%s\\0" "$@" > "$STUB_LOG.python"\n')
    path.chmod(0o755)


#: What an injection would look like, to be slipped into one value at a time.
INJECTION = st.one_of(
    st.sampled_from(
        ["\n", "\r\n", "\ntouch pwned.txt #", "'\ntouch pwned.txt\n'", "$(touch pwned.txt)", "`touch pwned.txt`",
         "; touch pwned.txt #", "' ; touch pwned.txt ; '", '"; touch pwned.txt; "', "\x00", "%"]
    ),
    TEXT,
)  # fmt: skip
#: Where a value lands in the script: the placement flags, an --sbatch option, the sweep dir, the node's Python.
PLACES = ["partition", "account", "qos", "constraint", "exclude", "sbatch value", "sbatch key", "sweep dir", "python"]


@BOUNDED
@given(place=st.sampled_from(PLACES), injection=INJECTION, at=st.integers(0, 12))
def test_running_the_script_under_bash_starts_only_srun_and_the_nodes_python(
    place: str, injection: str, at: int
) -> None:
    """bash runs the script with only the stub ``srun`` on PATH: an injected command would fail loudly (command not
    found, on stderr), leave a file, or change what srun and the stub Python were given."""
    values = {"partition": "gpu", "account": "lab", "qos": "high", "constraint": "a100", "exclude": "node1",
              "sbatch value": "END", "sbatch key": "comment", "sweep dir": "sweep", "python": "venv"}  # fmt: skip
    value = values[place][:at] + injection + values[place][at:]
    if place in ("sweep dir", "python"):  # directory names: any bytes but '/' and NUL
        value = value.replace("/", "_").replace("\x00", "_")
        assume(value not in (".", "..") and len(value.encode()) < 200)
    values[place] = value
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = str(root / values["sweep dir"] / "submitit" / "%j")
        python = root / values["python"] / "python"
        _stub_python(python)
        resources = {key: values[key] for key in ("partition", "account", "qos", "constraint", "exclude")}
        resources["additional_parameters"] = {values["sbatch key"]: values["sbatch value"]}
        resources["setup"] = ['printf ok > "$STUB_LOG.setup"']
        script = script_or_error(resources, folder, str(python))
        if script is None:
            return
        env = _stubs(root)
        work = root / "work"
        work.mkdir()
        result = subprocess.run(["/bin/bash", "-c", script], cwd=work, env=env, capture_output=True, timeout=30)
        assert (result.returncode, result.stderr) == (0, b"")
        srun = (root / "log.srun").read_bytes().split(b"\0")[:-1]
        assert [os.fsdecode(a) for a in srun] == srun_argv(folder, str(python))[1:]
        ran = (root / "log.python").read_bytes().split(b"\0")[:-1]
        assert [os.fsdecode(a) for a in ran] == ["-u", "-m", "submitit.core._submit", folder]
        assert (root / "log.setup").read_text() == "ok"
        expected = {"bin", "work", values["python"], "log.setup", "log.srun", "log.python"}
        assert {p.name for p in root.iterdir()} == expected
        assert list(work.iterdir()) == [] and not list(root.rglob("pwned.txt"))


# --- The probe's cases through the real command line: exit 2, one line on stderr, nothing created. ---

SLURM_CASES = [
    (["--partition", "gpu\ntouch pwned.txt #"], "--partition"),
    (["--account", "lab\nid"], "--account"),
    (["--qos", "high\rid"], "--qos"),
    (["--constraint", "a100\n$(id)"], "--constraint"),
    (["--exclude", "node1\nid"], "--exclude"),
    (["--partition", "gpu;id"], "not a partition name"),
    (["--sbatch", "comment=END\ntouch pwned.txt"], "control character"),
    (["--sbatch", "mail\ntype=END"], "control character"),
    (["--sbatch", "Mail-Type=END"], "not an sbatch option name"),
    (["--sbatch", "array=0-99"], "--array_parallelism"),
    (["--sbatch", "output=~/other.out"], "--output itself"),
    (["--sbatch", "job-name=x"], "--job-name itself"),
    (["--sbatch", "partition=gpu"], "use --partition"),
    (["--sbatch", "mem=4G"], "use --mem"),
    (["--sbatch", "part=gpu"], "abbreviates --partition"),
    (["--sbatch", "requeue=1"], "--max_requeues"),
    (["--setup", "module load cuda\ntouch pwned.txt"], "--setup"),
    (["--setup", "#SBATCH --array=0-99"], "--sbatch KEY=VALUE"),
    (["--slurm_python", "/usr/bin/python3\ntouch pwned.txt"], "--slurm_python"),
    (["--slurm_python", "venv/bin/python"], "absolute path"),
    (["--mem_gb", "nan"], "--mem_gb"),
    (["--mem_gb", "inf"], "--mem_gb"),
    (["--mem_gb", "0"], "--mem_gb"),
    (["--array_parallelism", "0"], "--array_parallelism"),
    (["--cpus_per_task", "0"], "--cpus_per_task"),
    (["--gpus_per_node", "-1"], "non-negative"),
    (["--time", "99999999999999999999"], "over a year"),
    (["--time", "0"], "--time"),
    (["--output_dir", "sweep%A"], "'%'"),
]


@pytest.mark.parametrize(("args", "fragment"), SLURM_CASES, ids=lambda v: repr(v)[:40])
def test_hostile_slurm_flags_are_one_line_exit_2_and_create_nothing(
    args: list[str], fragment: str, tmp_path: Path
) -> None:
    base = ["submit", "--seeds", "1", "--executor", "slurm", "--dry_run", "--output_dir", "out"]
    result = run_cli(*base, *args, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hpc-sweep: error: ") and fragment in lines[0], result.stderr
    assert "#SBATCH" not in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_tiny_memory_is_rounded_up_to_a_whole_megabyte_never_0mb(tmp_path: Path) -> None:
    result = run_cli(
        "submit", "--seeds", "1", "--executor", "slurm", "--dry_run", "--output_dir", "out", "--mem_gb", "0.0001",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "#SBATCH --mem=1MB" in result.stdout
    assert slurm_parameters({"mem_gb": 1.1})["mem"] == "1127MB"  # 1126.4 MB, rounded up
    assert slurm_parameters({"mem_gb": 0.5})["mem"] == "512MB"


def test_a_profile_time_of_true_is_refused(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text('[command]\nscript = "hpc_sweep.demo.train"\n[slurm]\ntime = true\n')
    result = run_cli("submit", "--profile", str(profile), "--executor", "slurm", "--dry_run", "--seeds", "1",
                     "--output_dir", str(tmp_path / "out"))  # fmt: skip
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "[slurm] time True is not a time limit" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.toml"]


def test_a_real_sbatch_option_that_starts_like_an_owned_one_is_kept() -> None:
    """``--gpus`` is sbatch's own option (total GPUs), not an abbreviation of ``--gpus-per-node``."""
    script = sbatch_script("/s/submitit/%j", slurm_parameters({"additional_parameters": {"gpus": "2"}}), "/p", 1)
    assert "#SBATCH --gpus=2" in script
