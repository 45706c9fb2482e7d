"""Verdicts (:mod:`hpc_sweep.analyse.verdict`): every pair compared, significance needing both the test and the CI,
and the words and warnings a reader acts on. Fixed seeds; the statistics behind them are pinned in test_stats.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from hpc_sweep.analyse import stats as stats_module
from hpc_sweep.analyse.stats import holm_correction, probability_of_improvement
from hpc_sweep.analyse.verdict import FEW_RUNS, compare_groups

EXACT = 1e-12  # same arithmetic, possibly summed in another order


def test_a_real_difference_is_found() -> None:
    rng = np.random.default_rng(3)
    base, better = rng.normal(0.0, 1.0, 10), rng.normal(3.0, 1.0, 10)
    (pair,) = compare_groups({"better": better, "base": base})
    assert (pair.a, pair.b) == ("better", "base")
    assert pair.significant and pair.diff > 0 and pair.diff_ci[0] > 0
    assert pair.verdict.startswith("better is higher than base (mean difference +")
    assert "after Holm" not in pair.verdict and "few runs" not in pair.verdict and pair.warnings == []
    assert pair.p_adjusted == pair.welch_p < 0.001
    assert pair.prob_improvement == pytest.approx(probability_of_improvement(better, base), abs=EXACT)
    assert pair.prob_improvement > 0.9 and pair.prob_improvement_ci[0] > 0.5
    assert pair.hedges_g > 2
    (reverse,) = compare_groups({"base": base, "better": better})
    assert reverse.significant and "base is lower than better" in reverse.verdict
    assert reverse.prob_improvement == pytest.approx(1 - pair.prob_improvement, abs=EXACT)


def test_halves_of_one_configuration_are_not_different() -> None:
    same = np.random.default_rng(3).normal(0.0, 1.0, 20)
    (pair,) = compare_groups({"first half": same[:10], "second half": same[10:]})
    assert not pair.significant and pair.p_adjusted > 0.05
    assert pair.diff_ci[0] < 0 < pair.diff_ci[1]
    assert pair.verdict.startswith("no evidence of a difference between first half and second half")
    assert "P(first half > second half) = " in pair.verdict


def test_three_groups_are_holm_corrected() -> None:
    rng = np.random.default_rng(4)
    groups = {k: rng.normal(1.5 * i, 1.0, 6) for i, k in enumerate("abc")}
    rows = compare_groups(groups)
    assert [(r.a, r.b) for r in rows] == [("a", "b"), ("a", "c"), ("b", "c")]
    np.testing.assert_allclose([r.p_adjusted for r in rows], holm_correction([r.welch_p for r in rows]), atol=EXACT)
    assert all(r.p_adjusted >= r.welch_p for r in rows)
    assert any(r.p_adjusted > r.welch_p for r in rows)
    assert all("after Holm" in r.verdict for r in rows)
    for r in rows:  # significance needs both the adjusted p and a CI that excludes 0
        assert r.significant == (r.p_adjusted < 0.05 and (r.diff_ci[0] > 0 or r.diff_ci[1] < 0))


def test_significance_needs_both_the_test_and_the_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    # Real data where they disagree: with 6 skewed runs the percentile bootstrap CI (narrower than the t-interval at
    # small n) excludes 0 while Welch's p = 0.088.
    x = np.array([2.9, 5.9, 0.1, 0.9, 2.8, 3.9])
    y = np.array([1.0, 2.2, 0.7, 0.9, 0.6, 0.2])
    (pair,) = compare_groups({"a": x, "b": y})
    assert pair.diff_ci[0] > 0 and pair.p_adjusted > 0.05 and not pair.significant
    assert pair.verdict.startswith("inconclusive difference between a and b")
    assert any("disagree" in w for w in pair.warnings)
    # The other way round (p < alpha, CI covering 0) is rare with real data, so force the interval.
    rng = np.random.default_rng(3)
    groups = {"better": rng.normal(3.0, 1.0, 10), "base": rng.normal(0.0, 1.0, 10)}
    monkeypatch.setattr(stats_module, "difference_of_means_ci", lambda *args, **kwargs: (-0.1, 5.0))
    (pair,) = compare_groups(groups)
    assert pair.p_adjusted < 0.001 and not pair.significant and pair.verdict.startswith("inconclusive")


def test_few_runs_warn_in_the_verdict() -> None:
    rows = compare_groups({"a": np.array([1.0, 2.0, 3.0]), "b": np.array([1.5, 2.5, 3.5])})
    assert FEW_RUNS == 5
    assert "(few runs: n=3 vs 3 — treat with caution)" in rows[0].verdict
    assert rows[0].warnings[0] == "few runs: n=3 vs 3 — treat with caution"
    assert any("Mann-Whitney test cannot reach" in w for w in rows[0].warnings)  # smallest exact p is 2/20 = 0.1
    five = compare_groups({"a": np.arange(5.0), "b": np.arange(5.0) + 0.5})
    assert "few runs" not in five[0].verdict


def test_one_run_or_missing_scores_are_reported_not_hidden() -> None:
    (pair,) = compare_groups({"a": np.array([1.0, np.nan, 2.0, 3.0]), "b": np.array([5.0])})
    assert pair.n_a == 3 and pair.n_b == 1
    assert not pair.significant and np.isnan(pair.welch_p) and np.isnan(pair.diff_ci).all()
    assert pair.verdict.startswith("cannot test a against b")
    assert any("1 run(s) of a without a score" in w for w in pair.warnings)


def test_to_dict_is_json_ready() -> None:
    rng = np.random.default_rng(5)
    (pair,) = compare_groups({"a": rng.normal(0, 1, 6), "b": rng.normal(1, 1, 6)})
    data = pair.to_dict()
    assert isinstance(data["diff_ci"], list) and isinstance(data["prob_improvement_ci"], list)
    assert all(type(data[k]) is float for k in ("mean_a", "diff", "welch_p", "mw_u", "p_adjusted", "hedges_g"))
    assert type(data["significant"]) is bool and type(data["n_a"]) is int
    assert json.loads(json.dumps(data))["verdict"] == pair.verdict
