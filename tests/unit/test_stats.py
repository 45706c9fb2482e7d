"""Statistics checked against scipy and against rliable's published definitions, on fixed data (tolerances stated)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from hpc_sweep.analyse.stats import (
    bootstrap_ci,
    compare_groups,
    hedges_g,
    holm_correction,
    iqm,
    mann_whitney,
    performance_profile,
    probability_of_improvement,
    probability_of_improvement_ci,
    welch_t,
)


def test_iqm_is_the_25_percent_trimmed_mean() -> None:
    assert iqm(np.arange(1, 9)) == pytest.approx(4.5)  # middle four of 1..8
    x = np.random.default_rng(1).normal(size=23)
    assert iqm(x) == pytest.approx(stats.trim_mean(x, 0.25), abs=1e-12)


def test_probability_of_improvement_counts_ties_as_half() -> None:
    x, y = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 0.0])
    expected = (0 + 0 + 1 + 0.5 + 0.5 + 1 + 1 + 1 + 1) / 9
    assert probability_of_improvement(x, y) == pytest.approx(expected)
    u = stats.mannwhitneyu(x, y).statistic
    assert probability_of_improvement(x, y) == pytest.approx(u / 9)
    assert probability_of_improvement(x, y) + probability_of_improvement(y, x) == pytest.approx(1.0)


def test_bootstrap_is_reproducible_contains_the_estimate_and_matches_the_t_interval() -> None:
    x = np.random.default_rng(2).normal(10.0, 2.0, size=400)
    first, second = bootstrap_ci(x, seed=7), bootstrap_ci(x, seed=7)
    assert first == second
    assert first[0] < x.mean() < first[1]
    t_low, t_high = stats.t.interval(0.95, df=x.size - 1, loc=x.mean(), scale=stats.sem(x))
    assert first[0] == pytest.approx(t_low, abs=0.05) and first[1] == pytest.approx(t_high, abs=0.05)


def test_stratified_bootstrap_resamples_runs_within_each_task() -> None:
    scores = np.column_stack([np.zeros(6), np.full(6, 100.0)])  # task 2 always 100: must never leak into task 1
    low, high = bootstrap_ci(scores, np.mean, seed=0)
    assert low == pytest.approx(50.0) and high == pytest.approx(50.0)


def test_tests_equal_scipy_and_hand_computations() -> None:
    x = np.array([1.0, 2.5, 3.1, 4.8, 5.0])
    y = np.array([2.0, 2.2, 2.9, 3.0])
    assert welch_t(x, y)[1] == pytest.approx(stats.ttest_ind(x, y, equal_var=False).pvalue, rel=1e-12)
    assert mann_whitney(x, y)[1] == pytest.approx(stats.mannwhitneyu(x, y, alternative="two-sided").pvalue)
    pooled = np.sqrt(((x.size - 1) * x.var(ddof=1) + (y.size - 1) * y.var(ddof=1)) / (x.size + y.size - 2))
    expected = (x.mean() - y.mean()) / pooled * (1 - 3 / (4 * (x.size + y.size) - 9))
    assert hedges_g(x, y) == pytest.approx(expected)


def test_holm_correction_hand_worked_and_monotone() -> None:
    np.testing.assert_allclose(holm_correction([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    adjusted = holm_correction([0.2, 0.001, 0.5, 0.04, float("nan")])
    assert np.isnan(adjusted[-1])
    order = np.argsort([0.2, 0.001, 0.5, 0.04])
    assert np.all(np.diff(adjusted[:4][order]) >= 0) and np.nanmax(adjusted) <= 1.0


def test_performance_profile_is_the_fraction_above_each_threshold() -> None:
    np.testing.assert_allclose(performance_profile(np.array([1, 2, 3, 4]), np.array([0, 2, 4])), [1.0, 0.5, 0.0])


def test_a_real_difference_is_found_and_halves_of_one_config_are_not() -> None:
    rng = np.random.default_rng(3)
    base, better = rng.normal(0.0, 1.0, 10), rng.normal(3.0, 1.0, 10)
    (pair,) = compare_groups({"better": better, "base": base})
    assert pair.significant and pair.diff > 0 and "higher" in pair.verdict
    assert pair.prob_improvement > 0.9 and pair.prob_improvement_ci[0] > 0.5
    same = rng.normal(0.0, 1.0, 20)
    (null,) = compare_groups({"first half": same[:10], "second half": same[10:]})
    assert not null.significant and "no evidence" in null.verdict


def test_three_groups_get_holm_and_few_runs_warn() -> None:
    rng = np.random.default_rng(4)
    rows = compare_groups({k: rng.normal(i, 1.0, 4) for i, k in enumerate("abc")})
    assert len(rows) == 3
    assert all(r.p_adjusted >= r.welch_p for r in rows)
    assert all("few runs" in r.verdict for r in rows)
    assert isinstance(rows[0].to_dict()["diff_ci"], list)


def test_probability_of_improvement_ci_brackets_the_estimate() -> None:
    x, y = np.array([3.0, 4.0, 5.0, 6.0, 7.0]), np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    low, high = probability_of_improvement_ci(x, y, seed=0)
    assert low <= probability_of_improvement(x, y) <= high
