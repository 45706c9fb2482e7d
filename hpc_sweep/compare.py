"""``hpc-sweep compare``: final scores of several groups of runs, compared pairwise with honest statistics.

Groups come from several sweep dirs / log trees (one group each), or from one sweep split by a grid key (``--by``).
A run's final score is the mean of the metric over the last ``final_window`` of its logged iterations; only
completed runs (or runs of unknown status in foreign trees) count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpc_sweep.analyse.stats import compare_groups, group_statistics
from hpc_sweep.analyse.summary import curve_summary
from hpc_sweep.collect.results import RunData, collect
from hpc_sweep.errors import UsageError
from hpc_sweep.report.json_results import EXCLUDED_STATES

SCHEMA = "hpc_sweep.comparison/1"


@dataclass
class Group:
    """The runs of one configuration and their final scores (shape ``(num_runs,)``)."""

    name: str
    runs: list[RunData]
    scores: np.ndarray


def load_groups(paths: list[Path], by: str | None, metric: str, final_window: float | int) -> list[Group]:
    """Read the paths and form the groups to compare."""
    if by is not None and len(paths) != 1:
        raise UsageError("--by splits one sweep by a grid key: give exactly one sweep dir with --by")
    if by is None and len(paths) < 2:
        raise UsageError("compare needs two or more sweep dirs, or one sweep dir and --by KEY")
    members: dict[str, list[RunData]] = {}
    for path in paths:
        collection = collect(Path(path))
        for run in collection.runs:
            if run.source.status in EXCLUDED_STATES:
                continue
            if by is None:
                name = Path(path).resolve().name
            else:
                point = run.source.info.get("point", {})
                if by not in point:
                    keys = sorted({k for r in collection.runs for k in r.source.info.get("point", {})})
                    raise UsageError(f"--by {by}: not a grid key of {path}; its grid keys: {', '.join(keys) or 'none'}")
                name = f"{by}={point[by]}"
            members.setdefault(name, []).append(run)
    groups = []
    for name, runs in members.items():
        scores = np.array([final_score(run, metric, final_window) for run in runs], dtype=np.float64)
        groups.append(Group(name=name, runs=runs, scores=scores[np.isfinite(scores)]))
    if len(groups) < 2:
        raise UsageError(f"found {len(groups)} group(s) with completed runs; compare needs at least two")
    return groups


def final_score(run: RunData, metric: str, final_window: float | int) -> float:
    """Mean of ``metric`` over the last ``final_window`` of the run's iterations (NaN when the run lacks it)."""
    series = run.metric(metric)
    if series is None or not series[1].size:
        return float("nan")
    value = curve_summary(series[0], series[1], final_window)["final_mean"]
    return float("nan") if value is None else float(value)


def compare(groups: list[Group], metric: str, final_window: float | int, seed: int = 0) -> dict[str, Any]:
    """The comparison document (schema ``hpc_sweep.comparison/1``)::

    {"schema", "metric", "final_window", "groups": [{name, n, mean, std, median, iqm, iqm_ci, mean_ci, seeds}],
     "pairs": [PairComparison.to_dict(): a, b, n_a, n_b, mean_a, mean_b, diff, diff_ci, welch_t, welch_p, mw_u,
               mw_p, p_adjusted, prob_improvement, prob_improvement_ci, hedges_g, significant, verdict, warnings]}
    """
    pairs = compare_groups({g.name: g.scores for g in groups}, seed=seed)
    return {
        "schema": SCHEMA,
        "metric": metric,
        "final_window": final_window,
        "groups": [
            {
                "name": g.name,
                **group_statistics(g.scores, seed=seed),
                "seeds": [r.source.seed for r in g.runs],
                "run_ids": [r.source.run_id for r in g.runs],
            }
            for g in groups
        ],
        "pairs": [pair.to_dict() for pair in pairs],
    }
