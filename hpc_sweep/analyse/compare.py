"""The numbers of ``hpc-sweep compare``: groups of collected runs, their final scores, and the comparison document.

Groups come from several sweep dirs / log trees (one group each, named after its directory), or from one sweep split
by a grid key (``--by KEY``), each named by :func:`hpc_sweep.names.point_label` as ``collect`` names a one-key
sweep's groups (``learning_rate=0.001``).
A run's final score is :func:`hpc_sweep.analyse.summary.final_score`: the mean of the metric over the last
``final_window`` of its logged iterations. Only runs whose state counts in statistics (completed runs, and runs of
unknown state in foreign trees) enter a group. Nothing here reads files: the caller collects each path first.

Schema ``hpc_sweep.comparison/1``::

    {"schema", "metric", "final_window",
     "groups": [{name, n, mean, std, median, iqm, min, min_seed, max, max_seed, mean_ci, iqm_ci (95% bootstrap;
                 std and CIs null for n < 2), seeds, run_ids, gpu_hours (sum over the group's runs),
                 gpu_hours_per_run, score_per_gpu_hour (mean score / GPU-hours per run; null without accounting)}],
     "pairs": [PairComparison.to_dict(): a, b, n_a, n_b, mean_a, mean_b, diff, diff_ci, welch_t, welch_p, mw_u,
               mw_p, p_adjusted, prob_improvement, prob_improvement_ci, hedges_g, significant, verdict, warnings],
     "warnings": [one line per group that pools runs of different grid points or iteration counts
                  (:func:`pooling_warnings`)]}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpc_sweep.analyse.cost import score_per_gpu_hour
from hpc_sweep.analyse.curves import CurveBand, ci_band, run_series
from hpc_sweep.analyse.results import counts_in_statistics
from hpc_sweep.analyse.stats import performance_profile
from hpc_sweep.analyse.summary import final_score, group_stats
from hpc_sweep.analyse.verdict import compare_groups
from hpc_sweep.collect.metrics import METRIC_TAGS
from hpc_sweep.collect.results import Collection, RunData
from hpc_sweep.errors import UsageError
from hpc_sweep.names import bare_key, point_label

SCHEMA = "hpc_sweep.comparison/1"
PROFILE_MIN_RUNS = 5
"""A performance profile (the distribution of run scores) is drawn only when every group has this many scored runs."""
PROFILE_THRESHOLDS = 101
"""Thresholds of a performance profile, evenly spaced from the lowest to the highest score of all groups."""


@dataclass(frozen=True)
class Group:
    """The runs of one configuration and each run's final score.

    ``run_scores``: shape ``(num_runs,)``, aligned with ``runs``, NaN for a run without the metric.
    """

    name: str
    runs: list[RunData]
    run_scores: np.ndarray

    @property
    def scores(self) -> np.ndarray:
        """The finite final scores, shape ``(num_scored_runs,)``: what the statistics compare."""
        return self.run_scores[np.isfinite(self.run_scores)]


def check_compare_paths(paths: list[Path], by: str | None) -> None:
    """Exactly one path with ``--by``, at least two without (checked before anything is read)."""
    if by is not None and len(paths) != 1:
        raise UsageError("--by splits one sweep by a grid key: give exactly one sweep dir with --by")
    if by is None and len(paths) < 2:
        raise UsageError("compare needs two or more sweep dirs, or one sweep dir and --by KEY")


def run_final_score(run: RunData, metric: str, final_window: float | int) -> float:
    """:func:`~hpc_sweep.analyse.summary.final_score` of ``metric`` in one run (NaN when the run lacks it)."""
    series = run.metric(metric)
    return float("nan") if series is None else final_score(series[1], final_window)


def form_groups(
    collections: list[tuple[Path, Collection]], by: str | None, metric: str, final_window: float | int
) -> list[Group]:
    """The groups to compare: one per path (named after its directory), or one per value of grid key ``by``.

    Args:
        collections: ``(path as given, its collection)`` per path, in the order given.
        by: a grid key of the one sweep to split by, or None.
        metric: canonical metric (or tag) of the final score.
        final_window: fraction of a run's points, or a number of points, that makes its final score.

    Raises: :class:`UsageError` for a wrong number of paths, an unknown grid key, fewer than two groups, or a metric
    that no run of the groups logged (the message lists the known ones).
    """
    check_compare_paths([path for path, _ in collections], by)
    members: dict[str, list[RunData]] = {}
    for path, collection in collections:
        for run in collection.runs:
            if not counts_in_statistics(run.source.status):
                continue
            members.setdefault(_group_name(path, collection, run, by), []).append(run)
    groups = [
        Group(name, runs, np.array([run_final_score(r, metric, final_window) for r in runs], dtype=np.float64))
        for name, runs in members.items()
    ]
    if len(groups) < 2:
        raise UsageError(f"found {len(groups)} group(s) with completed runs; compare needs at least two")
    check_metric([run for group in groups for run in group.runs], metric)
    return groups


def check_metric(runs: list[RunData], metric: str) -> None:
    """Raise a :class:`UsageError` listing the known metrics unless some of ``runs`` logged ``metric`` (a canonical
    metric of :data:`~hpc_sweep.collect.metrics.METRIC_TAGS`, or a tag as logged)."""
    if any(run.metric(metric) is not None for run in runs):
        return
    tags = sorted({tag for run in runs for tag in run.scalars})
    raise UsageError(
        f"--metric {metric}: none of the compared runs logged it; known metrics: {', '.join(METRIC_TAGS)}; "
        f"or a tag they logged: {', '.join(tags) or 'none'}"
    )


def _group_name(path: Path, collection: Collection, run: RunData, by: str | None) -> str:
    if by is None:
        return Path(path).resolve().name
    point = run.source.info.get("point", {})
    key = by if by in point else next((k for k in point if bare_key(k) == bare_key(by)), None)  # +x is x
    if key is None:
        keys = sorted({k for r in collection.runs for k in r.source.info.get("point", {})})
        raise UsageError(f"--by {by}: not a grid key of {path}; its grid keys: {', '.join(keys) or 'none'}")
    return point_label({key: str(point[key])})


def compare(groups: list[Group], metric: str, final_window: float | int, seed: int = 0) -> dict[str, Any]:
    """The comparison document (schema ``hpc_sweep.comparison/1``, see the module docstring); ``seed`` seeds every
    bootstrap."""
    pairs = compare_groups({g.name: g.scores for g in groups}, seed=seed)
    return {
        "schema": SCHEMA,
        "metric": metric,
        "final_window": final_window,
        "groups": [
            {
                "name": g.name,
                **group_stats(g.run_scores, [r.source.seed for r in g.runs], seed=seed).to_dict(),
                "seeds": [r.source.seed for r in g.runs],
                "run_ids": [r.source.run_id for r in g.runs],
                **group_cost(g),
            }
            for g in groups
        ],
        "pairs": [pair.to_dict() for pair in pairs],
        "warnings": pooling_warnings(groups),
    }


def group_cost(group: Group) -> dict[str, Any]:
    """The group's cost beside its score (:func:`~hpc_sweep.analyse.cost.score_per_gpu_hour`): its runs' GPU-hours
    from their ``info["usage"]`` (what ``collect`` got from the scheduler's accounting)."""
    hours = [(run.source.info.get("usage") or {}).get("gpu_hours") for run in group.runs]
    return score_per_gpu_hour(group.run_scores.tolist(), hours)


def pooling_warnings(groups: list[Group]) -> list[str]:
    """One line per group whose runs differ in grid point or in iteration count: its statistics then pool several
    configurations (two sweep dirs that each hold a grid, or ``--by`` one key of a grid over several), and any
    difference found may come from what was pooled.

    A run's point is its sweep's grid point (``info["point"]``; empty for foreign runs); its iteration count the
    planned ``max_iterations`` of a sweep's run, else its last logged iteration + 1.
    """
    lines = []
    for group in groups:
        points = list(dict.fromkeys(_point_text(run) for run in group.runs))
        if len(points) > 1:
            lines.append(
                f"group {group.name} pools {len(points)} grid points ({'; '.join(points)}): its statistics mix "
                "configurations; compare one sweep split with --by KEY, or sweeps of one grid point each"
            )
        counts = sorted({count for count in map(_iteration_count, group.runs) if count is not None})
        if len(counts) > 1:
            lines.append(
                f"group {group.name} pools runs of different lengths ({', '.join(map(str, counts))} iterations): "
                "their final scores come from different stages of training"
            )
    return lines


def _point_text(run: RunData) -> str:
    point = run.source.info.get("point") or {}
    return ", ".join(f"{key}={value}" for key, value in sorted(point.items())) or "no grid point"


def _iteration_count(run: RunData) -> int | None:
    planned = run.source.info.get("max_iterations")
    if isinstance(planned, int) and not isinstance(planned, bool):
        return planned
    logged = [int(steps[-1]) + 1 for steps, _, _ in run.scalars.values() if steps.size]
    return max(logged, default=None)


@dataclass(frozen=True)
class PerformanceProfile:
    """Fraction of each group's runs scoring above each threshold.

    ``thresholds``: shape ``(k,)``; ``fractions``: group name -> shape ``(k,)``, non-increasing.
    """

    thresholds: np.ndarray
    fractions: dict[str, np.ndarray]


def performance_profiles(groups: list[Group], num_thresholds: int = PROFILE_THRESHOLDS) -> PerformanceProfile | None:
    """Performance profiles of all groups on one threshold grid spanning every score; None when a group has fewer
    than :data:`PROFILE_MIN_RUNS` scored runs (a distribution of a handful of runs misleads)."""
    if not groups or any(g.scores.size < PROFILE_MIN_RUNS for g in groups):
        return None
    every = np.concatenate([g.scores for g in groups])
    thresholds = np.linspace(every.min(), every.max(), num_thresholds)
    return PerformanceProfile(thresholds, {g.name: performance_profile(g.scores, thresholds) for g in groups})


def learning_curves(groups: list[Group], metric: str, seed: int = 0) -> dict[str, CurveBand]:
    """Each group's mean curve of ``metric`` with a 95% bootstrap band (groups whose runs logged none are left out)."""
    bands = {g.name: ci_band(run_series(g.runs, metric), seed=seed) for g in groups}
    return {name: band for name, band in bands.items() if band is not None}
