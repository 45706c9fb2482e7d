"""The successive-halving rule on synthetic curves: rung scores over seeds, ties, missing seeds, failed runs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpc_sweep.tune.promotion import RungOutcome, promotions, rung_budgets, seed_score, trial_score


def _curve(level: float, iterations: int, noise: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A learning curve rising to ``level``: what a seed of a configuration logs."""
    rng = np.random.default_rng(seed)
    steps = np.arange(iterations)
    return steps, level * (1 - np.exp(-steps / 20)) + rng.normal(0, noise, iterations)


def test_a_seed_is_scored_on_its_final_window_before_the_budget() -> None:
    steps = np.arange(300)
    values = np.where(steps < 100, 1.0, 50.0)  # a run read later, already past the rung of 100
    assert seed_score(steps, values, budget=100, final_window=0.1) == 1.0  # nothing at or after 100 counts
    values = np.arange(100, dtype=float)
    assert seed_score(steps[:100], values, budget=100, final_window=10) == pytest.approx(np.mean(range(90, 100)))
    assert seed_score(steps[:100], np.full(100, np.nan), budget=100, final_window=0.1) is None


def test_a_trial_score_is_the_iqm_over_seeds_and_needs_enough_seeds() -> None:
    assert trial_score([1.0, 2.0, 3.0, 100.0, 4.0, 5.0, 6.0, 7.0], min_seeds=2) == pytest.approx(4.5)  # IQM: 3..6
    assert trial_score([1.0, None, 3.0], min_seeds=2) == pytest.approx(2.0)  # a failed seed is left out
    assert trial_score([1.0, None, None], min_seeds=2) is None  # too few seeds scored: no score
    assert trial_score([float("nan"), 2.0], min_seeds=2) is None


def test_the_best_third_of_a_rung_is_promoted_from_synthetic_curves() -> None:
    levels = [5.0, 9.0, 1.0, 7.0, 3.0, 8.0, 2.0, 6.0, 4.0]  # nine trials; trials 1, 5 and 3 are best
    outcomes = []
    for trial, level in enumerate(levels):
        seeds = [seed_score(*_curve(level, 100, 0.1, seed), budget=100, final_window=0.1) for seed in range(3)]
        outcomes.append(RungOutcome(trial, trial_score(seeds, min_seeds=2)))
    assert promotions(outcomes, promoted=set(), eta=3, maximize=True) == [1, 5, 3]
    assert promotions(outcomes, promoted={1, 5}, eta=3, maximize=True) == [3]  # never twice
    assert promotions(outcomes, promoted=set(), eta=3, maximize=False) == [2, 6, 4]  # a loss: lowest first


def test_promotion_is_asynchronous_a_quota_grows_with_the_finished_trials() -> None:
    finished = [RungOutcome(0, 1.0), RungOutcome(1, 5.0)]
    assert promotions(finished, set(), eta=3, maximize=True) == []  # two of a rung: no third to beat yet
    finished.append(RungOutcome(2, 3.0))
    assert promotions(finished, set(), eta=3, maximize=True) == [1]
    finished += [RungOutcome(3, 4.0), RungOutcome(4, 0.5), RungOutcome(5, 0.2)]
    assert promotions(finished, {1}, eta=3, maximize=True) == [3]  # six finished: the best two, 1 already went


def test_ties_go_to_the_earlier_trial_and_failed_trials_count_but_never_rise() -> None:
    tied = [RungOutcome(4, 2.0), RungOutcome(1, 2.0), RungOutcome(7, 2.0)]
    assert promotions(tied, set(), eta=3, maximize=True) == [1]
    with_failures = [RungOutcome(0, None), RungOutcome(1, None), RungOutcome(2, -5.0)]
    assert promotions(with_failures, set(), eta=3, maximize=True) == [2]  # 3 finished: quota 1, the one scored
    all_failed = [RungOutcome(n, None) for n in range(6)]
    assert promotions(all_failed, set(), eta=2, maximize=True) == []


@given(
    st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6)), min_size=0, max_size=40),
    st.integers(2, 5),
    st.booleans(),
)
def test_promotions_never_exceed_the_quota_and_are_the_best(scores: list, eta: int, maximize: bool) -> None:
    outcomes = [RungOutcome(n, score) for n, score in enumerate(scores)]
    chosen = promotions(outcomes, set(), eta, maximize)
    assert len(chosen) <= len(outcomes) // eta
    assert all(scores[n] is not None for n in chosen)
    others = [s for n, s in enumerate(scores) if n not in chosen and s is not None]
    for n in chosen:
        assert all((scores[n] >= s) if maximize else (scores[n] <= s) for s in others) or len(chosen) == 0


def test_rung_budgets_are_spaced_by_eta_from_the_full_budget_down() -> None:
    assert rung_budgets(900, 100, 3) == (100, 300, 900)
    assert rung_budgets(1000, 100, 3) == (111, 333, 1000)
    assert rung_budgets(900, 101, 3) == (300, 900)
    assert rung_budgets(50, 50, 3) == (50,)
    with pytest.raises(ValueError):
        rung_budgets(100, 200, 3)
