"""Why a run failed, shown where the user looks: ``submit``'s live lines and closing summary, and ``status``, each
give the failed run's reason, the log line that tells (when the reason does not quote one) and its log's path.

Uses the stand-in trainer (conftest.FAKE_TRAIN): seed 2 exits 3 after its last iteration with no message, seed 3
prints a traceback and exits 0.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.integration


def test_submit_and_status_show_each_failed_runs_reason_and_log(fake_profile: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli(
        "submit", "--profile", str(fake_profile), "--executor", "local", "--max_parallel", "1",
        "--seeds", "1", "2", "3", "--max_iterations", "3", "--output_dir", str(sweep),
        env={"FAKE_BEHAVIOUR_SEED_2": "fail", "FAKE_BEHAVIOUR_SEED_3": "exception_exit0", "FAKE_SLEEP": "0"},
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    exit_log = sweep.resolve() / "runs" / "0001" / "train.log"
    crash_log = sweep.resolve() / "runs" / "0002" / "train.log"
    out = result.stdout
    # the live line of each failed run, then (at the end) the summary's line: both name the reason and the log
    assert out.count("exit code 3") >= 2 and out.count(f"log: {exit_log}") == 2
    assert "last log line: Mean reward: 3.00" in out  # seed 2's last iteration: 2 * 0.5 + 2
    crash = "Python exception: RuntimeError: simulated crash caught by the script (the process exited 0)"
    assert out.count(crash) >= 2 and out.count(f"log: {crash_log}") == 2
    assert "last log line: RuntimeError" not in out  # the reason quotes the failing line already

    status = run_cli("status", str(sweep))
    assert status.returncode == 1, status.stdout + status.stderr
    lines = status.stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("failed 0001 (seed 2): exit code 3"))
    assert lines[first + 1 : first + 3] == ["    last log line: Mean reward: 3.00", f"    log: {exit_log}"]
    second = next(i for i, line in enumerate(lines) if line.startswith(f"failed 0002 (seed 3): {crash}"))
    assert lines[second + 1] == f"    log: {crash_log}"
    assert "1 completed, 2 failed" in status.stdout
