"""Aggregate learning curves across seeds: aligned on iterations, with a ±1 std or a bootstrap band (pure numpy).

Figures draw what these return (:class:`CurveBand`): they compute nothing themselves. A band says what it is
(:attr:`CurveBand.kind`), and figures show one only where at least :data:`MIN_BAND_RUNS` runs have a point
(:func:`require_runs`): the statistics keep the rule "no spread of fewer than 2 runs", but a band drawn from two
runs is a shaded line between them, read as far more certain than it is.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hpc_sweep.collect.results import RunData

Series = tuple[np.ndarray, np.ndarray]
"""One run's curve: ``(steps, values)``, both of shape ``(n,)``."""

MIN_BAND_RUNS = 3
"""Fewest runs with a point at a step for a figure to shade a band there (see the module docstring)."""
STD_BAND = "±1 std across runs"
CI_BAND = "95% bootstrap CI of the mean"


@dataclass(frozen=True)
class CurveBand:
    """A group's curves on one iteration axis, their centre line and a band around it.

    ``steps``: shape ``(num_steps,)``; ``curves``: shape ``(num_runs, num_steps)``, NaN where a run has no point;
    ``centre``, ``low``, ``high``: shape ``(num_steps,)``, NaN where the band is undefined; ``kind``: what the band
    is, in words for a legend (:data:`STD_BAND`, :data:`CI_BAND`).
    """

    steps: np.ndarray
    curves: np.ndarray
    centre: np.ndarray
    low: np.ndarray
    high: np.ndarray
    kind: str = ""

    @property
    def num_runs(self) -> int:
        return int(self.curves.shape[0])

    @property
    def runs_per_step(self) -> np.ndarray:
        """How many runs have a point at each step, shape ``(num_steps,)``."""
        return (~np.isnan(self.curves)).sum(axis=0)

    @property
    def has_band(self) -> bool:
        """Whether the band is defined at any step (a figure shades something)."""
        return bool(np.isfinite(self.low).any() and np.isfinite(self.high).any())


def require_runs(band: CurveBand, min_runs: int = MIN_BAND_RUNS) -> CurveBand:
    """The same band, undefined (NaN) wherever fewer than ``min_runs`` runs have a point; the centre line stays."""
    thin = band.runs_per_step < min_runs
    low, high = band.low.copy(), band.high.copy()
    low[thin] = high[thin] = np.nan
    return replace(band, low=low, high=high)


def run_series(runs: Iterable[RunData], metric: str) -> list[Series]:
    """The ``(steps, values)`` of ``metric`` for each run that logged at least one point of it, in run order."""
    return [series for series in (run.metric(metric) for run in runs) if series is not None and series[0].size]


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

    Returns: ``mean``, ``low``, ``high``, each of shape ``(num_steps,)``. The band is NaN where fewer than 2 runs
    have a point (resampling one run says nothing about the spread), as in group statistics.
    """
    curves = np.asarray(curves, dtype=np.float64)
    undefined = (~np.isnan(curves)).sum(axis=0) < 2
    with np.errstate(all="ignore"), warnings.catch_warnings():  # a resample may miss every run present at a step
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(curves, axis=0)
        if curves.shape[0] < 2:
            return mean, np.full_like(mean, np.nan), np.full_like(mean, np.nan)
        rng = np.random.default_rng(seed)
        index = rng.integers(0, curves.shape[0], size=(n_resamples, curves.shape[0]))
        boot = np.nanmean(curves[index], axis=1)  # (n_resamples, num_steps)
        alpha = (1.0 - confidence) / 2.0
        low, high = np.nanquantile(boot, [alpha, 1.0 - alpha], axis=0)
    low[undefined] = high[undefined] = np.nan
    return mean, low, high


def mean_std_curve(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over runs at each step, each over the runs that have a point there.

    Args:
        curves: shape ``(num_runs, num_steps)``; NaN entries (a run without a point at that step) are ignored.

    Returns: ``mean`` and ``std`` (``ddof=1``), each of shape ``(num_steps,)``. ``mean`` is NaN where no run has a
    point; ``std`` is NaN where fewer than 2 runs have one (the spread of one run is undefined, as in group
    statistics).
    """
    curves = np.asarray(curves, dtype=np.float64)
    present = ~np.isnan(curves)
    count = present.sum(axis=0)
    filled = np.where(present, curves, 0.0)
    mean = np.full(curves.shape[1], np.nan)
    np.divide(filled.sum(axis=0), count, out=mean, where=count > 0)
    squares = np.where(present, (curves - mean) ** 2, 0.0).sum(axis=0)
    std = np.full(curves.shape[1], np.nan)
    np.divide(squares, count - 1, out=std, where=count >= 2)
    return mean, np.sqrt(std)


def std_band(series: list[Series]) -> CurveBand | None:
    """Mean ± 1 standard deviation across runs (see :func:`mean_std_curve`); None when no run has a point."""
    steps, curves = align_curves(series)
    if not steps.size:
        return None
    mean, std = mean_std_curve(curves)
    return CurveBand(steps=steps, curves=curves, centre=mean, low=mean - std, high=mean + std, kind=STD_BAND)


def ci_band(series: list[Series], confidence: float = 0.95, n_resamples: int = 1000, seed: int = 0) -> CurveBand | None:
    """Mean across runs with a percentile-bootstrap band (see :func:`mean_curve_ci`); None when no run has a point."""
    steps, curves = align_curves(series)
    if not steps.size:
        return None
    mean, low, high = mean_curve_ci(curves, confidence, n_resamples, seed)
    return CurveBand(steps=steps, curves=curves, centre=mean, low=low, high=high, kind=CI_BAND)
