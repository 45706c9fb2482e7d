"""Per-run and per-group summaries of a learning curve (pure functions over numpy arrays)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats


def window_size(n: int, window: float | int) -> int:
    """Points in a final window: a fraction (``0.1`` = last 10%) or an iteration count, at least one point."""
    if n <= 0:
        return 0
    size = math.ceil(n * window) if isinstance(window, float) and window <= 1.0 else int(window)
    return max(1, min(n, size))


def curve_summary(steps: np.ndarray, values: np.ndarray, final_window: float | int = 0.1) -> dict[str, Any]:
    """Summarise one curve.

    Args:
        steps: shape ``(n,)``, ascending iterations.
        values: shape ``(n,)``, the metric at each step (NaN allowed; ignored in means).
        final_window: fraction of points (or a count) that makes the "final" score.

    Returns: ``final`` (last value), ``final_mean`` (mean over the final window), ``initial``, ``max``, ``min``,
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
    final_mean = float(values[-window_size(n, final_window) :].mean())
    tail = values[-window_size(n, 0.2) :]
    initial = float(values[0])
    slope = float(stats.linregress(steps, values).slope) if n >= 2 and np.ptp(steps) > 0 else 0.0
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


def group_summary(scores: np.ndarray, seeds: list[Any]) -> dict[str, Any]:
    """Multi-seed statistics of one group's final scores.

    Args:
        scores: shape ``(num_runs,)``, one final score per run (NaN for runs without data; dropped).
        seeds: the seed of each run, same order.
    """
    scores = np.asarray(scores, dtype=np.float64)
    keep = np.isfinite(scores)
    scores, seeds = scores[keep], [s for s, k in zip(seeds, keep, strict=True) if k]
    n = int(scores.size)
    if n == 0:
        return {"n": 0}
    return {
        "n": n,
        "mean": float(scores.mean()),
        "std": float(scores.std(ddof=1)) if n >= 2 else 0.0,
        "median": float(np.median(scores)),
        "iqm": float(stats.trim_mean(scores, 0.25)),
        "min": float(scores.min()),
        "min_seed": seeds[int(scores.argmin())],
        "max": float(scores.max()),
        "max_seed": seeds[int(scores.argmax())],
    }
