"""The collector's two tidy tables: one row per point with grid columns, one row per run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpc_sweep.collect.discover import RunSource
from hpc_sweep.collect.results import Collection, RunData


def _run(run_id: str, seed: int, lr: str, rewards: list[float], status: str = "completed") -> RunData:
    source = RunSource(
        run_id=run_id,
        seed=seed,
        group=f"g_lr-{lr}",
        log_dirs=[Path(f"/logs/{run_id}")],
        status=status,
        info={"point": {"agent.algorithm.learning_rate": lr}, "task": "T", "attempt": 2},
    )
    steps = np.arange(len(rewards))
    scalars = {
        "Train/mean_reward": (steps, np.array(rewards), np.full(len(rewards), 1.5e9)),
        "Loss/value": (steps[:1], np.array([0.5]), np.array([np.nan])),
    }
    return RunData(source=source, scalars=scalars, data_source="tensorboard")


def _collection() -> Collection:
    runs = [_run("0000", 1, "0.001", [1.0, 2.0, 3.0]), _run("0001", 2, "0.01", [0.0, np.nan], status="failed")]
    return Collection(root=Path("/s"), runs=runs, warnings=[])


def test_metrics_frame_has_one_row_per_point_with_the_grid_value_and_canonical_metric() -> None:
    frame = _collection().metrics_frame()
    assert list(frame.columns) == [
        "run_id", "seed", "group", "agent.algorithm.learning_rate", "tag", "metric", "step", "value", "wall_time",
    ]  # fmt: skip
    assert len(frame) == 3 + 1 + 2 + 1
    value_rows = frame[frame["metric"] == "value_function"]
    assert set(value_rows["tag"]) == {"Loss/value"} and value_rows["value"].tolist() == [0.5, 0.5]
    second = frame[(frame["run_id"] == "0001") & (frame["tag"] == "Train/mean_reward")]
    assert second["agent.algorithm.learning_rate"].tolist() == ["0.01", "0.01"]
    assert np.isnan(second["value"].iloc[1])  # NaN kept as logged
    assert frame["step"].dtype == np.int64


def test_runs_frame_has_one_row_per_run_with_state_and_paths() -> None:
    frame = _collection().runs_frame()
    assert frame["run_id"].tolist() == ["0000", "0001"]
    assert frame["state"].tolist() == ["completed", "failed"]
    assert frame["agent.algorithm.learning_rate"].tolist() == ["0.001", "0.01"]
    assert frame.loc[0, "log_dirs"] == ["/logs/0000"] and frame.loc[0, "attempts"] == 2


def test_an_empty_collection_gives_empty_frames_with_their_columns() -> None:
    empty = Collection(root=Path("/s"), runs=[], warnings=[])
    assert list(empty.metrics_frame().columns)[:3] == ["run_id", "seed", "group"] and empty.metrics_frame().empty
    assert "state" in empty.runs_frame().columns and empty.runs_frame().empty
