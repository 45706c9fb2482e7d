"""Multi-seed statistics for comparing RL configurations, as pure functions over numpy arrays.

Definitions follow Agarwal et al. (NeurIPS 2021), "Deep RL at the Edge of the Statistical Precipice", and its
library rliable (not a dependency: rliable 1.2.0 does not import beside pandas 3): the interquartile mean (IQM) is the
25% trimmed mean over runs; confidence intervals are percentile bootstraps over runs, stratified by task for 2-D
scores; the probability of improvement P(X > Y) is the Mann-Whitney U statistic over ``N * M`` (ties count one half),
averaged over tasks. Tests and distributions come from scipy. Shapes: ``scores`` is ``(num_runs,)`` or
``(num_runs, num_tasks)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats

FEW_RUNS = 5


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean of ``scores`` (any shape, flattened): ``scipy.stats.trim_mean(x, 0.25)``, as rliable."""
    return float(stats.trim_mean(np.asarray(scores, dtype=np.float64).ravel(), proportiontocut=0.25))


def _stratified_resample(scores: np.ndarray, rng: np.random.Generator, n_resamples: int) -> np.ndarray:
    """Bootstrap resamples of runs, independently within each task column.

    Args:
        scores: shape ``(num_runs, num_tasks)``.

    Returns: shape ``(n_resamples, num_runs, num_tasks)``.
    """
    runs, tasks = scores.shape
    index = rng.integers(0, runs, size=(n_resamples, runs, tasks))
    return np.take_along_axis(np.broadcast_to(scores, (n_resamples, runs, tasks)), index, axis=1)


def bootstrap_ci(
    scores: np.ndarray,
    statistic: Callable[[np.ndarray], float] = np.mean,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``statistic`` over runs (stratified by task for 2-D ``scores``); seeded.

    Args:
        scores: shape ``(num_runs,)`` or ``(num_runs, num_tasks)``.
    """
    data = np.asarray(scores, dtype=np.float64)
    data = data[:, None] if data.ndim == 1 else data
    if data.shape[0] < 2:
        value = float(statistic(data))
        return value, value
    resamples = _stratified_resample(data, np.random.default_rng(seed), n_resamples)
    values = np.array([statistic(sample) for sample in resamples])
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high)


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y): the chance a random run of X beats a random run of Y, ties counting one half (rliable).

    Args:
        x: shape ``(n,)`` or ``(n, num_tasks)``; y: shape ``(m,)`` or ``(m, num_tasks)``. Averaged over tasks.
    """
    x2 = np.asarray(x, dtype=np.float64)
    y2 = np.asarray(y, dtype=np.float64)
    x2 = x2[:, None] if x2.ndim == 1 else x2
    y2 = y2[:, None] if y2.ndim == 1 else y2
    per_task = []
    for task in range(x2.shape[1]):
        a, b = x2[:, task][:, None], y2[:, task][None, :]
        per_task.append(float(np.mean((a > b) + 0.5 * (a == b))))
    return float(np.mean(per_task))


def probability_of_improvement_ci(
    x: np.ndarray, y: np.ndarray, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Bootstrap CI of P(X > Y), resampling the runs of X and of Y independently. Shapes as above."""
    return _two_sample_ci(probability_of_improvement, x, y, confidence, n_resamples, seed)


def difference_of_means_ci(
    x: np.ndarray, y: np.ndarray, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Bootstrap CI of ``mean(x) - mean(y)``. Shapes: ``(n,)`` and ``(m,)``."""
    return _two_sample_ci(lambda a, b: float(np.mean(a) - np.mean(b)), x, y, confidence, n_resamples, seed)


def _two_sample_ci(
    statistic: Callable[[np.ndarray, np.ndarray], float],
    x: np.ndarray,
    y: np.ndarray,
    confidence: float,
    n_resamples: int,
    seed: int,
) -> tuple[float, float]:
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.shape[0] < 2 or b.shape[0] < 2:
        value = statistic(a, b)
        return value, value
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples)
    for k in range(n_resamples):
        values[k] = statistic(a[rng.integers(0, a.shape[0], a.shape[0])], b[rng.integers(0, b.shape[0], b.shape[0])])
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high)


def hedges_g(x: np.ndarray, y: np.ndarray) -> float:
    """Bias-corrected standardized mean difference: pooled SD (ddof=1), J = 1 - 3 / (4 (nx + ny) - 9).

    Shapes ``(n,)`` and ``(m,)``; NaN when undefined (fewer than 2 runs in a group, or zero spread).
    """
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    nx, ny = a.size, b.size
    if nx < 2 or ny < 2:
        return float("nan")
    pooled = np.sqrt(((nx - 1) * a.var(ddof=1) + (ny - 1) * b.var(ddof=1)) / (nx + ny - 2))
    if pooled == 0:
        return float("nan")
    return float((a.mean() - b.mean()) / pooled * (1.0 - 3.0 / (4.0 * (nx + ny) - 9.0)))


def welch_t(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Welch's t-test (unequal variances): ``(t, two-sided p)``; NaN when a group has fewer than 2 runs."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.size < 2 or b.size < 2:
        return float("nan"), float("nan")
    result = stats.ttest_ind(a, b, equal_var=False)
    return float(result.statistic), float(result.pvalue)


def mann_whitney(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mann-Whitney U test: ``(U of x, two-sided p)``; NaN for an empty group."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.size == 0 or b.size == 0:
        return float("nan"), float("nan")
    result = stats.mannwhitneyu(a, b, alternative="two-sided")
    return float(result.statistic), float(result.pvalue)


def holm_correction(p_values: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, made monotone, capped at 1); NaN stays NaN, uncounted."""
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p.shape, np.nan)
    valid = np.flatnonzero(np.isfinite(p))
    m = valid.size
    running = 0.0
    for rank, index in enumerate(valid[np.argsort(p[valid], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def performance_profile(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Fraction of runs with a score above each threshold (rliable's run-score distribution).

    Args:
        scores: shape ``(num_runs,)`` (or any shape, flattened); thresholds: shape ``(k,)``. Returns shape ``(k,)``.
    """
    flat = np.asarray(scores, dtype=np.float64).ravel()
    return (flat[None, :] > np.asarray(thresholds, dtype=np.float64)[:, None]).mean(axis=1)


def group_statistics(scores: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """n, mean, std (ddof=1), median, IQM, and 95% bootstrap CIs of the mean and IQM. ``scores``: ``(num_runs,)``."""
    x = np.asarray(scores, dtype=np.float64)
    if x.size == 0:
        return {"n": 0}
    return {
        "n": int(x.size),
        "mean": float(x.mean()),
        "std": float(x.std(ddof=1)) if x.size > 1 else 0.0,
        "median": float(np.median(x)),
        "iqm": iqm(x),
        "mean_ci": list(bootstrap_ci(x, np.mean, seed=seed)),
        "iqm_ci": list(bootstrap_ci(x, iqm, seed=seed)),
    }


@dataclass
class PairComparison:
    """Every test of one pair of groups, and a verdict in plain words."""

    a: str
    b: str
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    diff: float
    diff_ci: tuple[float, float]
    welch_t: float
    welch_p: float
    mw_u: float
    mw_p: float
    p_adjusted: float
    prob_improvement: float
    prob_improvement_ci: tuple[float, float]
    hedges_g: float
    significant: bool
    verdict: str = ""
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (tuples as lists, numpy scalars as floats)."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = [float(v) for v in value]
            elif isinstance(value, (np.floating, np.integer)):
                data[key] = value.item()
        return data


def compare_groups(
    groups: dict[str, np.ndarray], alpha: float = 0.05, n_resamples: int = 2000, seed: int = 0
) -> list[PairComparison]:
    """Compare every unordered pair of groups (in the order given); Holm-correct Welch's p over the pairs.

    A pair is called significant when its adjusted p is below ``alpha`` and the bootstrap CI of the difference of
    means excludes zero. Args: ``groups`` maps a name to final scores of shape ``(num_runs,)``.
    """
    names = list(groups)
    pairs = list(itertools.combinations(names, 2))
    rows: list[PairComparison] = []
    for a, b in pairs:
        x, y = np.asarray(groups[a], dtype=np.float64), np.asarray(groups[b], dtype=np.float64)
        t, p = welch_t(x, y)
        u, mw_p = mann_whitney(x, y)
        rows.append(
            PairComparison(
                a=a,
                b=b,
                n_a=int(x.size),
                n_b=int(y.size),
                mean_a=float(x.mean()) if x.size else float("nan"),
                mean_b=float(y.mean()) if y.size else float("nan"),
                diff=float(x.mean() - y.mean()) if x.size and y.size else float("nan"),
                diff_ci=difference_of_means_ci(x, y, n_resamples=n_resamples, seed=seed),
                welch_t=t,
                welch_p=p,
                mw_u=u,
                mw_p=mw_p,
                p_adjusted=p,
                prob_improvement=probability_of_improvement(x, y),
                prob_improvement_ci=probability_of_improvement_ci(x, y, n_resamples=n_resamples, seed=seed),
                hedges_g=hedges_g(x, y),
                significant=False,
            )
        )
    if len(names) > 2:
        for row, adjusted in zip(rows, holm_correction([r.welch_p for r in rows]), strict=True):
            row.p_adjusted = float(adjusted)
    for row in rows:
        excludes_zero = row.diff_ci[0] > 0 or row.diff_ci[1] < 0
        row.significant = bool(np.isfinite(row.p_adjusted) and row.p_adjusted < alpha and excludes_zero)
        row.verdict, row.warnings = _verdict(row, correction=len(names) > 2)
    return rows


def _verdict(row: PairComparison, correction: bool) -> tuple[str, list[str]]:
    """One sentence a reader can act on, with the numbers behind it."""
    warnings = []
    if min(row.n_a, row.n_b) < FEW_RUNS:
        warnings.append(f"few runs: n={row.n_a} vs {row.n_b}, treat with caution (aim for >= {FEW_RUNS} seeds)")
    p_text = f"p={row.p_adjusted:.3g}{' after Holm' if correction else ''}"
    pi = f"P({row.a} > {row.b}) = {row.prob_improvement:.2f}"
    if row.significant:
        direction = "higher" if row.diff > 0 else "lower"
        text = (
            f"{row.a} is {direction} than {row.b} (mean difference {row.diff:+.3g}, 95% CI "
            f"[{row.diff_ci[0]:.3g}, {row.diff_ci[1]:.3g}]; {p_text}); {pi}"
        )
    else:
        text = f"no evidence of a difference between {row.a} and {row.b} ({p_text}); {pi}"
    if warnings:
        text += f" ({warnings[0]})"
    return text, warnings
