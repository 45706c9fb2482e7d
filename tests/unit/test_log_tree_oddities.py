"""Log trees as found on clusters: FIFOs, sockets and dangling symlinks among the runs, negative seeds in names.

Runs are the real rsl-rl-lib logs of ``tests/fixtures/rsl_rl_logs``. ``collect`` runs as a user runs it, in a
subprocess with a timeout, so that a FIFO that is opened (which blocks until a writer comes) fails the test instead of
hanging it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import pytest

from hpc_sweep.collect.results import collect
from tests.conftest import run_cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rsl_rl_logs"


def _run_dir(tree: Path) -> Path:
    """The one run directory (the one holding event files) under ``tree``."""
    return next(p.parent for p in sorted(tree.rglob("events.out.tfevents.*")))


def _tree(root: Path) -> Path:
    """Two real runs: rsl-rl 2.3.3 (seed 23) and 4.0.1, renamed to seed -1 as ``f"{name}_seed{seed}"`` names it."""
    tree = root / "tree"
    shutil.copytree(FIXTURES / "2.3.3", tree / "v2")
    shutil.copytree(FIXTURES / "4.0.1", tree / "v4")
    run = _run_dir(tree / "v4")
    renamed = run.with_name(run.name.replace("_seed40", "_seed-1"))
    run.rename(renamed)
    agent = renamed / "params" / "agent.yaml"
    agent.write_text(agent.read_text().replace("seed: 40", "seed: -1"))
    return tree


def test_collect_skips_fifos_sockets_and_dangling_symlinks_with_one_warning_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = _tree(tmp_path)
    run_v2 = _run_dir(tree / "v2")
    os.mkfifo(tree / "job.out")  # a FIFO named like a job log: opening it would block for ever
    os.mkfifo(run_v2 / "stdout.log")  # one inside a run dir
    (tree / "v4" / "gone").symlink_to(tmp_path / "deleted_run")
    (run_v2 / "old.txt").symlink_to(tmp_path / "deleted.txt")
    monkeypatch.chdir(tree / "v4")  # a socket's path must stay short: bind it by a relative name
    server = socket.socket(socket.AF_UNIX)
    server.bind("agent.sock")
    try:
        result = run_cli("collect", str(tree), "--output_dir", str(tmp_path / "out"), timeout=120)
    finally:
        server.close()
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads((tmp_path / "out" / "training_results.json").read_text())
    runs = {run["seed"]: run for run in document["experiments"]}
    assert sorted(runs) == [-1, 23]
    assert all(run["data_source"] == "tensorboard" and run["reward_progression"] for run in runs.values())
    assert sorted(w for w in document["warnings"] if w.endswith("; skipped")) == sorted(
        [
            f"{tree / 'job.out'}: a FIFO, not a regular file; skipped",
            f"{run_v2 / 'stdout.log'}: a FIFO, not a regular file; skipped",
            f"{tree / 'v4' / 'agent.sock'}: a socket, not a regular file; skipped",
            f"{tree / 'v4' / 'gone'}: a dangling symlink (to {tmp_path / 'deleted_run'}); skipped",
            f"{run_v2 / 'old.txt'}: a dangling symlink (to {tmp_path / 'deleted.txt'}); skipped",
        ]
    )
    assert "job.out: a FIFO" in result.stdout + result.stderr  # and the user is told


def test_a_run_dir_named_seed_minus_one_is_seed_minus_one(tmp_path: Path) -> None:
    collection = collect(_tree(tmp_path))
    assert sorted(run.source.seed for run in collection.runs) == [-1, 23]
    assert {run.source.group for run in collection.runs} == {"v2.3.3", "v4.0.1"}


def test_a_dangling_symlink_in_an_unfinished_run_dir_is_no_traceback(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    run = _run_dir(tree / "v2")
    agent = run / "params" / "agent.yaml"
    agent.write_text(agent.read_text().replace("max_iterations: ", "max_iterations: 99"))  # not reached: unfinished
    (run / "old.txt").symlink_to(tmp_path / "deleted.txt")
    collection = collect(tree)
    assert any("old.txt: a dangling symlink" in warning for warning in collection.runs[0].source.warnings)
