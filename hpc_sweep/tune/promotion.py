"""The successive-halving rule, as pure functions: a trial's score at a rung, and which trials a rung promotes.

Asynchronous successive halving (ASHA, Li et al. 2020, "A System for Massively Parallel Hyperparameter Tuning"):
a rung's decisions never wait for the whole rung. Whenever ``n`` trials have finished rung ``k``, the best
``floor(n / eta)`` of them are promotable to rung ``k + 1``; a trial already promoted is not promoted twice. A trial
that is not among them now may be later, once more trials have finished the rung and ``floor(n / eta)`` has grown:
since a promotion *resumes* the trial's runs from their checkpoints, waiting costs nothing but the wait (Optuna's
own SuccessiveHalvingPruner must decide at once, because a pruned Optuna trial cannot be resumed).

Scores are multi-seed: a trial's score at a rung is the interquartile mean over its seeds of each seed's final-window
mean of the metric, up to the rung's budget. Seeds whose run failed (or left no data) are left out; a trial with
fewer than ``min_seeds`` scored seeds has no score, still counts among the ``n`` trials that finished the rung (a
configuration whose training diverges is a finished, bad configuration) and is never promoted.

Ties are broken by trial number (the earlier trial first), so that a decision is the same whenever it is made again
(a restarted controller recomputes the same promotions).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from hpc_sweep.analyse.stats import iqm
from hpc_sweep.analyse.summary import final_score


@dataclass(frozen=True)
class RungOutcome:
    """One trial that finished a rung: its score there (None: too few seeds scored)."""

    trial: int
    score: float | None


def seed_score(steps: np.ndarray, values: np.ndarray, budget: int, final_window: float | int) -> float | None:
    """One seed's score at a rung: the mean of the metric over its final window, among its points before ``budget``.

    Args:
        steps, values: shape ``(n,)``, the run's stitched curve (iterations and metric values), in step order.
        budget: the rung's iteration budget; points at ``budget`` or later (a longer run read later) are ignored.
        final_window: a fraction of those points (``0.1``) or a number of iterations (see :func:`final_score`).

    Returns: the score, None when no finite point lies before ``budget``.
    """
    keep = np.asarray(steps) < budget
    score = final_score(np.asarray(values, dtype=np.float64)[keep], final_window)
    return None if math.isnan(score) else score


def trial_score(seed_scores: Sequence[float | None], min_seeds: int) -> float | None:
    """A trial's score at a rung: the IQM of its seeds' scores, None when fewer than ``min_seeds`` were scored."""
    scored = [score for score in seed_scores if score is not None and math.isfinite(score)]
    if len(scored) < max(1, min_seeds):
        return None
    return iqm(np.asarray(scored))


def promotions(outcomes: Sequence[RungOutcome], promoted: Collection[int], eta: int, maximize: bool) -> list[int]:
    """The trials to promote from a rung now, best first: those among the best ``floor(n / eta)`` of the ``n``
    trials that finished it which were not promoted before (see the module docstring for ties and missing scores)."""
    if eta < 2:
        raise ValueError(f"eta must be at least 2, got {eta}")
    quota = len(outcomes) // eta
    ranked = sorted(
        (outcome for outcome in outcomes if outcome.score is not None and math.isfinite(outcome.score)),
        key=lambda outcome: (-outcome.score if maximize else outcome.score, outcome.trial),  # type: ignore[operator]
    )
    return [outcome.trial for outcome in ranked[:quota] if outcome.trial not in promoted]


def rung_budgets(max_iterations: int, min_iterations: int, eta: int) -> tuple[int, ...]:
    """Rung budgets from the top down, as Hyperband spaces them: ``max, max/eta, max/eta^2, ...`` (rounded), none below
    ``min_iterations``; so the last rung is exactly the full budget. ``(900, 100, 3)`` gives ``(100, 300, 900)``."""
    if not 0 < min_iterations <= max_iterations:
        raise ValueError(f"need 0 < min_iterations <= max_iterations, got {min_iterations} and {max_iterations}")
    budgets = [max_iterations]
    while True:
        lower = round(budgets[-1] / eta)
        if lower < min_iterations or lower >= budgets[-1] or lower <= 0:
            break
        budgets.append(lower)
    return tuple(reversed(budgets))
