"""Multi-seed statistics for comparing RL configurations, as pure functions over numpy arrays.

Why this module exists: with 3-10 seeds per configuration, a difference of means alone is mostly noise. We follow
Agarwal et al. (NeurIPS 2021), "Deep RL at the Edge of the Statistical Precipice", and re-implement the definitions of
its library rliable with numpy/scipy (rliable 1.2.0 cannot be installed beside pandas 3, so it is not a dependency):

* IQM (interquartile mean): ``scipy.stats.trim_mean(scores, 0.25)`` over all runs (and tasks), as
  ``rliable.metrics.aggregate_iqm``.
* Confidence intervals: percentile bootstrap over runs; for ``(num_runs, num_tasks)`` scores a *stratified*
  bootstrap that resamples runs independently within each task (``rliable.library.StratifiedBootstrap``); two-sample
  statistics resample both groups independently (``StratifiedIndependentBootstrap``).
* Probability of improvement: ``P(X > Y) = 1/(N*M) sum_i sum_j S(x_i, y_j)`` with ``S = 1`` if ``x > y``, ``1/2`` on a
  tie, else ``0`` -- the Mann-Whitney U statistic over ``N*M`` -- averaged over tasks
  (``rliable.metrics.probability_of_improvement``).
* Performance profile: the run-score distribution, the fraction of runs scoring above each threshold
  (``rliable.library.run_score_deviation``).

Next to them, the classical tests a reader expects (Welch's t, Mann-Whitney U, Hedges' g, Holm-Bonferroni) come from
scipy. This module is statistics only: :mod:`hpc_sweep.analyse.summary` builds a group's statistics from it
(``GroupStats``), and :mod:`hpc_sweep.analyse.verdict` turns the tests into one verdict in words per pair of
configurations (``compare_groups``, still importable from here).

Conventions: ``scores`` arrays are ``(num_runs,)`` or ``(num_runs, num_tasks)``, as stated per function. Functions
that take scores return NaN where a statistic is undefined (no runs, fewer than 2 runs for a spread) instead of
raising; NaN scores (runs without data) must be dropped by the caller. Every bootstrap is seeded (``seed``: an int
or a ``numpy.random.Generator``, default ``0``), so the same call gives the same interval.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

N_RESAMPLES = 2000
"""Default bootstrap resamples (rliable's default for performance profiles)."""

_CHUNK = 256
"""Resamples drawn at once in the vectorised two-sample bootstrap: bounds memory at ``_CHUNK * runs * tasks``."""

Seed = int | np.random.Generator


def _runs_by_tasks(scores: np.ndarray, name: str = "scores") -> np.ndarray:
    """``scores`` as a float matrix of shape ``(num_runs, num_tasks)``; 1-D input becomes one task."""
    data = np.asarray(scores, dtype=np.float64)
    if data.ndim == 1:
        return data[:, None]
    if data.ndim == 2:
        return data
    raise ValueError(f"{name}: expected shape (num_runs,) or (num_runs, num_tasks), got {data.shape}")


def _runs(scores: np.ndarray, name: str = "scores") -> np.ndarray:
    """``scores`` as a float vector of shape ``(num_runs,)``, for the two-sample tests that have no task axis."""
    data = np.asarray(scores, dtype=np.float64)
    if data.ndim != 1:
        raise ValueError(f"{name}: expected shape (num_runs,), got {data.shape}")
    return data


def _check_bootstrap(confidence: float, n_resamples: int) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")


def _percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates (linear interpolation, as ``np.percentile`` in arch/rliable)."""
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50% of scores, robust to a few outlier seeds.

    Exactly ``scipy.stats.trim_mean(scores, 0.25, axis=None)`` (rliable's ``aggregate_iqm``): ``int(0.25 * n)`` scores
    are cut from each end of the sorted, flattened scores, so for ``n < 4`` nothing is cut and it is the mean.

    Args:
        scores: shape ``(num_runs,)`` or ``(num_runs, num_tasks)``; all runs of all tasks are pooled.

    Returns: the IQM, NaN for no scores.
    """
    flat = np.asarray(scores, dtype=np.float64).ravel()
    if flat.size == 0:
        return float("nan")
    return float(_batch_iqm(flat[None, :])[0])


def _batch_iqm(samples: np.ndarray) -> np.ndarray:
    """IQM of each row of ``samples`` (shape ``(batch, k)``), with ``scipy.stats.trim_mean``'s cut of ``int(k / 4)``."""
    k = samples.shape[1]
    cut = int(0.25 * k)
    return np.sort(samples, axis=1)[:, cut : k - cut].mean(axis=1)


_BATCH_STATISTICS: dict[Callable[..., Any], Callable[[np.ndarray], np.ndarray]] = {
    np.mean: lambda samples: samples.mean(axis=1),
    np.median: lambda samples: np.median(samples, axis=1),
    iqm: _batch_iqm,
}
"""Statistics that pool all runs and tasks, computed for a whole chunk of resamples at once (about 50x faster than
calling them per resample); ``bootstrap_ci`` draws the same resamples either way."""


def bootstrap_ci(
    scores: np.ndarray,
    statistic: Callable[[np.ndarray], float] = np.mean,
    confidence: float = 0.95,
    n_resamples: int = N_RESAMPLES,
    seed: Seed = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``statistic`` over runs; seeded, so reproducible.

    Runs are resampled with replacement. For 2-D scores the bootstrap is stratified as rliable's
    ``StratifiedBootstrap``: each resample keeps ``num_runs`` runs *per task*, drawn independently within each task,
    so a task never borrows another task's runs and every task keeps its weight. The interval is the
    ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of the replicates (rliable's default
    ``method="percentile"``).

    Args:
        scores: shape ``(num_runs,)`` or ``(num_runs, num_tasks)``.
        statistic: maps a resample of the same shape as ``scores`` to a scalar (``np.mean``, :func:`iqm`, ...).
            ``np.mean``, ``np.median`` and :func:`iqm` (which pool runs and tasks) are evaluated vectorised.
        confidence: coverage of the interval.
        n_resamples: bootstrap replicates.
        seed: int seed or ``numpy.random.Generator``.

    Returns: ``(low, high)``; ``(nan, nan)`` with fewer than 2 runs, where resampling says nothing about spread.
    """
    _check_bootstrap(confidence, n_resamples)
    data = np.asarray(scores, dtype=np.float64)
    matrix = _runs_by_tasks(data)
    runs, tasks = matrix.shape
    if runs < 2 or tasks == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    batch = next((fast for known, fast in _BATCH_STATISTICS.items() if known is statistic), None)  # by identity
    columns = np.arange(tasks)
    values = np.empty(n_resamples)
    for start in range(0, n_resamples, _CHUNK):
        size = min(_CHUNK, n_resamples - start)
        samples = matrix[rng.integers(0, runs, size=(size, runs, tasks)), columns]  # (size, runs, tasks)
        if batch is not None:
            values[start : start + size] = batch(samples.reshape(size, runs * tasks))
        else:
            values[start : start + size] = [float(statistic(sample.reshape(data.shape))) for sample in samples]
    return _percentile_interval(values, confidence)


def _probability_of_improvement_batch(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """P(X > Y) of each of a batch of sample pairs, from mid-ranks (the Mann-Whitney U statistic).

    With ties ranked by their average, ``U = (sum of the ranks of x) - n(n+1)/2`` equals the pairwise count with ties
    as one half, in ``O((n+m) log(n+m))`` instead of ``O(n*m)`` per resample.

    Args:
        xs: shape ``(batch, n, num_tasks)``; ys: shape ``(batch, m, num_tasks)``.

    Returns: shape ``(batch,)``, the per-task probabilities averaged over tasks.
    """
    n, m = xs.shape[1], ys.shape[1]
    from scipy import stats  # imported on use: scipy.stats takes most of a second to import

    ranks = stats.rankdata(np.concatenate([xs, ys], axis=1), axis=1)
    u = ranks[:, :n, :].sum(axis=1) - n * (n + 1) / 2.0
    return (u / (n * m)).mean(axis=1)


def _two_sample_inputs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = _runs_by_tasks(x, "x"), _runs_by_tasks(y, "y")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y must have the same number of tasks, got {a.shape[1]} and {b.shape[1]}")
    return a, b


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y): the chance that a random run of X scores above a random run of Y, ties counting one half.

    rliable's definition: ``(1/(N*M)) * sum_i sum_j S(x_i, y_j)`` per task (the Mann-Whitney U of ``x`` over
    ``N*M``), averaged over tasks. Unlike a p-value it says how often X wins, not how sure we are that it does;
    ``P(X > Y) + P(Y > X) == 1``.

    Args:
        x: shape ``(N,)`` or ``(N, num_tasks)``.
        y: shape ``(M,)`` or ``(M, num_tasks)``, the same number of tasks.

    Returns: the probability in ``[0, 1]``; NaN for an empty group or NaN scores.
    """
    a, b = _two_sample_inputs(x, y)
    if a.shape[0] == 0 or b.shape[0] == 0 or np.isnan(a).any() or np.isnan(b).any():
        return float("nan")
    return float(_probability_of_improvement_batch(a[None], b[None])[0])


def _two_sample_bootstrap(
    batch_statistic: Callable[[np.ndarray, np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    confidence: float,
    n_resamples: int,
    seed: Seed,
) -> tuple[float, float]:
    """Percentile CI of a two-sample statistic, resampling the runs of x and of y independently (stratified by task).

    ``batch_statistic`` maps ``(batch, N, tasks)`` and ``(batch, M, tasks)`` resamples to ``(batch,)`` values.
    Returns ``(nan, nan)`` when a group has fewer than 2 runs.
    """
    _check_bootstrap(confidence, n_resamples)
    a, b = _two_sample_inputs(x, y)
    if a.shape[0] < 2 or b.shape[0] < 2 or a.shape[1] == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    columns = np.arange(a.shape[1])
    values = np.empty(n_resamples)
    for start in range(0, n_resamples, _CHUNK):
        size = min(_CHUNK, n_resamples - start)
        xs = a[rng.integers(0, a.shape[0], size=(size, *a.shape)), columns]
        ys = b[rng.integers(0, b.shape[0], size=(size, *b.shape)), columns]
        values[start : start + size] = batch_statistic(xs, ys)
    return _percentile_interval(values, confidence)


def probability_of_improvement_ci(
    x: np.ndarray, y: np.ndarray, confidence: float = 0.95, n_resamples: int = N_RESAMPLES, seed: Seed = 0
) -> tuple[float, float]:
    """Bootstrap CI of :func:`probability_of_improvement`, so "X wins 80% of the time" comes with its uncertainty.

    The runs of ``x`` and ``y`` are resampled independently (and within each task for 2-D scores), as rliable's
    ``StratifiedIndependentBootstrap``.

    Args:
        x: shape ``(N,)`` or ``(N, num_tasks)``.
        y: shape ``(M,)`` or ``(M, num_tasks)``.

    Returns: ``(low, high)``; ``(nan, nan)`` when a group has fewer than 2 runs.
    """
    return _two_sample_bootstrap(_probability_of_improvement_batch, x, y, confidence, n_resamples, seed)


def _difference_of_means_batch(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    return xs.mean(axis=(1, 2)) - ys.mean(axis=(1, 2))


def difference_of_means_ci(
    x: np.ndarray, y: np.ndarray, confidence: float = 0.95, n_resamples: int = N_RESAMPLES, seed: Seed = 0
) -> tuple[float, float]:
    """Bootstrap CI of ``mean(x) - mean(y)``: the effect size in the metric's own units, without a normality assumption.

    Args:
        x: shape ``(N,)`` or ``(N, num_tasks)`` (the mean is over all runs and tasks).
        y: shape ``(M,)`` or ``(M, num_tasks)``.

    Returns: ``(low, high)``; ``(nan, nan)`` when a group has fewer than 2 runs.
    """
    return _two_sample_bootstrap(_difference_of_means_batch, x, y, confidence, n_resamples, seed)


def hedges_g(x: np.ndarray, y: np.ndarray) -> float:
    """Standardised mean difference, bias-corrected for small samples (Cohen's d shrunk by Hedges' J).

    ``g = J * (mean(x) - mean(y)) / s_pooled`` with ``s_pooled = sqrt(((nx-1) var_x + (ny-1) var_y) / (nx+ny-2))``
    (``ddof=1`` variances) and ``J = 1 - 3 / (4 (nx + ny) - 9)``. Lets effects on different metrics be compared.

    Args:
        x: shape ``(nx,)``; y: shape ``(ny,)``.

    Returns: ``g``; NaN when undefined (a group with fewer than 2 runs, or zero pooled spread).
    """
    a, b = _runs(x, "x"), _runs(y, "y")
    nx, ny = a.size, b.size
    if nx < 2 or ny < 2:
        return float("nan")
    pooled = math.sqrt(((nx - 1) * a.var(ddof=1) + (ny - 1) * b.var(ddof=1)) / (nx + ny - 2))
    if pooled == 0.0 or not math.isfinite(pooled):
        return float("nan")
    correction = 1.0 - 3.0 / (4.0 * (nx + ny) - 9.0)
    return float((a.mean() - b.mean()) / pooled * correction)


def welch_t(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Welch's t-test, ``scipy.stats.ttest_ind(x, y, equal_var=False)``: no equal-variance assumption between configs.

    Args:
        x: shape ``(nx,)``; y: shape ``(ny,)``.

    Returns: ``(t, two-sided p)``; both NaN when a group has fewer than 2 runs. Two constant groups give scipy's
    degenerate answer (``t = +-inf, p = 0`` if their values differ, NaN if equal).
    """
    a, b = _runs(x, "x"), _runs(y, "y")
    if a.size < 2 or b.size < 2:
        return float("nan"), float("nan")
    with warnings.catch_warnings():  # scipy warns of "catastrophic cancellation" for constant groups
        warnings.simplefilter("ignore", RuntimeWarning)
        from scipy import stats

        result = stats.ttest_ind(a, b, equal_var=False)
    return float(result.statistic), float(result.pvalue)


def mann_whitney(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mann-Whitney U test, ``scipy.stats.mannwhitneyu(x, y, alternative="two-sided")``: rank-based, no normality.

    Args:
        x: shape ``(nx,)``; y: shape ``(ny,)``.

    Returns: ``(U of x, two-sided p)``; ``U / (nx * ny)`` is :func:`probability_of_improvement`. NaN for an empty group.
    """
    a, b = _runs(x, "x"), _runs(y, "y")
    if a.size == 0 or b.size == 0:
        return float("nan"), float("nan")
    from scipy import stats

    result = stats.mannwhitneyu(a, b, alternative="two-sided")
    return float(result.statistic), float(result.pvalue)


def holm_correction(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values: comparing many pairs at once without inflating false positives.

    Step-down: with the ``m`` finite p-values sorted ascending, ``adj_(k) = max_{j <= k} min(1, (m - j + 1) p_(j))``
    (1-based ``j``), so the adjusted values keep the order of the raw ones and never exceed 1. Controls the
    family-wise error rate under any dependence between the tests. NaN entries stay NaN and do not count in ``m``.

    Args:
        p_values: shape ``(k,)``.

    Returns: shape ``(k,)``, adjusted p-values in the input order.
    """
    p = np.asarray(p_values, dtype=np.float64).ravel()
    adjusted = np.full(p.shape, np.nan)
    valid = np.flatnonzero(np.isfinite(p))
    m = valid.size
    running = 0.0
    for rank, index in enumerate(valid[np.argsort(p[valid], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def performance_profile(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Run-score distribution: the fraction of runs scoring above each threshold ``tau`` (rliable's score profile).

    Shows the whole distribution of outcomes, so a config that is better on average but sometimes collapses is
    visible. ``np.mean(scores > tau)`` over all runs and tasks, as rliable's ``run_score_deviation``; NaN scores
    are left out (rliable would count them as below every threshold).

    Args:
        scores: shape ``(num_runs,)`` or ``(num_runs, num_tasks)``.
        thresholds: shape ``(k,)``.

    Returns: shape ``(k,)``, non-increasing in ``tau`` for ascending thresholds; NaN where there are no scores.
    """
    flat = np.asarray(scores, dtype=np.float64).ravel()
    flat = flat[~np.isnan(flat)]
    taus = np.asarray(thresholds, dtype=np.float64).ravel()
    if flat.size == 0:
        return np.full(taus.shape, np.nan)
    return (flat[None, :] > taus[:, None]).mean(axis=1)


def smallest_mann_whitney_p(n: int, m: int) -> float:
    """Smallest two-sided p the exact Mann-Whitney test can give for ``n`` vs ``m`` runs: ``2 / C(n+m, n)``."""
    return min(1.0, 2.0 / math.comb(n + m, n))
