"""The tables people join on (a collection built in memory, written as ``hpc-sweep collect`` writes it and read
back as a user would): one column per grid key in metrics, summary and groups; intervals as two numeric columns; and the
end-of-sweep summary naming each failed run's reason and log."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from hpc_sweep.collect.discover import RunSource
from hpc_sweep.collect.results import Collection, RunData
from hpc_sweep.report.failures import failure_details, telling_line
from hpc_sweep.report.tables import flat_csv_row, print_summary
from tests.conftest import write_collection

LR, ENVS = "agent.algorithm.learning_rate", "num_envs"


def make_run(run_id: str, seed: int, lr: str, envs: str, start: float, status: str = "completed") -> RunData:
    """Mean reward ``start + step`` over 10 iterations, in group ``lr-<lr>_envs-<envs>``."""
    source = RunSource(
        run_id=run_id,
        seed=seed,
        group=f"lr-{lr}_envs-{envs}",
        status=status,
        error="exit code 1; Python exception: ValueError: bad [value]" if status == "failed" else None,
        console_logs=[Path(f"/sweeps/s/runs/{run_id}/train.log")],
        info={"point": {LR: lr, ENVS: envs}, "task": "T"},
    )
    steps = np.arange(10, dtype=np.int64)
    scalars = {"Train/mean_reward": (steps, start + steps.astype(np.float64), np.zeros(10))}
    return RunData(source=source, scalars=scalars, data_source="tensorboard")


def collection() -> Collection:
    runs = [
        make_run("0000", 1, "0.001", "256", 0.0),  # final score: last 10% = the last point, 9
        make_run("0001", 2, "0.001", "256", 2.0),  # 11
        make_run("0002", 3, "0.001", "256", 4.0),  # 13
        make_run("0003", 1, "0.0003", "256", 1.0),  # 10: alone in its group
        make_run("0004", 2, "0.0003", "256", 5.0, status="failed"),
    ]
    return Collection(Path("/sweeps/s"), runs, [])


@pytest.fixture
def tables(tmp_path: Path) -> dict[str, pd.DataFrame]:
    write_collection(collection(), tmp_path)
    names = ("metrics", "summary", "groups")
    return {name: pd.read_csv(tmp_path / f"{name}.csv") for name in names} | {
        "json": json.loads((tmp_path / "training_results.json").read_text())
    }


def test_groups_csv_has_the_intervals_as_two_numeric_columns_each(tables: dict) -> None:
    groups = tables["groups"]
    for name in ("mean_ci", "iqm_ci"):
        assert name not in groups.columns
        for end in ("low", "high"):
            assert groups[f"{name}_{end}"].dtype == np.float64
    three = groups[groups["group"] == "lr-0.001_envs-256"].iloc[0]
    row = next(g for g in tables["json"]["groups"] if g["group"] == "lr-0.001_envs-256")
    assert [three["mean_ci_low"], three["mean_ci_high"]] == pytest.approx(row["mean_ci"])  # the JSON keeps lists
    assert [three["iqm_ci_low"], three["iqm_ci_high"]] == pytest.approx(row["iqm_ci"])
    assert three["mean"] == pytest.approx(11.0) and three["mean_ci_low"] <= 11.0 <= three["mean_ci_high"]
    one = groups[groups["group"] == "lr-0.0003_envs-256"].iloc[0]  # one run counts: no interval, empty cells
    assert np.isnan(one["mean_ci_low"]) and np.isnan(one["iqm_ci_high"]) and one["mean"] == 10.0


def test_summary_and_groups_have_a_column_per_grid_key_after_group(tables: dict) -> None:
    summary, groups = tables["summary"], tables["groups"]
    assert list(summary.columns[:6]) == ["run_id", "experiment_id", "seed", "group", LR, ENVS]
    assert list(groups.columns[:3]) == ["group", LR, ENVS]
    assert summary[LR].tolist() == [0.001, 0.001, 0.001, 0.0003, 0.0003]
    assert summary[ENVS].tolist() == [256] * 5
    assert groups[LR].tolist() == [0.001, 0.0003] and groups[ENVS].tolist() == [256, 256]
    assert summary["final_score"].tolist()[:4] == [9.0, 11.0, 13.0, 10.0]


def test_the_three_tables_join_on_the_grid_keys(tables: dict) -> None:
    metrics, summary, groups = tables["metrics"], tables["summary"], tables["groups"]
    finals = metrics.groupby("run_id", as_index=False)["value"].last()
    runs = summary.merge(finals, on="run_id").merge(groups[[LR, ENVS, "mean"]], on=[LR, ENVS], validate="many_to_one")
    assert len(runs) == 5
    assert runs.loc[runs["run_id"] == 0, "mean"].item() == pytest.approx(11.0)
    per_point = metrics.merge(groups[[LR, ENVS, "n"]], on=[LR, ENVS])
    assert len(per_point) == len(metrics) == 50


def test_a_group_that_pools_grid_points_leaves_the_differing_key_empty(tmp_path: Path) -> None:
    runs = [make_run("0000", 1, "0.001", "256", 0.0), make_run("0001", 2, "0.01", "256", 0.0)]
    for run in runs:
        run.source.group = "pooled"
    pooled = Collection(Path("/sweeps/s"), runs, [])
    write_collection(pooled, tmp_path)
    (row,) = pd.read_csv(tmp_path / "groups.csv").to_dict("records")
    assert np.isnan(row[LR]) and row[ENVS] == 256


def test_flat_csv_rows_split_intervals_and_join_other_lists() -> None:
    row = flat_csv_row({"diff_ci": [-1.0, 2.0], "warnings": ["a, b", "c"], "n": 3}, sep="; ")
    assert row == {"diff_ci_low": -1.0, "diff_ci_high": 2.0, "warnings": "a, b; c", "n": 3}


def test_the_summary_names_each_failed_runs_reason_and_log(tmp_path: Path) -> None:
    console = Console(record=True, width=250)
    print_summary(write_collection(collection(), tmp_path).results, console)
    text = console.export_text()
    assert "failed 0004 (seed 2): exit code 1; Python exception: ValueError: bad [value]" in text
    assert "log: /sweeps/s/runs/0004/train.log" in text


def test_the_telling_log_line_is_the_last_error_else_the_last_line() -> None:
    hydra = [
        "Error executing job with overrides: ['agent.algorithm.foo=1']",
        "Could not override 'agent.algorithm.foo'.",
        "Key 'foo' is not in struct",
        "    full_key: agent.algorithm.foo",
        "Set the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace.",
        "=== exit code 1 at 2026-12-03T06:35:11+00:00",
    ]
    assert telling_line(hydra) == ("log says", "Key 'foo' is not in struct")
    assert telling_line(["Learning iteration 4/5", "Mean reward: 4.00"]) == ("last log line", "Mean reward: 4.00")
    assert telling_line(["", "=== exit code 3"]) is None
    assert failure_details("exit code 3", ["Mean reward: 4.00"], "/s/runs/0001/train.log") == [
        "last log line: Mean reward: 4.00",
        "log: /s/runs/0001/train.log",
    ]
    quoted = "exit code 1; Python exception: ValueError: x"  # the reason quotes the failing line already
    assert failure_details(quoted, ["Traceback ...", "ValueError: x"], "/l") == ["log: /l"]
