"""Verdicts in words: every pair of configurations compared, with a sentence a reader can act on and its caveats.

The numbers come from :mod:`hpc_sweep.analyse.stats` (looked up through the module, so tests can stand in for one);
this module decides what they mean together -- a pair is *significant* only when the Holm-adjusted Welch p is below
``alpha`` **and** the bootstrap CI of the difference excludes 0 -- and words it, with the warnings that should temper
a reader's trust (few runs, dropped runs, degenerate tests, disagreeing tests).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from hpc_sweep.analyse import stats
from hpc_sweep.analyse.stats import N_RESAMPLES, Seed

FEW_RUNS = 5
"""Groups with fewer runs than this get a caution in the verdict (Agarwal et al. use 5+ runs as a floor)."""


@dataclass
class PairComparison:
    """Every statistic of one pair of groups A and B, and a verdict in plain words.

    ``diff = mean_a - mean_b``; ``prob_improvement`` is P(A > B); ``p_adjusted`` is Welch's p after Holm across all
    pairs (equal to ``welch_p`` when only two groups are compared); ``significant`` needs both ``p_adjusted < alpha``
    and a ``diff_ci`` that excludes 0.
    """

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
        """JSON-ready: tuples as lists, numbers as Python ``int``/``float``/``bool`` (NaN stays a float NaN)."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = [float(v) for v in value]
            elif isinstance(value, np.generic):
                data[key] = value.item()
        data["warnings"] = [str(w) for w in self.warnings]
        return data


def compare_groups(
    groups: dict[str, np.ndarray], alpha: float = 0.05, n_resamples: int = N_RESAMPLES, seed: Seed = 0
) -> list[PairComparison]:
    """Compare every unordered pair of groups, in the order the dict gives (``a`` listed before ``b``).

    For each pair: Welch's t and Mann-Whitney U tests, the bootstrap CI of the difference of means at level
    ``1 - alpha``, P(A > B) with its bootstrap CI, and Hedges' g. With more than two groups, Welch's p-values
    (the primary test: it compares means, which the diff CI and the verdict report) are Holm-corrected across all
    pairs; Mann-Whitney p is reported uncorrected as a robustness check. A pair is *significant* only when the
    adjusted p is below ``alpha`` **and** the CI of the difference excludes 0, so a borderline t-test on skewed
    scores is not called a win. The CI itself is not multiplicity-adjusted.

    Args:
        groups: name -> final scores, shape ``(num_runs,)``; NaN scores are dropped (and mentioned in ``warnings``).
        alpha: significance level of the adjusted p-values; the CIs have coverage ``1 - alpha``.
        n_resamples: bootstrap replicates per CI.
        seed: seed of every bootstrap (each pair uses the same seed, so a pair's result does not depend on the others).

    Returns: one :class:`PairComparison` per pair, ``len(groups) * (len(groups) - 1) / 2`` of them.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    confidence = 1.0 - alpha
    cleaned: dict[str, np.ndarray] = {}
    dropped: dict[str, int] = {}
    for name, scores in groups.items():
        values = _scores(scores, name)
        keep = ~np.isnan(values)
        cleaned[name], dropped[name] = values[keep], int((~keep).sum())
    rows: list[PairComparison] = []
    for a, b in itertools.combinations(cleaned, 2):
        x, y = cleaned[a], cleaned[b]
        t, p = stats.welch_t(x, y)
        u, mw_p = stats.mann_whitney(x, y)
        mean_a = float(x.mean()) if x.size else float("nan")
        mean_b = float(y.mean()) if y.size else float("nan")
        rows.append(
            PairComparison(
                a=a,
                b=b,
                n_a=int(x.size),
                n_b=int(y.size),
                mean_a=mean_a,
                mean_b=mean_b,
                diff=mean_a - mean_b,
                diff_ci=stats.difference_of_means_ci(x, y, confidence, n_resamples, seed),
                welch_t=t,
                welch_p=p,
                mw_u=u,
                mw_p=mw_p,
                p_adjusted=p,
                prob_improvement=stats.probability_of_improvement(x, y) if x.size and y.size else float("nan"),
                prob_improvement_ci=stats.probability_of_improvement_ci(x, y, confidence, n_resamples, seed),
                hedges_g=stats.hedges_g(x, y),
                significant=False,
            )
        )
    corrected = len(cleaned) > 2
    if corrected:
        for row, adjusted in zip(rows, stats.holm_correction([r.welch_p for r in rows]), strict=True):
            row.p_adjusted = float(adjusted)
    for row in rows:
        low, high = row.diff_ci
        excludes_zero = bool(low > 0 or high < 0)
        p_below = bool(np.isfinite(row.p_adjusted) and row.p_adjusted < alpha)
        row.significant = p_below and excludes_zero
        row.warnings = _warnings(row, cleaned[row.a], cleaned[row.b], dropped, alpha, p_below, excludes_zero)
        row.verdict = _verdict(row, corrected, confidence, p_below != excludes_zero)
    return rows


def _warnings(
    row: PairComparison,
    x: np.ndarray,
    y: np.ndarray,
    dropped: dict[str, int],
    alpha: float,
    p_below: bool,
    excludes_zero: bool,
) -> list[str]:
    """Reasons to trust this pair's numbers less; the first one (if "few runs") is quoted in the verdict."""
    notes = []
    if min(row.n_a, row.n_b) < FEW_RUNS:
        notes.append(f"few runs: n={row.n_a} vs {row.n_b} — treat with caution")
    for name in (row.a, row.b):
        if dropped[name]:
            notes.append(f"{dropped[name]} run(s) of {name} without a score were left out")
    if min(row.n_a, row.n_b) < 2:
        notes.append("a group has fewer than 2 runs: t-test, bootstrap CIs and Hedges' g are undefined")
        return notes
    if x.var() == 0.0 and y.var() == 0.0:
        notes.append("both groups have zero spread: Welch's t-test is degenerate")
    if p_below != excludes_zero:
        notes.append(
            f"Welch's test (p={row.p_adjusted:.3g}) and the bootstrap CI of the difference disagree: inconclusive"
        )
    smallest = stats.smallest_mann_whitney_p(row.n_a, row.n_b)
    if smallest >= alpha:
        notes.append(
            f"with n={row.n_a} vs {row.n_b} the Mann-Whitney test cannot reach p < {alpha:g} "
            f"(smallest exact p = {smallest:.3g})"
        )
    elif np.isfinite(row.welch_p) and np.isfinite(row.mw_p) and (row.welch_p < alpha) != (row.mw_p < alpha):
        notes.append(
            f"Welch's p={row.welch_p:.3g} and Mann-Whitney's p={row.mw_p:.3g} fall on different sides of "
            f"{alpha:g}: the difference may hinge on a few outlying runs"
        )
    return notes


def _verdict(row: PairComparison, corrected: bool, confidence: float, disagree: bool) -> str:
    """One sentence a reader can act on, with the numbers behind it."""
    pi = f"P({row.a} > {row.b}) = {row.prob_improvement:.2f}" if np.isfinite(row.prob_improvement) else ""
    if min(row.n_a, row.n_b) < 2:
        text = f"cannot test {row.a} against {row.b}: need at least 2 runs per group (n={row.n_a} vs {row.n_b})"
        return f"{text}; {pi}" if pi else text
    p_text = f"p={row.p_adjusted:.3g}{' after Holm' if corrected else ''}"
    level = f"{confidence * 100:g}% CI [{row.diff_ci[0]:.3g}, {row.diff_ci[1]:.3g}]"
    numbers = f"mean difference {row.diff:+.3g}, {level}; {p_text}"
    if row.significant:
        direction = "higher" if row.diff > 0 else "lower"
        text = f"{row.a} is {direction} than {row.b} ({numbers}); {pi}"
    elif disagree:
        text = f"inconclusive difference between {row.a} and {row.b}: the t-test and the CI disagree ({numbers}); {pi}"
    else:
        text = f"no evidence of a difference between {row.a} and {row.b} ({numbers}); {pi}"
    if row.warnings and row.warnings[0].startswith("few runs"):
        text += f" ({row.warnings[0]})"
    return text


def _scores(scores: np.ndarray, name: str) -> np.ndarray:
    """One group's final scores as a float vector of shape ``(num_runs,)``."""
    data = np.asarray(scores, dtype=np.float64)
    if data.ndim != 1:
        raise ValueError(f"{name}: expected shape (num_runs,), got {data.shape}")
    return data
