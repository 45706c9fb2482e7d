"""``compare``'s numbers (:mod:`hpc_sweep.analyse.compare`) on collections built in memory: which runs form which
group, their final scores (hand-computed), the comparison document, and the figure's profile and curves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hpc_sweep.analyse.compare import (
    SCHEMA,
    Group,
    check_compare_paths,
    compare,
    form_groups,
    learning_curves,
    performance_profiles,
    pooling_warnings,
)
from hpc_sweep.analyse.stats import bootstrap_ci, iqm
from hpc_sweep.analyse.verdict import compare_groups
from hpc_sweep.collect.discover import RunSource
from hpc_sweep.collect.results import Collection, RunData
from hpc_sweep.errors import UsageError

EXACT = 1e-12


def make_run(run_id: str, seed: int, status: str, start: float | None, point: dict | None = None) -> RunData:
    """A run whose mean reward climbs by 1 per iteration from ``start`` over 10 iterations (None: never logged)."""
    source = RunSource(run_id=run_id, seed=seed, group="g", status=status, info={"point": point or {}})
    scalars = {}
    if start is not None:
        steps = np.arange(10, dtype=np.int64)
        scalars["Train/mean_reward"] = (steps, start + steps.astype(np.float64), np.zeros(10))
    return RunData(source=source, scalars=scalars, data_source="tensorboard")


def two_sweeps() -> list[tuple[Path, Collection]]:
    a = Path("/sweeps/base_a")
    b = Path("/sweeps/base_b")
    runs_a = [
        make_run("a1", 1, "completed", 0.0),  # 0..9: last 20% = (8 + 9) / 2 = 8.5; last 3 = 8
        make_run("a2", 2, "completed", 1.0),  # 9.5; 9
        make_run("a3", 3, "failed", 100.0),  # excluded
        make_run("a4", 4, "unknown", 2.0),  # a foreign run of unknown state counts: 10.5; 10
        make_run("a5", 5, "completed", None),  # no reward logged: in the group, without a score
    ]
    runs_b = [
        make_run("b1", 1, "completed", 5.0),  # 13.5; 13
        make_run("b2", 2, "running", 0.0),
        make_run("b3", 3, "cancelled", 0.0),
    ]
    return [(a, Collection(a, runs_a, [])), (b, Collection(b, runs_b, []))]


def one_grid_sweep() -> list[tuple[Path, Collection]]:
    path = Path("/sweeps/grid")
    runs = [
        make_run("r1", 1, "completed", 0.0, {"lr": 1}),
        make_run("r2", 2, "completed", 2.0, {"lr": 1}),
        make_run("r3", 1, "completed", 4.0, {"lr": 2}),
        make_run("r4", 2, "interrupted", 4.0, {"lr": 3}),
    ]
    return [(path, Collection(path, runs, []))]


def test_the_number_of_paths_is_checked_before_anything_is_read() -> None:
    with pytest.raises(UsageError, match="compare needs two or more sweep dirs, or one sweep dir and --by KEY"):
        check_compare_paths([Path("a")], None)
    with pytest.raises(UsageError, match="--by splits one sweep by a grid key: give exactly one sweep dir with --by"):
        check_compare_paths([Path("a"), Path("b")], "lr")
    check_compare_paths([Path("a"), Path("b")], None)
    check_compare_paths([Path("a")], "lr")
    with pytest.raises(UsageError, match="compare needs two or more"):
        form_groups(two_sweeps()[:1], None, "mean_reward", 0.2)


def test_one_group_per_path_without_excluded_runs_and_with_final_scores_over_a_fraction() -> None:
    base_a, base_b = form_groups(two_sweeps(), None, "mean_reward", 0.2)
    assert (base_a.name, base_b.name) == ("base_a", "base_b")
    assert [r.source.run_id for r in base_a.runs] == ["a1", "a2", "a4", "a5"]  # a3 failed
    assert [r.source.run_id for r in base_b.runs] == ["b1"]  # b2 running, b3 cancelled
    np.testing.assert_allclose(base_a.run_scores, [8.5, 9.5, 10.5, np.nan], atol=EXACT)
    np.testing.assert_allclose(base_a.scores, [8.5, 9.5, 10.5], atol=EXACT)  # the run without a score is dropped
    np.testing.assert_allclose(base_b.scores, [13.5], atol=EXACT)


def test_final_window_as_a_number_of_iterations() -> None:
    base_a, base_b = form_groups(two_sweeps(), None, "mean_reward", 3)
    np.testing.assert_allclose(base_a.scores, [8.0, 9.0, 10.0], atol=EXACT)  # mean of the last 3 points
    np.testing.assert_allclose(base_b.scores, [13.0], atol=EXACT)


def test_by_splits_one_sweep_on_a_grid_key() -> None:
    groups = form_groups(one_grid_sweep(), "lr", "mean_reward", 0.2)
    assert [g.name for g in groups] == ["lr=1", "lr=2"]  # lr=3's only run was interrupted
    np.testing.assert_allclose(groups[0].scores, [8.5, 10.5], atol=EXACT)
    with pytest.raises(UsageError, match=r"--by gamma: not a grid key of /sweeps/grid; its grid keys: lr"):
        form_groups(one_grid_sweep(), "gamma", "mean_reward", 0.2)


def test_fewer_than_two_groups_with_completed_runs_is_an_error() -> None:
    path, collection = one_grid_sweep()[0]
    only_lr1 = Collection(path, collection.runs[:2], [])
    with pytest.raises(UsageError, match=r"found 1 group\(s\) with completed runs; compare needs at least two"):
        form_groups([(path, only_lr1)], "lr", "mean_reward", 0.2)


def test_the_comparison_document_holds_group_statistics_and_every_pair() -> None:
    groups = form_groups(two_sweeps(), None, "mean_reward", 0.2)
    document = compare(groups, "mean_reward", 0.2)
    assert (document["schema"], document["metric"], document["final_window"]) == (SCHEMA, "mean_reward", 0.2)
    base_a, base_b = document["groups"]
    assert base_a["name"] == "base_a" and base_a["n"] == 3
    assert base_a["seeds"] == [1, 2, 4, 5] and base_a["run_ids"] == ["a1", "a2", "a4", "a5"]
    scores = np.array([8.5, 9.5, 10.5])
    assert base_a["mean"] == pytest.approx(9.5, abs=EXACT) and base_a["std"] == pytest.approx(1.0, abs=EXACT)
    assert base_a["median"] == 9.5 and base_a["iqm"] == iqm(scores)
    assert base_a["mean_ci"] == list(bootstrap_ci(scores, np.mean, seed=0))
    assert base_a["iqm_ci"] == list(bootstrap_ci(scores, iqm, seed=0))
    assert (base_a["min"], base_a["min_seed"], base_a["max"], base_a["max_seed"]) == (8.5, 1, 10.5, 4)
    # one run: its score is the mean, and there is no spread
    assert base_b["n"] == 1 and base_b["mean"] == 13.5 and base_b["iqm"] == 13.5
    assert np.isnan(base_b["std"]) and np.isnan(base_b["mean_ci"]).all() and np.isnan(base_b["iqm_ci"]).all()
    (pair,) = document["pairs"]
    expected = compare_groups({"base_a": scores, "base_b": np.array([13.5])})[0].to_dict()
    assert json.dumps(pair) == json.dumps(expected)
    assert pair["verdict"].startswith("cannot test base_a against base_b")


def test_performance_profiles_need_five_scored_runs_per_group() -> None:
    a = Group("a", [], np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    b = Group("b", [], np.array([3.0, 4.0, 5.0, 6.0, 7.0, np.nan]))
    profile = performance_profiles([a, b])
    assert profile is not None
    assert profile.thresholds.size == 101 and profile.thresholds[0] == 1.0 and profile.thresholds[-1] == 7.0
    assert profile.thresholds[50] == pytest.approx(4.0, abs=EXACT)
    assert profile.fractions["a"][[0, 50, 100]].tolist() == pytest.approx([0.8, 0.2, 0.0], abs=EXACT)
    assert profile.fractions["b"][[0, 50, 100]].tolist() == pytest.approx([1.0, 0.6, 0.0], abs=EXACT)
    four = Group("four", [], np.array([1.0, 2.0, 3.0, 4.0, np.nan]))
    assert performance_profiles([a, four]) is None


def test_learning_curves_leave_out_groups_without_the_metric() -> None:
    groups = form_groups(two_sweeps(), None, "mean_reward", 0.2)
    bands = learning_curves(groups, "mean_reward")
    assert list(bands) == ["base_a", "base_b"]
    assert bands["base_a"].num_runs == 3  # a5 logged no reward
    np.testing.assert_allclose(bands["base_a"].centre, np.arange(10) + 1.0, atol=EXACT)  # mean of starts 0, 1, 2
    assert learning_curves(groups, "entropy") == {}


def test_groups_that_pool_grid_points_or_iteration_counts_are_warned_about() -> None:
    """Two sweep dirs that each hold a 2-point grid: each group pools two configurations, and the comparison says so
    (in the document and on the terminal); one sweep split by its only grid key pools nothing."""
    from rich.console import Console

    from hpc_sweep.report.comparison import print_comparison

    def grid_sweep(name: str, start: float) -> tuple[Path, Collection]:
        runs = [make_run(f"{name}{i}", i, "completed", start + i, {"lr": lr}) for i, lr in enumerate([1, 2, 1, 2])]
        return Path(f"/sweeps/{name}"), Collection(Path(f"/sweeps/{name}"), runs, [])

    groups = form_groups([grid_sweep("a", 0.0), grid_sweep("b", 1.0)], None, "mean_reward", 0.2)
    document = compare(groups, "mean_reward", 0.2)
    assert len(document["warnings"]) == 2
    assert document["warnings"][0].startswith("group a pools 2 grid points (lr=1; lr=2)")
    assert pooling_warnings(groups) == document["warnings"]
    console = Console(record=True, width=300)
    print_comparison(document, console)
    assert f"warning: {document['warnings'][1]}" in console.export_text()

    assert compare(form_groups(one_grid_sweep(), "lr", "mean_reward", 0.2), "mean_reward", 0.2)["warnings"] == []

    path, collection = two_sweeps()[0]
    for run, planned in zip(collection.runs, [100, 100, 100, 200, 100], strict=True):
        run.source.info["max_iterations"] = planned
    (short, long) = form_groups([(path, collection), two_sweeps()[1]], None, "mean_reward", 0.2)
    assert pooling_warnings([short, long]) == [
        "group base_a pools runs of different lengths (100, 200 iterations): their final scores come from different "
        "stages of training"
    ]
