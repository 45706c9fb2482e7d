"""Per-run and per-group summaries: one curve's summary, a run's final score, and a group's multi-seed statistics.

Pure functions over numpy arrays. The one rule for spreads: a standard deviation or confidence interval of fewer
than 2 runs is undefined (NaN, written ``null`` in JSON), because the spread of one run says nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpc_sweep.analyse.stats import Seed, bootstrap_ci, iqm

DEFAULT_FINAL_WINDOW = 0.1
"""The final window of ``training_results.json``'s ``final_score``: the last 10% of a run's logged points."""


def window_size(n: int, window: float | int) -> int:
    """Points in a final window: a fraction (``0.1`` = last 10%) or an iteration count, at least one point."""
    if n <= 0:
        return 0
    size = math.ceil(n * window) if isinstance(window, float) and window <= 1.0 else int(window)
    return max(1, min(n, size))


def final_score(values: np.ndarray, final_window: float | int = DEFAULT_FINAL_WINDOW) -> float:
    """A run's final score: the mean of its last ``final_window`` finite values.

    The one definition behind ``final_score`` in ``training_results.json`` and the scores ``compare`` tests.

    Args:
        values: shape ``(n,)``, the metric at each logged step, in step order; NaN/inf points are skipped.
        final_window: a fraction of the points (``0.1`` = the last 10%, at least one point) or a number of points.

    Returns: the mean, NaN when no value is finite.
    """
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return float("nan")
    return float(finite[-window_size(finite.size, final_window) :].mean())


def curve_summary(
    steps: np.ndarray, values: np.ndarray, final_window: float | int = DEFAULT_FINAL_WINDOW
) -> dict[str, Any]:
    """Summarise one curve.

    Args:
        steps: shape ``(n,)``, ascending iterations.
        values: shape ``(n,)``, the metric at each step (NaN allowed; ignored in means).
        final_window: fraction of points (or a count) that makes the "final" score.

    Returns: ``final`` (last value), ``final_mean`` (:func:`final_score`), ``initial``, ``max``, ``min``,
    ``iterations`` (last step + 1), ``convergence_stability`` (std over the final 20%), ``improvement_rate``
    (least-squares slope per iteration), ``iterations_to_90`` (first step reaching 90% of the way from the initial
    value to the final mean), all None for an empty curve.
    """
    steps = np.asarray(steps, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        keys = ("final", "final_mean", "initial", "max", "min", "iterations", "convergence_stability")
        return dict.fromkeys((*keys, "improvement_rate", "iterations_to_90"))
    steps, values = steps[finite], values[finite]
    n = values.size
    final_mean = final_score(values, final_window)
    tail = values[-window_size(n, 0.2) :]
    initial = float(values[0])
    slope = _slope(steps, values) if n >= 2 and np.ptp(steps) > 0 else 0.0
    target = initial + 0.9 * (final_mean - initial)
    reached = values >= target if final_mean >= initial else values <= target
    return {
        "final": float(values[-1]),
        "final_mean": final_mean,
        "initial": initial,
        "max": float(values.max()),
        "min": float(values.min()),
        "iterations": int(steps[-1]) + 1,
        "convergence_stability": float(tail.std(ddof=1)) if tail.size >= 2 else 0.0,
        "improvement_rate": slope,
        "iterations_to_90": int(steps[np.argmax(reached)]) if reached.any() else None,
    }


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    """The least-squares slope of ``y`` on ``x`` (``scipy.stats.linregress``'s, without importing scipy.stats)."""
    dx = x - x.mean()
    return float((dx * (y - y.mean())).sum() / (dx * dx).sum())


@dataclass(frozen=True)
class GroupStats:
    """Multi-seed statistics of one group's final scores: the one type behind every group row we write.

    ``n`` counts runs with a score. ``std`` (``ddof=1``), ``mean_ci`` and ``iqm_ci`` (95% percentile bootstrap) are
    NaN for ``n < 2``; every estimate is NaN (and the seeds None) for ``n == 0``.
    """

    n: int
    mean: float
    std: float
    median: float
    iqm: float
    min: float
    min_seed: Any
    max: float
    max_seed: Any
    mean_ci: tuple[float, float]
    iqm_ci: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, in the key order of the group rows: ``n, mean, std, median, iqm, min, min_seed, max,
        max_seed, mean_ci, iqm_ci`` (intervals as ``[low, high]`` lists; NaN stays a float NaN)."""
        return {
            "n": self.n,
            "mean": self.mean,
            "std": self.std,
            "median": self.median,
            "iqm": self.iqm,
            "min": self.min,
            "min_seed": self.min_seed,
            "max": self.max,
            "max_seed": self.max_seed,
            "mean_ci": list(self.mean_ci),
            "iqm_ci": list(self.iqm_ci),
        }


def group_stats(scores: np.ndarray, seeds: Sequence[Any] | None = None, seed: Seed = 0) -> GroupStats:
    """Point estimates and 95% bootstrap CIs of one group's final scores.

    Args:
        scores: shape ``(num_runs,)``, one final score per run; NaN scores (runs without data) are dropped first.
        seeds: the training seed of each run, same order as ``scores`` (names ``min_seed``/``max_seed``); None
            leaves them None.
        seed: seed of both bootstraps (the same call gives the same intervals).
    """
    values = np.asarray(scores, dtype=np.float64).ravel()
    keep = ~np.isnan(values)
    kept_seeds = [s for s, k in zip(seeds, keep, strict=True) if k] if seeds is not None else None
    values = values[keep]
    nan = float("nan")
    if values.size == 0:
        return GroupStats(0, nan, nan, nan, nan, nan, None, nan, None, (nan, nan), (nan, nan))
    lowest, highest = int(values.argmin()), int(values.argmax())
    return GroupStats(
        n=int(values.size),
        mean=float(values.mean()),
        std=float(values.std(ddof=1)) if values.size >= 2 else nan,
        median=float(np.median(values)),
        iqm=iqm(values),
        min=float(values[lowest]),
        min_seed=kept_seeds[lowest] if kept_seeds is not None else None,
        max=float(values[highest]),
        max_seed=kept_seeds[highest] if kept_seeds is not None else None,
        mean_ci=bootstrap_ci(values, np.mean, seed=seed),
        iqm_ci=bootstrap_ci(values, iqm, seed=seed),
    )
