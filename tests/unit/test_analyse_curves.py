"""Learning curves across runs (:mod:`hpc_sweep.analyse.curves`): one iteration axis for runs logged at different
steps, and the mean ± std each figure draws, hand-computed."""

from __future__ import annotations

import numpy as np
import pytest

from hpc_sweep.analyse.curves import align_curves, ci_band, mean_std_curve, run_series, std_band
from hpc_sweep.collect.discover import RunSource
from hpc_sweep.collect.results import RunData

EXACT = 1e-12
NAN = np.nan

#: Three runs logged at different steps: the union axis is 0, 1, 2, 4.
SERIES = [
    (np.array([0, 1, 2]), np.array([1.0, 2.0, 3.0])),
    (np.array([0, 2, 4]), np.array([3.0, 6.0, 9.0])),
    (np.array([0]), np.array([5.0])),
]


def test_runs_are_aligned_on_the_union_of_their_steps_with_gaps_as_nan() -> None:
    steps, curves = align_curves(SERIES)
    assert steps.tolist() == [0, 1, 2, 4]
    np.testing.assert_array_equal(curves, [[1.0, 2.0, 3.0, NAN], [3.0, NAN, 6.0, 9.0], [5.0, NAN, NAN, NAN]])
    empty_steps, empty = align_curves([])
    assert empty_steps.size == 0 and empty.shape == (0, 0)


def test_mean_and_std_at_each_step_use_the_runs_present_there() -> None:
    _, curves = align_curves(SERIES)
    mean, std = mean_std_curve(curves)
    # step 0: 1, 3, 5; step 1: 2 alone; step 2: 3, 6; step 4: 9 alone
    np.testing.assert_allclose(mean, [3.0, 2.0, 4.5, 9.0], atol=EXACT)
    np.testing.assert_allclose(std[[0, 2]], [2.0, np.sqrt(4.5)], atol=EXACT)  # ddof=1: sqrt(8/2), sqrt(4.5/1)
    assert np.isnan(std[[1, 3]]).all()  # one run at that step: no spread


def test_mean_std_curve_of_no_runs_is_undefined() -> None:
    mean, std = mean_std_curve(np.empty((0, 3)))
    assert np.isnan(mean).all() and np.isnan(std).all()


def test_std_band_is_the_mean_plus_and_minus_one_std() -> None:
    band = std_band(SERIES)
    assert band is not None and band.num_runs == 3 and band.steps.tolist() == [0, 1, 2, 4]
    np.testing.assert_allclose(band.centre, [3.0, 2.0, 4.5, 9.0], atol=EXACT)
    np.testing.assert_allclose(band.low[[0, 2]], [1.0, 4.5 - np.sqrt(4.5)], atol=EXACT)
    np.testing.assert_allclose(band.high[[0, 2]], [5.0, 4.5 + np.sqrt(4.5)], atol=EXACT)
    assert np.isnan(band.low[1]) and np.isnan(band.high[3])
    assert std_band([]) is None


def test_ci_band_holds_the_mean_inside_its_bootstrap_interval() -> None:
    rng = np.random.default_rng(0)
    series = [(np.arange(20), rng.normal(i, 1.0, 20)) for i in range(6)]
    band = ci_band(series, seed=3)
    assert band is not None and band.num_runs == 6
    np.testing.assert_allclose(band.centre, np.mean([values for _, values in series], axis=0), atol=EXACT)
    assert (band.low <= band.centre + EXACT).all() and (band.centre <= band.high + EXACT).all()
    assert (band.high - band.low > 0).all()
    again = ci_band(series, seed=3)
    assert again is not None and np.array_equal(again.low, band.low)  # seeded
    assert ci_band([]) is None


def test_run_series_leaves_out_runs_without_points_of_the_metric() -> None:
    def run(run_id: str, scalars: dict) -> RunData:
        return RunData(source=RunSource(run_id=run_id, seed=1, group="g"), scalars=scalars)

    empty = np.array([], dtype=np.int64)
    runs = [
        run("logged", {"Train/mean_reward": (np.array([0, 1]), np.array([1.0, 2.0]), np.zeros(2))}),
        run("other metric", {"Loss/entropy": (np.array([0]), np.array([1.0]), np.zeros(1))}),
        run("no points", {"Train/mean_reward": (empty, np.array([]), np.array([]))}),
    ]
    (series,) = run_series(runs, "mean_reward")
    assert series[0].tolist() == [0, 1] and series[1].tolist() == [1.0, 2.0]
    assert run_series(runs, "entropy")[0][1].tolist() == [1.0]


@pytest.mark.parametrize("n_runs", [1, 2])
def test_std_band_needs_two_runs_for_a_spread(n_runs: int) -> None:
    band = std_band(SERIES[1:2] * n_runs)
    assert band is not None
    np.testing.assert_allclose(band.centre, [3.0, 6.0, 9.0], atol=EXACT)
    if n_runs == 1:
        assert np.isnan(band.low).all() and np.isnan(band.high).all()
    else:  # two identical runs: zero spread
        np.testing.assert_allclose(band.high - band.low, 0.0, atol=EXACT)


def test_ci_band_is_undefined_where_fewer_than_two_runs_have_a_point() -> None:
    band = ci_band(SERIES, seed=0)
    assert band is not None
    np.testing.assert_allclose(band.centre, [3.0, 2.0, 4.5, 9.0], atol=EXACT)
    assert np.isnan(band.low[[1, 3]]).all() and np.isnan(band.high[[1, 3]]).all()  # one run at steps 1 and 4
    assert np.isfinite(band.low[[0, 2]]).all() and (band.low[[0, 2]] < band.high[[0, 2]]).all()
    one = ci_band(SERIES[:1])
    assert one is not None and np.isnan(one.low).all() and one.centre.tolist() == [1.0, 2.0, 3.0]
