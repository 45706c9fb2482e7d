"""The sweep dir's own files: portable paths in records, the manifest read where the sweep is now, and broken
sweep.json / record.json files reported in one line naming the file."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from hpc_sweep.errors import HpcSweepError, UsageError
from hpc_sweep.layout import SweepLayout
from hpc_sweep.manifest import load_sweep, write_new_manifest
from hpc_sweep.records import load_record, read_record, update_partial_results, write_record


def _sweep(root: Path, **record: object) -> SweepLayout:
    """A two-run sweep written as `submit` writes it; run 0000 has a record with ``record``'s fields."""
    layout = SweepLayout(root)
    runs = [
        {
            "run_id": run_id,
            "seed": seed,
            "workdir": str(root),
            "command": ["python", "-m", "train", "--out", f"{root}/logs", f"agent.path={root}/x", f"{root}x"],
            "training_command": {"workdir": str(root), "program": ["python", f"{root}/train.py"]},
        }
        for run_id, seed in (("0000", 1), ("0001", 2))
    ]
    write_new_manifest(layout, {"schema": "hpc_sweep.sweep/1", "executor": "local", "options": {}, "runs": runs})
    write_record(layout, {"run_id": "0000", "state": "completed", **record})
    return layout


def test_paths_inside_the_sweep_dir_are_stored_relative_and_others_absolute(tmp_path: Path) -> None:
    layout = SweepLayout(tmp_path / "sweep")
    (tmp_path / "sweep" / "logs" / "run").mkdir(parents=True)
    assert layout.store_path(tmp_path / "sweep" / "logs" / "run") == "logs/run"
    assert layout.store_path(tmp_path / "isaaclab" / "logs") == str((tmp_path / "isaaclab" / "logs").resolve())
    assert layout.load_path("logs/run") == (tmp_path / "sweep" / "logs" / "run").absolute()
    assert layout.load_path("/elsewhere/logs") == Path("/elsewhere/logs")
    (tmp_path / "link").symlink_to(tmp_path / "sweep")  # a sweep dir reached through a link records the same
    assert SweepLayout(tmp_path / "link").store_path(tmp_path / "sweep" / "logs" / "run") == "logs/run"


def test_a_relative_sweep_dir_still_loads_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert SweepLayout(Path("sweep")).load_path("logs/run") == tmp_path / "sweep" / "logs" / "run"


def test_a_moved_sweep_is_read_where_it_is_now(tmp_path: Path) -> None:
    old = tmp_path / "old"
    _sweep(old, log_dir="logs/a", log_dirs=["logs/a"], attempts=[{"log_dir": "logs/a", "checkpoint": "logs/a/m.pt"}])
    new = tmp_path / "moved" / "new"
    new.parent.mkdir()
    os.rename(old, new)
    run, planned = load_sweep(new).runs
    assert run["log_dir"] == str(new / "logs" / "a") and run["log_dirs"] == [str(new / "logs" / "a")]
    assert run["attempts"][0]["checkpoint"] == str(new / "logs" / "a" / "m.pt")
    assert run["workdir"] == str(new) and planned["training_command"]["workdir"] == str(new)
    assert run["command"][4:] == [f"{new}/logs", f"agent.path={new}/x", f"{old}x"]  # a longer name is not inside
    assert planned["training_command"]["program"] == ["python", f"{new}/train.py"]
    assert "log_dirs" not in planned  # a run that has not started gains no paths


def test_old_absolute_records_are_read_as_they_are(tmp_path: Path) -> None:
    elsewhere = str(tmp_path / "isaaclab" / "logs" / "run")
    _sweep(tmp_path / "s", log_dir=elsewhere, log_dirs=[elsewhere])
    run = load_sweep(tmp_path / "s").runs[0]
    assert run["log_dir"] == elsewhere and run["log_dirs"] == [elsewhere]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[]", "it holds a JSON list, not a sweep manifest"),
        ("{}", 'it has no "runs"'),
        ('{"runs": 3}', 'it has a number as its "runs"'),
        ('{"runs": []}', "it lists no runs"),
        ('{"runs": [', "not valid JSON"),
        ('{"runs": [{"run_id": "0000"}, {"seed": 2}]}', 'run #2 has no "run_id"'),
        ('{"runs": [{"run_id": "0000"}, {"run_id": "0000"}]}', 'run id "0000" appears twice'),
        ('{"runs": [7]}', "run #1 is a number, not an object"),
        ('{"runs": [{"run_id": "0000", "log_dirs": "logs"}]}', 'run 0000: "log_dirs" is a string, not a list'),
        ('{"runs": [{"run_id": "0000"}], "options": []}', '"options" is a JSON list, not an object'),
        ('{"runs": [{"run_id": "0000"}], "jobs": [{}]}', '"jobs" holds an entry without an "array_id"'),
    ],
)
def test_a_broken_manifest_is_one_line_naming_the_file(tmp_path: Path, content: str, problem: str) -> None:
    (tmp_path / "sweep.json").write_text(content)
    with pytest.raises(HpcSweepError) as caught:
        load_sweep(tmp_path)
    message = str(caught.value)
    assert not isinstance(caught.value, UsageError)  # a broken sweep dir is exit status 1, not bad input
    assert message.startswith(f"{tmp_path / 'sweep.json'} is broken: ") and problem in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[1, 2]", "it holds a JSON list, not a run record"),
        ("3", "it holds a number, not a run record"),
        ('{"run_id": ', "not valid JSON"),
        ('{"state": "completed"}', 'its "run_id" is missing, not "0000"'),
        ('{"run_id": "0001"}', 'its "run_id" is "0001", not "0000"'),
        ('{"run_id": "0000", "log_dirs": 5}', '"log_dirs" is a number, not a list of paths'),
        ('{"run_id": "0000", "state": ["completed"]}', '"state" is a JSON list, not a string'),
        ('{"run_id": "0000", "attempts": [{"checkpoint": 1}]}', 'an attempt\'s "checkpoint" is a number'),
    ],
)
def test_a_broken_record_is_one_line_naming_the_file(tmp_path: Path, content: str, problem: str) -> None:
    layout = _sweep(tmp_path)
    layout.record("0000").write_text(content)
    for read in (lambda: load_record(layout, "0000"), lambda: load_sweep(tmp_path)):
        with pytest.raises(HpcSweepError) as caught:
            read()
        message = str(caught.value)
        assert message.startswith(f"{layout.record('0000')} is broken: ") and problem in message
        assert message.endswith("restore it, or delete it to treat run 0000 as not started")
    assert read_record(layout, "0000") is None  # the job wrapper and the launchers' polls never fail on it


def test_a_record_seen_mid_replace_is_read_again(tmp_path: Path) -> None:
    """On NFS a reader can see a record half-written for a moment: it is read again, not reported broken."""
    layout = _sweep(tmp_path, reason="first")
    good = layout.record("0000").read_text()
    layout.record("0000").write_text(good[: len(good) // 2])
    writer = threading.Timer(0.1, lambda: layout.record("0000").write_text(good))
    writer.start()
    try:
        assert load_sweep(tmp_path).runs[0]["reason"] == "first"
    finally:
        writer.join()


def test_partial_results_leave_out_a_broken_record_and_resolve_paths(tmp_path: Path) -> None:
    layout = _sweep(tmp_path, log_dir="logs/a")
    (layout.run_dir("0001")).mkdir(parents=True)
    layout.record("0001").write_text("[]")
    data = update_partial_results(layout)
    assert [entry["run_id"] for entry in data["results"]] == ["0000"]
    assert data["results"][0]["log_dir"] == str(tmp_path / "logs" / "a")


def test_not_a_sweep_dir_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(UsageError, match=r"notes\.txt is a file, not a sweep dir; give the --output_dir of a sweep"):
        load_sweep(tmp_path / "notes.txt")
    with pytest.raises(UsageError, match=r"is not a sweep dir \(no sweep\.json\)"):
        load_sweep(tmp_path)


def test_a_new_sweep_over_a_file_is_bad_input_and_creates_nothing(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("x")
    with pytest.raises(UsageError, match=r"--output_dir .*out is a file, not a directory"):
        write_new_manifest(SweepLayout(tmp_path / "out"), {"runs": []})
    assert (tmp_path / "out").read_text() == "x"
