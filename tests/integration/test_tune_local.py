"""``hpc-sweep tune`` on the local executor with the real demo training: promotions resume the runs from their
checkpoints (one continuous curve, no iteration twice), the confirmation stage re-runs the best with fresh seeds,
and bad input is refused before anything exists."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.integration
SPACE = "agent.algorithm.learning_rate=loguniform(1e-4,1e-2)"


def _study(tmp_path: Path) -> Path:
    study = tmp_path / "study"
    result = run_cli(
        "tune", "--executor", "local", "--max_parallel", "2", "--seeds", "1", "2", "--trials", "4",
        "--rungs", "12,36", "--eta", "2",
        "--num_envs", "64", "--confirm", "1", "--confirm_seeds", "7", "8", "--sampler", "random", "--sampler_seed",
        "3", "--output_dir", str(study), "--additional_args", "agent.save_interval=5", SPACE,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tune winner: trial" in result.stdout
    return study


def test_promoted_runs_resume_to_the_next_rung_and_the_best_is_confirmed(tmp_path: Path) -> None:
    study = _study(tmp_path)
    state = json.loads((study / "tune" / "state.json").read_text())
    assert state["phase"] == "done"
    promoted = [t for t in state["trials"] if t["rung"] == 1]
    stopped = [t for t in state["trials"] if t["rung"] == 0]
    assert len(promoted) == 2 and len(stopped) == 2  # 4 trials, eta 2
    best_stopped = max(t["scores"]["0"] for t in stopped)
    assert all(t["scores"]["0"] >= best_stopped for t in promoted)  # the promoted are the rung's best

    from hpc_sweep.collect.results import collect

    runs = {run.source.run_id: run for run in collect(study).runs}
    for trial in promoted:
        for run_id in trial["runs"]:
            record = json.loads((study / "runs" / run_id / "record.json").read_text())
            assert [a["state"] for a in record["attempts"]] == ["completed", "completed"]
            assert record["attempts"][1]["checkpoint"], "the promotion did not resume from a checkpoint"
            assert "--resume" in record["argv"]
            steps, values = runs[run_id].metric("mean_reward")
            assert steps.tolist() == list(range(36)), "the stitched curve repeats or misses an iteration"
            # continuous: after the seam it goes on from where rung 0 ended, far above a fresh start
            assert np.mean(values[14:20]) > np.mean(values[:3]) + 1.0
    for trial in stopped:
        for run_id in trial["runs"]:
            record = json.loads((study / "runs" / run_id / "record.json").read_text())
            assert len(record["attempts"]) == 1 and record["iterations_done"] == 12  # stopped at its rung

    result = state["result"]
    (confirmed,) = result["confirmed"]
    assert confirmed["trial"] == max(promoted, key=lambda t: t["scores"]["1"])["trial"]
    confirm_runs = [runs[r] for r in state["confirm"]["runs"][str(confirmed["trial"])]]
    assert sorted(run.source.seed for run in confirm_runs) == [7, 8]  # fresh seeds, full budget
    assert all(run.metric("mean_reward")[0].size == 36 for run in confirm_runs)
    comparison = json.loads((study / "confirmation" / "comparison.json").read_text())
    assert comparison["groups"][0]["iqm"] == pytest.approx(confirmed["confirmed_iqm"])

    rows = list(csv.DictReader((study / "trials.csv").open()))
    assert [int(row["trial"]) for row in rows] == [0, 1, 2, 3]
    assert {row["state"] for row in rows} == {"top", "stopped"}
    assert (study / "tune_progress.png").stat().st_size > 10_000
    assert (study / "training_results.json").is_file()

    status = run_cli("status", str(study))
    assert "trial" in status.stdout and "rung" in status.stdout


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ("agent.algorithm.learning_rate=loguniform(0,1)", "loguniform"),
        ("agent.algorithm.learning_rate=normal(0,1)", "normal"),
        ("agent.seed=int(1,5)", "--seeds"),
    ],
)
def test_a_bad_space_is_refused_before_anything_exists(tmp_path: Path, space: str, message: str) -> None:
    study = tmp_path / "bad"
    result = run_cli("tune", "--executor", "local", "--output_dir", str(study), space)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not study.exists()


def test_tune_flags_are_checked_before_anything_exists(tmp_path: Path) -> None:
    study = tmp_path / "bad"
    cases = [
        (["--rungs", "30,10"], "increasing"),
        (["--rungs", "10,30", "--max_iterations", "50"], "--rungs ends at 30"),
        (["--confirm_seeds", "1", "9"], "fresh seeds"),
        (["--eta", "1"], "--eta"),
        (["agent.algorithm.learning_rate=0.1,0.2"], "choice("),
        ([], "at least one"),
    ]
    for flags, message in cases:
        result = run_cli("tune", "--executor", "local", "--seeds", "1", "2", "--output_dir", str(study), *flags,
                         *([] if flags == [] or flags[0].startswith("agent") else [SPACE]))  # fmt: skip
        assert result.returncode == 2, (flags, result.stderr)
        assert message in result.stderr, (flags, result.stderr)
        assert not study.exists(), flags
