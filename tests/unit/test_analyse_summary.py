"""Summaries (:mod:`hpc_sweep.analyse.summary`): a run's final score, one curve's summary, and a group's statistics
with the one rule for fewer than 2 runs (std and CIs undefined). Values are hand-computed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hpc_sweep.analyse.stats import bootstrap_ci, iqm
from hpc_sweep.analyse.summary import curve_summary, final_score, group_stats, window_size
from hpc_sweep.atomic import write_json_atomic

EXACT = 1e-12  # same arithmetic, possibly summed in another order
ONE_TO_TEN = np.arange(1.0, 11.0)


# --- final scores ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (0.1, 10.0),  # a fraction: the last 10% of 10 points is the last point
        (0.25, 9.0),  # ceil(2.5) = 3 points: (8 + 9 + 10) / 3
        (0.01, 10.0),  # never fewer than one point
        (1.0, 5.5),  # the float 1.0 is a fraction: every point
        (3, 9.0),  # an int is a number of points: (8 + 9 + 10) / 3
        (1, 10.0),  # the int 1 is one point, not 100%
        (20, 5.5),  # more points than logged: every point
    ],
)
def test_final_score_is_the_mean_of_the_final_window_as_fraction_or_count(window: float | int, expected: float) -> None:
    assert final_score(ONE_TO_TEN, window) == pytest.approx(expected, abs=EXACT)


def test_final_score_skips_missing_points_and_is_nan_without_any() -> None:
    values = np.array([1.0, 2.0, np.nan, 4.0, np.inf])
    assert final_score(values, 2) == pytest.approx((2.0 + 4.0) / 2, abs=EXACT)  # window over finite points only
    assert np.isnan(final_score(np.array([]), 0.1))
    assert np.isnan(final_score(np.array([np.nan, np.nan]), 0.1))


def test_window_size_rounds_fractions_up_and_caps_counts() -> None:
    assert [window_size(10, w) for w in (0.1, 0.15, 0.2, 1.0, 4, 50)] == [1, 2, 2, 10, 4, 10]
    assert window_size(0, 0.1) == 0


def test_curve_summary_uses_the_final_score_and_hand_computed_values() -> None:
    steps = np.arange(10)
    values = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    summary = curve_summary(steps, values, final_window=0.2)
    assert summary["final"] == 9.0 and summary["initial"] == 0.0
    assert summary["final_mean"] == pytest.approx(8.5, abs=EXACT) == final_score(values, 0.2)
    assert summary["iterations"] == 10 and summary["max"] == 9.0 and summary["min"] == 0.0
    assert summary["improvement_rate"] == pytest.approx(1.0, abs=EXACT)  # slope of a straight line
    assert summary["convergence_stability"] == pytest.approx(np.std([8.0, 9.0], ddof=1), abs=EXACT)
    assert summary["iterations_to_90"] == 8  # 90% of the way from 0 to 8.5 is 7.65, first reached at step 8
    assert set(curve_summary(np.array([]), np.array([])).values()) == {None}


# --- group statistics -----------------------------------------------------------------------------------------------


def test_group_stats_hand_computed_and_equal_to_the_stats_module() -> None:
    x = np.array([4.0, 1.0, 3.0, 2.0, 10.0, 5.0, 6.0, 7.0, np.nan])
    result = group_stats(x, seed=1).to_dict()
    finite = x[:-1]
    assert result["n"] == 8
    assert result["mean"] == pytest.approx(finite.mean(), abs=EXACT)
    assert result["std"] == pytest.approx(finite.std(ddof=1), abs=EXACT)
    assert result["median"] == pytest.approx(4.5, abs=EXACT)
    assert result["iqm"] == pytest.approx((3 + 4 + 5 + 6) / 4, abs=EXACT)
    assert result["iqm"] == iqm(finite)
    assert result["mean_ci"] == list(bootstrap_ci(finite, np.mean, seed=1))
    assert result["iqm_ci"] == list(bootstrap_ci(finite, iqm, seed=1))
    assert result["iqm_ci"][0] <= result["iqm"] <= result["iqm_ci"][1]
    single = group_stats(np.array([2.0])).to_dict()
    assert single["n"] == 1 and single["mean"] == 2.0 and np.isnan(single["std"]) and np.isnan(single["mean_ci"]).all()


def test_min_and_max_name_the_seed_of_their_run_after_missing_scores_are_dropped() -> None:
    stats = group_stats(np.array([np.nan, 3.0, 1.0, 5.0]), seeds=[10, 11, 12, 13])
    assert (stats.n, stats.min, stats.min_seed, stats.max, stats.max_seed) == (3, 1.0, 12, 5.0, 13)
    assert stats.mean == pytest.approx(3.0, abs=EXACT) and stats.std == pytest.approx(2.0, abs=EXACT)
    assert group_stats(np.array([3.0, 1.0])).min_seed is None  # no seeds given


def test_one_run_has_a_mean_but_no_spread() -> None:
    stats = group_stats(np.array([np.nan, 1.75]), seeds=[1, 2])
    assert stats.n == 1
    assert stats.mean == stats.median == stats.iqm == stats.min == stats.max == 1.75
    assert stats.min_seed == stats.max_seed == 2
    assert np.isnan(stats.std) and np.isnan(stats.mean_ci).all() and np.isnan(stats.iqm_ci).all()


def test_no_runs_give_every_key_undefined() -> None:
    row = group_stats(np.array([np.nan]), seeds=[1]).to_dict()
    assert row["n"] == 0 and row["min_seed"] is None and row["max_seed"] is None
    assert all(np.isnan(row[k]) for k in ("mean", "std", "median", "iqm", "min", "max"))


def test_undefined_spread_is_written_as_null(tmp_path: Path) -> None:
    row = group_stats(np.array([2.0]), seeds=[7]).to_dict()
    assert list(row) == ["n", "mean", "std", "median", "iqm", "min", "min_seed", "max", "max_seed", "mean_ci", "iqm_ci"]
    write_json_atomic(tmp_path / "row.json", row)
    written = json.loads((tmp_path / "row.json").read_text())
    assert written["std"] is None and written["mean_ci"] == [None, None] and written["mean"] == 2.0
