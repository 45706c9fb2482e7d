"""Broken sweep dirs and odd arguments end in one line, never a traceback: exit 1 for a broken sweep dir (the line
names the file and what is wrong), exit 2 for bad input; nothing is created or overwritten. And ``status --watch``
stops once no run is in progress, also for a sweep that had ended (or stopped) before it was watched."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hpc_sweep.cli import main
from tests.conftest import run_cli

pytestmark = pytest.mark.integration

DEMO = ["--task", "Demo-PointMass-v0", "--seeds", "5", "6", "--max_iterations", "10", "--num_envs", "32"]
DEMO += ["--executor", "local"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real, completed two-run demo sweep (never modified: each test breaks its own copy)."""
    path = tmp_path_factory.mktemp("broken") / "sweep"
    result = run_cli("submit", *DEMO, "--output_dir", str(path))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return path


def _copy(sweep: Path, to: Path) -> Path:
    shutil.copytree(sweep, to, symlinks=True)
    return to


def _edit_json(path: Path, change: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


#: name -> (file to break, relative to the sweep dir; new content or an edit; what the error line says)
BREAKAGES: dict[str, tuple[str, str | Callable[[dict], None], str]] = {
    "sweep.json holds []": ("sweep.json", "[]", "sweep.json is broken: it holds a JSON list, not a sweep manifest"),
    "sweep.json holds {}": ("sweep.json", "{}", 'sweep.json is broken: it has no "runs"'),
    "sweep.json is not JSON": ("sweep.json", '{"runs": [', "sweep.json is broken: not valid JSON"),
    "a run without run_id": (
        "sweep.json",
        lambda manifest: manifest["runs"][1].pop("run_id"),
        'sweep.json is broken: run #2 has no "run_id"',
    ),
    "record.json holds a list": ("runs/0001/record.json", "[]", "record.json is broken: it holds a JSON list"),
    "record.json holds a number": ("runs/0001/record.json", "7", "record.json is broken: it holds a number"),
    "record.json is not JSON": ("runs/0001/record.json", '{"run_id": "00', "record.json is broken: not valid JSON"),
}

VERBS: dict[str, Callable[[Path, Path], list[str]]] = {
    "status": lambda broken, good: ["status", str(broken)],
    "status --watch": lambda broken, good: ["status", str(broken), "--watch", "0.1"],
    "collect": lambda broken, good: ["collect", str(broken)],
    "resubmit": lambda broken, good: ["resubmit", str(broken), "--failed"],
    "cancel": lambda broken, good: ["cancel", str(broken)],
    "compare": lambda broken, good: ["compare", str(broken), str(good)],
    "submit --resume": lambda broken, good: ["submit", *DEMO, "--output_dir", str(broken), "--resume"],
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_a_broken_sweep_dir_is_one_line_naming_the_file_for_every_verb(
    sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], breakage: str
) -> None:
    name, damage, said = BREAKAGES[breakage]
    broken = _copy(sweep, tmp_path / "broken")
    if callable(damage):
        _edit_json(broken / name, damage)
    else:
        (broken / name).write_text(damage)
    before = _snapshot(broken)
    for verb, argv in VERBS.items():
        capsys.readouterr()
        status = main(argv(broken, sweep))
        err = capsys.readouterr().err
        assert status == 1, f"{verb}: exit {status}, {err}"
        assert err.count("\n") == 1 and err.startswith(f"hpc-sweep: {broken / name} is broken: "), f"{verb}: {err}"
        assert said in err, f"{verb}: {err}"
        assert _snapshot(broken) == before, f"{verb} changed the broken sweep dir"


def test_an_unknown_executor_in_the_manifest_is_one_line_naming_it(
    sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """(``submit --resume`` tells first that ``--executor`` differs from the recorded one: exit 2, its own line.)"""
    broken = _copy(sweep, tmp_path / "broken")
    _edit_json(broken / "sweep.json", lambda manifest: manifest.update(executor="pbs"))
    for verb in ("status", "collect", "resubmit", "cancel", "compare"):
        assert main(VERBS[verb](broken, sweep)) == 1
        assert capsys.readouterr().err == (
            f"hpc-sweep: {broken / 'sweep.json'} is broken: its executor 'pbs' is none of slurm, local, debug; "
            "restore it from a backup or from a copy of the sweep dir\n"
        )


def test_resubmit_of_a_run_whose_planned_command_is_gone_names_the_manifest(
    sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = _copy(sweep, tmp_path / "broken")
    _edit_json(broken / "runs" / "0001" / "record.json", lambda record: record.update(state="failed"))
    _edit_json(broken / "sweep.json", lambda manifest: manifest["runs"][1].pop("training_command"))
    before = _snapshot(broken)
    assert main(["resubmit", str(broken), "--failed"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith(f"hpc-sweep: {broken / 'sweep.json'} is broken: the planned command of a chosen")
    assert captured.err.count("\n") == 1 and "resubmitting" not in captured.out
    assert _snapshot(broken) == before


@pytest.mark.parametrize("verb", ["status", "collect"])
def test_a_user_sees_no_traceback(sweep: Path, tmp_path: Path, verb: str) -> None:
    broken = _copy(sweep, tmp_path / "broken")
    (broken / "runs" / "0000" / "record.json").write_text("[1, 2]")
    result = run_cli(verb, str(broken))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"hpc-sweep: {broken / 'runs' / '0000' / 'record.json'} is broken: it holds a JSON list, not a run record "
        "(a JSON object); restore it, or delete it to treat run 0000 as not started"
    ]


@pytest.mark.parametrize("verb", ["status", "cancel", "resubmit"])
def test_a_file_instead_of_a_sweep_dir_is_bad_input(sweep: Path, capsys: pytest.CaptureFixture[str], verb: str) -> None:
    assert main([verb, str(sweep / "sweep.json")]) == 2
    assert capsys.readouterr().err == (
        f"hpc-sweep: error: {sweep / 'sweep.json'} is a file, not a sweep dir; give the --output_dir of a sweep\n"
    )


@pytest.mark.parametrize("interval", ["-1", "0", "nan", "soon"])
def test_watch_needs_a_positive_interval(sweep: Path, interval: str) -> None:
    result = run_cli("status", str(sweep), "--watch", interval, timeout=60)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "argument --watch" in result.stderr and result.stdout == ""


def test_watching_a_sweep_that_has_ended_stops_at_once(sweep: Path) -> None:
    started = time.monotonic()
    result = run_cli("status", str(sweep), "--watch", "0.1", timeout=60)
    assert result.returncode == 0, result.stderr
    assert "2 completed" in result.stdout and time.monotonic() - started < 30


def test_watching_a_stopped_local_sweep_stops_and_says_so(sweep: Path, tmp_path: Path) -> None:
    """A local sweep whose submit was killed: one run recorded running by a job process that is gone, one run that
    never started, nothing written for an hour. No scheduler will move them: the watch stops (exit 1)."""
    stopped = _copy(sweep, tmp_path / "stopped")
    gone = subprocess.Popen(["true"])
    gone.wait()
    _edit_json(stopped / "runs" / "0000" / "record.json", lambda r: r.update(state="running", pid=gone.pid))
    (stopped / "runs" / "0001" / "record.json").unlink()
    _edit_json(stopped / "sweep.json", lambda m: [run.update(state="pending") for run in m["runs"]])
    hour_ago = time.time() - 3600
    for path in stopped.rglob("*"):
        os.utime(path, (hour_ago, hour_ago), follow_symlinks=False)
    result = run_cli("status", str(stopped), "--watch", "0.1", timeout=60)
    assert result.returncode == 1, result.stderr
    assert "1 pending, 1 running" in result.stdout
    assert "no run is in progress any more; 2 run(s) did not end" in result.stdout


def test_compare_of_a_metric_no_run_logged_lists_the_known_ones(sweep: Path, tmp_path: Path) -> None:
    other = _copy(sweep, tmp_path / "other")
    for metric in ("bogus", "mirror_symmetry"):  # unknown, and a canonical metric the demo does not log
        result = run_cli("compare", str(sweep), str(other), "--metric", metric, "--output_dir", str(tmp_path / "out"))
        assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
        assert f"--metric {metric}: none of the compared runs logged it; known metrics: mean_reward, " in result.stderr
        assert "Train/mean_reward" in result.stderr  # a tag the runs did log
    assert not (tmp_path / "out").exists()
    result = run_cli("compare", str(sweep), str(other), "--metric", "Train/mean_reward", "--output_dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "comparison.json").read_text())["groups"][0]["n"] == 2
