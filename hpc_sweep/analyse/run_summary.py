"""What the sweep-wide outputs need of one run once its points are written: a few numbers and small curve digests.

Collecting a sweep streams runs: each run is read, its points go to ``metrics.parquet`` and its record to
``training_results.json``, and only its :class:`RunSummary` stays in memory. Group statistics need only final scores,
the figure only per-run curve digests (:class:`~hpc_sweep.analyse.digest.CurveDigest`, at most about a thousand
points each), so memory does not grow with the length of the runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpc_sweep.analyse.digest import CurveDigest


@dataclass
class RunSummary:
    """One run, small: identity, state, final score, the digests of its figure metrics and its slim record.

    ``record``: the run's ``training_results.json`` record without the ``*_progression`` and ``*_steps`` lists
    (what ``summary.csv``, group statistics and the terminal tables read); ``curves``: canonical metric -> digest of
    its curve, for the metrics the figure draws that the run logged (empty until loaded where a figure is drawn:
    ``metrics`` names the digests a run has); ``counted``: whether its final score enters its
    group's statistics; ``final_score``: NaN when the run has none.
    """

    run_id: str
    seed: int | None
    group: str
    status: str
    counted: bool
    final_score: float
    steps_per_iteration: int | None
    record: dict[str, Any]
    curves: dict[str, CurveDigest] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FinalScores:
    """Each run's final score (``final_score`` of ``summary.csv``) and each group's mean of the scores its statistics
    count (``mean`` of ``groups.csv``).

    ``groups``, ``seeds``, ``run_ids``: one entry per run with a finite score, groups in first-seen order;
    ``values``: shape ``(num_runs,)``; ``counted``: shape ``(num_runs,)``, whether the run enters its group's
    statistics; ``group_means``: group -> mean of its counted scores (NaN when none counts).
    """

    groups: list[str]
    seeds: list[int | None]
    run_ids: list[str]
    values: np.ndarray
    counted: np.ndarray
    group_means: dict[str, float]


def final_scores(summaries: Sequence[RunSummary]) -> FinalScores:
    """The runs with a finite final score, group by group (first-seen order), and each group's mean of the finite
    scores its statistics count: the numbers ``summary.csv`` and ``groups.csv`` hold."""
    by_group: dict[str, list[RunSummary]] = {}
    for summary in summaries:
        by_group.setdefault(summary.group, []).append(summary)
    ordered = [s for runs in by_group.values() for s in runs if np.isfinite(s.final_score)]
    means = {}
    for name, runs in by_group.items():
        kept = [s.final_score for s in runs if s.counted and np.isfinite(s.final_score)]
        means[name] = float(np.mean(kept)) if kept else float("nan")
    return FinalScores(
        groups=[s.group for s in ordered],
        seeds=[s.seed for s in ordered],
        run_ids=[s.run_id for s in ordered],
        values=np.array([s.final_score for s in ordered], dtype=np.float64),
        counted=np.array([s.counted for s in ordered], dtype=bool),
        group_means=means,
    )
