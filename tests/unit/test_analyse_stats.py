"""Statistics checked against hand computations, scipy, and rliable's published definitions, on fixed data.

rliable itself is not importable here (it pins an old pandas), so its formulas are written out in the tests:
``aggregate_iqm = scipy.stats.trim_mean(scores, 0.25, axis=None)``; ``probability_of_improvement`` = per task
``mannwhitneyu(x, y, alternative="greater").statistic / (n * m)`` (0.5 for identical arrays), averaged over tasks;
``run_score_deviation = np.mean(scores > tau)``. Tolerances are stated where a value is not exact: ``1e-12`` for
the same arithmetic done in another order; Monte Carlo tolerances come with the size of the effect they must resolve.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from hpc_sweep.analyse.stats import (
    bootstrap_ci,
    difference_of_means_ci,
    hedges_g,
    holm_correction,
    iqm,
    mann_whitney,
    performance_profile,
    probability_of_improvement,
    probability_of_improvement_ci,
    welch_t,
)

EXACT = 1e-12  # same arithmetic, possibly summed in another order


def rliable_probability_of_improvement(scores_x: np.ndarray, scores_y: np.ndarray) -> float:
    """rliable.metrics.probability_of_improvement, transcribed (shapes (n, tasks) and (m, tasks))."""
    probabilities = []
    for task in range(scores_x.shape[1]):
        if np.array_equal(scores_x[:, task], scores_y[:, task]):
            probabilities.append(0.5)
        else:
            u = stats.mannwhitneyu(scores_x[:, task], scores_y[:, task], alternative="greater").statistic
            probabilities.append(u / (scores_x.shape[0] * scores_y.shape[0]))
    return float(np.mean(probabilities))


# --- IQM -----------------------------------------------------------------------------------------------------------


def test_iqm_of_one_to_eight_is_the_mean_of_the_middle_four() -> None:
    assert iqm(np.arange(1.0, 9.0)) == pytest.approx(4.5, abs=EXACT)  # (3 + 4 + 5 + 6) / 4
    assert iqm(np.array([8.0, 1.0, 100.0, 4.0, 3.0, 6.0, 5.0, -50.0])) == pytest.approx(4.5, abs=EXACT)  # outliers cut


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # n=10: int(0.25 * 10) = 2 cut from each end of [0, 1, 2, 3, 4, 5, 7, 8, 10, 100] -> mean(2, 3, 4, 5, 7, 8)
        ([10, 0, 7, 3, 100, 1, 5, 2, 8, 4], 29 / 6),
        # n=7: int(1.75) = 1 cut from each end of [1, 2, 3, 4, 5, 9, 50] -> mean(2, 3, 4, 5, 9)
        ([5, 1, 9, 3, 50, 2, 4], 23 / 5),
        # n=3: int(0.75) = 0, nothing cut -> plain mean
        ([1, 2, 30], 11.0),
    ],
)
def test_iqm_follows_trim_mean_cuts_when_n_is_not_a_multiple_of_four(values: list[float], expected: float) -> None:
    x = np.array(values, dtype=float)
    assert iqm(x) == pytest.approx(expected, abs=EXACT)
    assert iqm(x) == pytest.approx(stats.trim_mean(x, 0.25), abs=EXACT)


def test_iqm_pools_runs_and_tasks_like_rliable_and_is_nan_when_empty() -> None:
    x = np.random.default_rng(1).normal(size=(7, 3))
    assert iqm(x) == pytest.approx(stats.trim_mean(x, 0.25, axis=None), abs=EXACT)
    assert np.isnan(iqm(np.array([])))


# --- probability of improvement ------------------------------------------------------------------------------------


def test_probability_of_improvement_hand_computed_with_ties() -> None:
    x, y = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 0.0])
    # pairs (x_i, y_j): x=1 -> 0, 0, 1; x=2 -> 0.5, 0.5, 1; x=3 -> 1, 1, 1
    expected = (0 + 0 + 1 + 0.5 + 0.5 + 1 + 1 + 1 + 1) / 9
    assert probability_of_improvement(x, y) == pytest.approx(expected, abs=EXACT)
    assert probability_of_improvement(y, x) == pytest.approx(1 - expected, abs=EXACT)


def test_probability_of_improvement_is_u_over_nm_and_complements() -> None:
    rng = np.random.default_rng(11)
    x, y = rng.integers(0, 5, 9).astype(float), rng.integers(0, 5, 6).astype(float)  # many ties, unequal sizes
    u = stats.mannwhitneyu(x, y, alternative="two-sided").statistic
    assert probability_of_improvement(x, y) == pytest.approx(u / (x.size * y.size), abs=EXACT)
    assert mann_whitney(x, y)[0] == pytest.approx(u, abs=EXACT)
    assert probability_of_improvement(x, y) + probability_of_improvement(y, x) == pytest.approx(1.0, abs=EXACT)
    assert probability_of_improvement(x, x) == pytest.approx(0.5, abs=EXACT)


def test_probability_of_improvement_averages_tasks_as_rliable() -> None:
    rng = np.random.default_rng(12)
    x, y = rng.integers(0, 4, (5, 3)).astype(float), rng.integers(0, 4, (4, 3)).astype(float)
    y[:, 0] = x[:4, 0] + 10  # task 0: y always wins -> 0
    assert probability_of_improvement(x, y) == pytest.approx(rliable_probability_of_improvement(x, y), abs=EXACT)
    per_task = [probability_of_improvement(x[:, t], y[:, t]) for t in range(3)]
    assert per_task[0] == 0.0
    assert probability_of_improvement(x, y) == pytest.approx(np.mean(per_task), abs=EXACT)
    with pytest.raises(ValueError, match="number of tasks"):
        probability_of_improvement(x, y[:, :2])


# --- bootstrap -----------------------------------------------------------------------------------------------------


def test_bootstrap_is_reproducible_and_seeded() -> None:
    x = np.random.default_rng(2).normal(10.0, 2.0, size=12)
    assert bootstrap_ci(x, seed=7) == bootstrap_ci(x, seed=7)
    assert bootstrap_ci(x, seed=7) == bootstrap_ci(x, seed=np.random.default_rng(7))
    assert bootstrap_ci(x, seed=7) != bootstrap_ci(x, seed=8)
    assert bootstrap_ci(x, iqm) == bootstrap_ci(x, iqm)  # default seed is fixed
    assert difference_of_means_ci(x, x + 1) == difference_of_means_ci(x, x + 1)
    assert probability_of_improvement_ci(x, x + 1) == probability_of_improvement_ci(x, x + 1)


def test_bootstrap_intervals_contain_their_point_estimates() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.lognormal(0.0, 1.0, 8), rng.lognormal(0.3, 1.0, 6)
    for statistic in (np.mean, np.median, iqm):
        low, high = bootstrap_ci(x, statistic)
        assert low <= float(statistic(x)) <= high and low < high
    low, high = difference_of_means_ci(x, y)
    assert low <= x.mean() - y.mean() <= high
    low, high = probability_of_improvement_ci(x, y)
    assert 0.0 <= low <= probability_of_improvement(x, y) <= high <= 1.0


def test_mean_bootstrap_of_a_large_normal_sample_matches_the_t_interval() -> None:
    # n=400, sd 2: the t-interval's half-width is ~0.2. With 20000 resamples the Monte Carlo error of each bound is
    # ~1% of the half-width; the bootstrap's ddof=0 spread and z-vs-t quantile differ by < 0.5%. Tolerance: 5%.
    x = np.random.default_rng(2).normal(10.0, 2.0, size=400)
    t_low, t_high = stats.t.interval(0.95, df=x.size - 1, loc=x.mean(), scale=stats.sem(x))
    tolerance = 0.05 * (t_high - t_low) / 2
    low, high = bootstrap_ci(x, n_resamples=20000, seed=0)
    assert low == pytest.approx(t_low, abs=tolerance) and high == pytest.approx(t_high, abs=tolerance)


def test_bootstrap_is_the_percentile_method_of_scipy() -> None:
    # A skewed sample, where the percentile and the "basic" interval differ by ~0.09 at each end; both runs use 20000
    # resamples (Monte Carlo error ~0.004 per bound), so a tolerance of 0.03 tells the two methods apart.
    x = np.random.default_rng(5).lognormal(0.0, 1.0, 30)
    ours = bootstrap_ci(x, n_resamples=20000, seed=0)
    ref = stats.bootstrap((x,), np.mean, method="percentile", n_resamples=20000, rng=np.random.default_rng(1))
    basic = stats.bootstrap((x,), np.mean, method="basic", n_resamples=20000, rng=np.random.default_rng(1))
    assert ours == pytest.approx(tuple(ref.confidence_interval), abs=0.03)
    assert abs(ours[0] - basic.confidence_interval.low) > 0.06


def test_two_sample_bootstraps_resample_groups_independently_like_scipy() -> None:
    # scipy.stats.bootstrap with two samples (paired=False) resamples each independently; 20000 resamples on both
    # sides. Difference of means (CI width ~2.5): Monte Carlo gaps seen <= 0.016, while the "basic" interval is
    # 0.05-0.08 off, so tolerance 0.03. P(X > Y) takes values on a lattice of 1/(10*8) = 0.0125: tolerance one step.
    rng = np.random.default_rng(6)
    x, y = rng.normal(1.0, 1.0, 10), rng.normal(0.0, 1.5, 8)

    def diff(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean(a, axis=axis) - np.mean(b, axis=axis)

    def pairwise_wins(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        a, b = np.moveaxis(a, axis, -1)[..., :, None], np.moveaxis(b, axis, -1)[..., None, :]
        return ((a > b) + 0.5 * (a == b)).mean(axis=(-1, -2))  # the definition, pair by pair

    def scipy_ci(statistic: object) -> tuple[float, float]:
        ci = stats.bootstrap(
            (x, y), statistic, method="percentile", n_resamples=20000, rng=np.random.default_rng(2)
        ).confidence_interval
        return float(ci.low), float(ci.high)

    assert difference_of_means_ci(x, y, n_resamples=20000) == pytest.approx(scipy_ci(diff), abs=0.03)
    assert probability_of_improvement_ci(x, y, n_resamples=20000) == pytest.approx(scipy_ci(pairwise_wins), abs=1 / 80)


def test_stratified_bootstrap_resamples_runs_within_each_task() -> None:
    runs, tasks = 6, 3
    scores = 100.0 * np.arange(tasks)[None, :] + np.arange(runs)[:, None]  # value = 100 * task + run
    seen: list[np.ndarray] = []

    def spy(sample: np.ndarray) -> float:
        assert sample.shape == (runs, tasks)  # every resample keeps num_runs runs of every task
        seen.append(sample.copy())
        return float(sample.mean())

    bootstrap_ci(scores, spy, n_resamples=300, seed=0)
    assert len(seen) == 300
    samples = np.stack(seen)
    task_of_value = samples // 100
    assert np.all(task_of_value == np.arange(tasks))  # no run moves to another task
    run_index = samples % 100
    # runs are drawn independently per task (not one row index shared by all tasks, as an unstratified bootstrap)
    assert np.mean(run_index[:, :, 0] != run_index[:, :, 1]) > 0.5
    # a task whose runs all agree has no bootstrap spread, whatever the other tasks do
    constant = np.column_stack([np.zeros(6), np.full(6, 100.0)])
    assert bootstrap_ci(constant, np.mean) == pytest.approx((50.0, 50.0), abs=EXACT)


def test_vectorised_and_generic_statistics_draw_the_same_resamples() -> None:
    # 7 runs (1-D) and 7 x 2 scores: 7/4 and 14/4 are where a wrong rounding of the IQM cut would show
    rng = np.random.default_rng(8)
    for x in (rng.lognormal(0.0, 1.0, 7), rng.lognormal(0.0, 1.0, (7, 2))):
        for statistic in (np.mean, np.median, iqm):
            fast = bootstrap_ci(x, statistic, n_resamples=500, seed=4)
            slow = bootstrap_ci(x, lambda s, f=statistic: float(f(s)), n_resamples=500, seed=4)
            assert fast == pytest.approx(slow, abs=EXACT)


def test_bootstrap_is_undefined_below_two_runs_and_validates_arguments() -> None:
    assert np.isnan(bootstrap_ci(np.array([3.0]))).all()
    assert np.isnan(difference_of_means_ci(np.array([3.0]), np.array([1.0, 2.0]))).all()
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(np.ones(4), confidence=95)
    with pytest.raises(ValueError, match="num_runs"):
        bootstrap_ci(np.ones((2, 2, 2)))


# --- classical tests -----------------------------------------------------------------------------------------------


def test_welch_and_mann_whitney_equal_scipy() -> None:
    x = np.array([1.0, 2.5, 3.1, 4.8, 5.0])
    y = np.array([2.0, 2.2, 2.9, 3.0])
    reference = stats.ttest_ind(x, y, equal_var=False)
    assert welch_t(x, y) == pytest.approx((reference.statistic, reference.pvalue), rel=EXACT)
    reference = stats.mannwhitneyu(x, y, alternative="two-sided")
    assert mann_whitney(x, y) == pytest.approx((reference.statistic, reference.pvalue), rel=EXACT)
    assert np.isnan(welch_t(x, np.array([1.0]))).all()


def test_hedges_g_hand_computed() -> None:
    x, y = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 1.0, 2.0, 3.0])
    # means differ by 1; both variances (ddof=1) 5/3 -> pooled SD sqrt(5/3); J = 1 - 3 / (4 * 8 - 9) = 20/23
    assert hedges_g(x, y) == pytest.approx(1.0 / np.sqrt(5.0 / 3.0) * 20.0 / 23.0, abs=EXACT)
    assert hedges_g(y, x) == pytest.approx(-hedges_g(x, y), abs=EXACT)
    x, y = np.array([1.0, 2.5, 3.1, 4.8, 5.0]), np.array([2.0, 2.2, 2.9])
    pooled = np.sqrt((4 * x.var(ddof=1) + 2 * y.var(ddof=1)) / 6)
    assert hedges_g(x, y) == pytest.approx((x.mean() - y.mean()) / pooled * (1 - 3 / 23), abs=EXACT)
    assert np.isnan(hedges_g(np.array([1.0]), y))  # one run: no spread
    assert np.isnan(hedges_g(np.ones(3), np.ones(4)))  # zero pooled SD


def test_holm_correction_hand_worked() -> None:
    # sorted 0.01, 0.03, 0.04 -> 3 * 0.01 = 0.03, 2 * 0.03 = 0.06, max(0.06, 1 * 0.04) = 0.06
    np.testing.assert_allclose(holm_correction([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06], atol=EXACT)
    # sorted 0.005, 0.01, 0.03, 0.04 -> 0.02, 0.03, 0.06, max(0.06, 0.04)
    np.testing.assert_allclose(holm_correction([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02], atol=EXACT)
    np.testing.assert_allclose(holm_correction([0.5, 0.6]), [1.0, 1.0], atol=EXACT)  # capped at 1
    np.testing.assert_allclose(holm_correction([0.02]), [0.02], atol=EXACT)  # one test: unchanged
    adjusted = holm_correction([0.01, float("nan"), 0.04])  # NaN does not count: m = 2
    np.testing.assert_allclose(adjusted[[0, 2]], [0.02, 0.04], atol=EXACT)
    assert np.isnan(adjusted[1])


def test_holm_correction_is_monotone_and_never_below_raw() -> None:
    p = np.random.default_rng(9).uniform(0.0, 0.2, 15)
    adjusted = holm_correction(p)
    order = np.argsort(p)
    assert np.all(np.diff(adjusted[order]) >= 0)
    assert np.all(adjusted >= p) and np.all(adjusted <= 1.0)


def test_performance_profile_is_the_fraction_above_each_threshold() -> None:
    np.testing.assert_allclose(performance_profile(np.array([1, 2, 3, 4]), np.array([0, 2, 4])), [1.0, 0.5, 0.0])
    scores = np.random.default_rng(10).normal(size=(6, 3))
    taus = np.linspace(-2, 2, 9)
    np.testing.assert_allclose(performance_profile(scores, taus), [np.mean(scores > t) for t in taus], atol=EXACT)
    np.testing.assert_allclose(performance_profile(np.array([1.0, np.nan, 3.0]), np.array([2.0])), [0.5])
