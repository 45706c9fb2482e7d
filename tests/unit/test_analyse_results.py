"""The numbers of ``training_results.json`` (:mod:`hpc_sweep.analyse.results`) on a collection built in memory:
run records, group rows (excluded states left out and listed), and the final values the figure draws."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hpc_sweep.analyse.results import experiment_record, group_results
from hpc_sweep.analyse.stats import iqm
from hpc_sweep.collect.discover import RunSource
from hpc_sweep.collect.results import Collection, RunData
from hpc_sweep.runstate import EXCLUDED_FROM_STATS, RunState

EXACT = 1e-12


def make_run(run_id: str, seed: int, group: str, status: str, start: float | None) -> RunData:
    """Mean reward ``start + step`` over 20 iterations (None: never logged)."""
    source = RunSource(run_id=run_id, seed=seed, group=group, status=status, info={"experiment_id": f"exp_{run_id}"})
    scalars = {}
    if start is not None:
        steps = np.arange(20, dtype=np.int64)
        scalars["Train/mean_reward"] = (steps, start + steps.astype(np.float64), np.zeros(20))
    return RunData(source=source, scalars=scalars, data_source="tensorboard")


def collection() -> Collection:
    runs = [
        make_run("a1", 1, "a", "completed", 0.0),  # last 10% of 20 points = (18 + 19) / 2 = 18.5
        make_run("a2", 2, "a", "completed", 2.0),  # 20.5
        make_run("a3", 3, "a", "unknown", 4.0),  # 22.5: a foreign run of unknown state counts
        make_run("a4", 4, "a", "failed", 100.0),
        make_run("b1", 1, "b", "completed", 1.0),  # 19.5
        make_run("b2", 2, "b", "running", 50.0),
        make_run("c1", 1, "c", "cancelled", 1.0),
        make_run("d1", 1, "d", "completed", None),
    ]
    return Collection(Path("/sweeps/x"), runs, ["a warning"])


def test_run_records_carry_the_final_score_over_the_last_ten_percent() -> None:
    records = records_of(collection())
    assert [r["run_id"] for r in records] == ["a1", "a2", "a3", "a4", "b1", "b2", "c1", "d1"]
    a1 = records[0]
    assert a1["experiment_id"] == "exp_a1" and a1["status"] == "completed" and a1["group"] == "a"
    assert a1["final_score"] == pytest.approx(18.5, abs=EXACT) and a1["final_reward_mean"] == 19.0
    assert a1["training_iterations"] == 20 and a1["reward_steps"] == list(range(20))
    assert a1["final_mean_reward"] == 19.0 and a1["initial_mean_reward"] == 0.0 and a1["final_entropy"] is None
    assert records[-1]["final_score"] is None and records[-1]["reward_progression"] == []


def test_excluded_states_leave_group_statistics_and_are_listed() -> None:
    rows = {row.group: row.to_dict() for row in group_results(records_of(collection()))}
    assert list(rows) == ["a", "b", "c", "d"]
    a = rows["a"]
    assert a["excluded_runs"] == ["a4"] and a["n"] == 3 and a["metric"] == "mean_reward"
    assert a["mean"] == pytest.approx(20.5, abs=EXACT) and a["std"] == pytest.approx(2.0, abs=EXACT)
    assert a["iqm"] == iqm(np.array([18.5, 20.5, 22.5])) and (a["max"], a["max_seed"]) == (22.5, 3)
    assert a["improvement_rate"] == pytest.approx(1.0, abs=EXACT)  # mean over the kept runs
    assert a["iterations_to_90"] == 17.0  # 90% of the way from start to start + 18.5 is first reached at step 17
    b = rows["b"]
    assert b["excluded_runs"] == ["b2"] and b["n"] == 1 and b["mean"] == pytest.approx(19.5, abs=EXACT)
    assert np.isnan(b["std"]) and np.isnan(b["mean_ci"]).all()  # one run: no spread
    c = rows["c"]
    assert c["excluded_runs"] == ["c1"] and c["n"] == 0 and c["convergence_stability"] is None
    assert list(a) == [
        "group", "metric", "n", "mean", "std", "median", "iqm", "min", "min_seed", "max", "max_seed", "mean_ci",
        "iqm_ci", "convergence_stability", "improvement_rate", "iterations_to_90", "gpu_hours", "excluded_runs",
        "excluded",
    ]  # fmt: skip


def test_every_run_left_out_is_listed_with_its_reason() -> None:
    runs = collection().runs
    runs[3].source.error = "exit code 3; CUDA out of memory"
    runs[6].source.error = "stopped by SIGINT (Ctrl-C), exit code -2"
    rows = {row.group: row.to_dict() for row in group_results(records_of(Collection(Path("/s"), runs, [])))}
    assert rows["a"]["excluded"] == [
        {"run_id": "a4", "seed": 4, "state": "failed", "reason": "exit code 3; CUDA out of memory"}
    ]
    assert rows["b"]["excluded"] == [
        {"run_id": "b2", "seed": 2, "state": "running", "reason": "running: not finished, so no final score"}
    ]
    assert rows["c"]["excluded"][0]["reason"] == "stopped by SIGINT (Ctrl-C), exit code -2"
    d = rows["d"]  # completed, but no reward point at all: left out, and says so
    assert d["n"] == 0 and d["excluded_runs"] == ["d1"]
    assert d["excluded"] == [
        {"run_id": "d1", "seed": 1, "state": "completed", "reason": "no reward data found (logs gone?)"}
    ]
    for row in rows.values():  # nobody silently missing: each run is counted or listed
        members = [r for r in runs if r.source.group == row["group"]]
        assert row["n"] + len(row["excluded"]) == len(members)
        assert row["excluded_runs"] == [e["run_id"] for e in row["excluded"]]


def test_a_run_whose_reward_is_never_finite_is_listed_too() -> None:
    run = make_run("n1", 1, "n", "completed", 0.0)
    steps, values, wall = run.scalars["Train/mean_reward"]
    run.scalars["Train/mean_reward"] = (steps, np.full(values.size, np.nan), wall)
    (row,) = group_results(records_of(Collection(Path("/s"), [run], [])))
    assert row.stats.n == 0 and row.to_dict()["excluded"][0]["reason"] == "no finite reward value"


def test_the_excluded_states_are_every_state_but_completed_and_unknown() -> None:
    assert {str(s) for s in EXCLUDED_FROM_STATS} == {s.value for s in RunState} - {"completed", "unknown"}


def records_of(collection: Collection) -> list[dict]:
    """Each run's record, in collection order."""
    return [experiment_record(run) for run in collection.runs]
