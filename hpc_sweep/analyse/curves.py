"""Aggregate learning curves across seeds: aligned on iterations, with bootstrap confidence bands (pure numpy)."""

from __future__ import annotations

import numpy as np


def align_curves(series: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Put runs on a common iteration axis.

    Args:
        series: per run, ``(steps, values)`` with steps of shape ``(n_i,)``.

    Returns: ``steps`` of shape ``(num_steps,)`` (the union of all steps) and ``curves`` of shape
    ``(num_runs, num_steps)`` with NaN where a run has no point at that step.
    """
    if not series:
        return np.array([], dtype=np.int64), np.empty((0, 0))
    steps = np.unique(np.concatenate([np.asarray(s, dtype=np.int64) for s, _ in series]))
    curves = np.full((len(series), steps.size), np.nan)
    for row, (run_steps, values) in enumerate(series):
        curves[row, np.searchsorted(steps, np.asarray(run_steps, dtype=np.int64))] = values
    return steps, curves


def mean_curve_ci(
    curves: np.ndarray, confidence: float = 0.95, n_resamples: int = 1000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over runs at each step with a percentile-bootstrap band (runs resampled with replacement).

    Args:
        curves: shape ``(num_runs, num_steps)``; NaN entries are ignored.

    Returns: ``mean``, ``low``, ``high``, each of shape ``(num_steps,)``. One run gives a zero-width band.
    """
    curves = np.asarray(curves, dtype=np.float64)
    with np.errstate(all="ignore"):
        mean = np.nanmean(curves, axis=0)
        if curves.shape[0] < 2:
            return mean, mean.copy(), mean.copy()
        rng = np.random.default_rng(seed)
        index = rng.integers(0, curves.shape[0], size=(n_resamples, curves.shape[0]))
        boot = np.nanmean(curves[index], axis=1)  # (n_resamples, num_steps)
        alpha = (1.0 - confidence) / 2.0
        low, high = np.nanquantile(boot, [alpha, 1.0 - alpha], axis=0)
    return mean, low, high
