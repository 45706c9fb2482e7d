"""A sweep dir copied (``cp -a``, ``rsync -a``) or moved (``mv``) is read from where it is now: ``collect`` of the
copy gives the same experiments from the copy's own event files, and ``resubmit`` resumes from the copy's own
checkpoints, in the copy. Real demo training.

The place the sweep was written at is hidden while the copy is read: if anything were read from there, the run would
fall back to its console log (``data_source``) or its resume would fail.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.integration

#: Everything of an experiment that comes from the run's files (the rest, like log_dirs, says where they are).
SAME = ("run_id", "seed", "status", "data_source", "final_score", "training_iterations", "reward_steps")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict]]:
    """A real two-run demo sweep, and its experiments as collected where it was written."""
    path = tmp_path_factory.mktemp("written") / "sweep"
    result = run_cli(
        "submit", "--task", "Demo-PointMass-v0", "--seeds", "5", "6", "--max_iterations", "10", "--num_envs", "32",
        "--executor", "local", "--output_dir", str(path),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return path, _experiments(path)


def _experiments(path: Path) -> dict[str, dict]:
    return {e["run_id"]: e for e in json.loads((path / "training_results.json").read_text())["experiments"]}


@contextlib.contextmanager
def _hidden(path: Path) -> Iterator[None]:
    """The directory is away (renamed) for the duration, and back afterwards."""
    away = path.with_name(path.name + ".away")
    path.rename(away)
    try:
        yield
    finally:
        away.rename(path)


def _cp_a(source: Path, dest: Path) -> None:
    subprocess.run(["cp", "-a", str(source), str(dest)], check=True)


def _mv(source: Path, dest: Path) -> None:
    subprocess.run(["mv", str(source), str(dest)], check=True)


def _rsync_a(source: Path, dest: Path) -> None:
    """``rsync -a``; where rsync is not installed, ``shutil.copytree(symlinks=True)`` (what rsync -a keeps)."""
    if shutil.which("rsync"):
        subprocess.run(["rsync", "-a", f"{source}/", str(dest)], check=True)
    else:
        shutil.copytree(source, dest, symlinks=True)


@pytest.mark.parametrize("relocate", [_cp_a, _mv, _rsync_a], ids=["cp -a", "mv", "rsync -a"])
def test_collect_of_a_relocated_sweep_reads_its_own_files(sweep: tuple[Path, dict], tmp_path: Path, relocate) -> None:
    written, expected = sweep
    mine = tmp_path / "mine"
    _cp_a(written, mine)  # this test's own sweep (mv moves it), still naming the place it was written at
    dest = tmp_path / "elsewhere" / "relocated"
    dest.parent.mkdir()
    relocate(mine, dest)
    with _hidden(written):  # for cp -a: the original is gone, so nothing can be read from it
        result = run_cli("collect", str(dest))
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads((dest / "training_results.json").read_text())
    assert not [w for w in document["warnings"] if "does not exist" in w or str(written) in w]
    got = document["experiments"]
    assert sorted(e["run_id"] for e in got) == sorted(expected)
    for experiment in got:
        want = expected[experiment["run_id"]]
        assert {k: experiment[k] for k in SAME} == {k: want[k] for k in SAME}
        assert experiment["data_source"] == "tensorboard"
        progressions = [k for k in want if k.endswith("_progression")]
        assert progressions and all(experiment[k] == want[k] for k in progressions)  # the same values, exactly
        assert len(experiment["log_dirs"]) == 1
        log_dir = Path(experiment["log_dirs"][0])
        assert log_dir.is_relative_to(dest) and list(log_dir.glob("events.out.tfevents.*"))


def _as_recorded_before_relative_paths(sweep: Path) -> None:
    """Records as earlier versions wrote them: absolute paths, and a manifest that does not say where it was."""
    for record_file in sweep.glob("runs/*/record.json"):
        record = json.loads(record_file.read_text())
        record["log_dir"] = str(sweep / record["log_dir"])
        record["log_dirs"] = [str(sweep / d) for d in record["log_dirs"]]
        for attempt in record["attempts"]:
            attempt["log_dir"] = str(sweep / attempt["log_dir"])
        record_file.write_text(json.dumps(record))
    manifest = json.loads((sweep / "sweep.json").read_text())
    del manifest["sweep_dir"]
    (sweep / "sweep.json").write_text(json.dumps(manifest))


def test_old_absolute_records_still_work_and_a_missing_log_dir_is_a_warning(sweep: tuple[Path, dict], tmp_path) -> None:
    written, expected = sweep
    old = tmp_path / "old"
    _cp_a(written, old)
    _as_recorded_before_relative_paths(old)
    with _hidden(written):
        result = run_cli("collect", str(old))
        assert result.returncode == 0, result.stderr[-3000:]
        assert all(e["data_source"] == "tensorboard" for e in _experiments(old).values())
        moved = tmp_path / "moved"
        _mv(old, moved)  # its records still name the old place, which is gone now
        result = run_cli("collect", str(moved))
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads((moved / "training_results.json").read_text())
    for experiment in document["experiments"]:
        assert experiment["data_source"] == "console_log" and experiment["log_dirs"] == []
        assert experiment["reward_steps"] == expected[experiment["run_id"]]["reward_steps"]
    records = {r.parent.name: json.loads(r.read_text()) for r in moved.glob("runs/*/record.json")}
    missing = [w for w in document["warnings"] if "does not exist" in w]
    assert sorted(missing) == sorted(
        f"run {run_id}: recorded log dir {record['log_dir']} does not exist (moved or deleted?); "
        "its data_source says what was read instead"
        for run_id, record in records.items()
    )
    assert "recorded log dir" in result.stdout  # and the user is told


def test_resubmit_after_a_move_resumes_from_the_moved_checkpoint_in_the_moved_dir(
    sweep: tuple[Path, dict], tmp_path: Path
) -> None:
    written, _ = sweep
    mine = tmp_path / "mine"
    _cp_a(written, mine)
    record_file = mine / "runs" / "0001" / "record.json"
    record = json.loads(record_file.read_text())
    record.update(state="failed", reason="killed by signal SIGKILL")  # as a killed run is recorded
    record_file.write_text(json.dumps(record))
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    _mv(mine, moved)
    with _hidden(written):
        result = run_cli("resubmit", str(moved), "--failed")
        assert not written.exists() and not mine.exists()  # neither old place was made again
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    record = json.loads((moved / "runs" / "0001" / "record.json").read_text())
    assert record["state"] == "completed" and record["attempt"] == 2
    checkpoint = moved / record["checkpoint"]
    assert not Path(record["checkpoint"]).is_absolute() and checkpoint.is_file()
    assert checkpoint.parent == moved / record["attempts"][0]["log_dir"]
    own_dir, own_file = f"^{re.escape(checkpoint.parent.name)}$", f"^{re.escape(checkpoint.name)}$"
    assert record["argv"][-5:] == ["--resume", "--load_run", own_dir, "--checkpoint", own_file]
    assert len(record["log_dirs"]) == 2 and all((moved / d).is_dir() for d in record["log_dirs"])
    log = (moved / "runs" / "0001" / "train.log").read_text()
    second = log[log.index("attempt 2") :]
    assert f"=== cwd: {moved}\n" in second
    assert f"Loading model checkpoint from: {checkpoint}" in second
