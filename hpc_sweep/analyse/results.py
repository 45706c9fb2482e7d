"""The numbers of ``training_results.json``: one result record per run, and one statistics row per group.

Runs whose state is in :data:`hpc_sweep.runstate.EXCLUDED_FROM_STATS` (failed, cancelled, still running, ...) keep
their record, but their last value is not a final score, so they never enter a group's statistics. Completed runs,
and runs of unknown state found in foreign log trees, count, when they have a final score. No run leaves silently:
each group lists every run it left out in ``excluded_runs`` (run ids, as before) and in ``excluded`` (one
``{run_id, seed, state, reason}`` each: the run's own error for a failed or cancelled run, its state for one still in
progress, ``no reward data found (logs gone?)`` for a completed run without any reward point).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hpc_sweep.analyse.cost import cost_keys, total_cost
from hpc_sweep.analyse.summary import DEFAULT_FINAL_WINDOW, GroupStats, curve_summary, group_stats
from hpc_sweep.collect.metrics import RESULT_METRICS
from hpc_sweep.collect.results import NO_REWARD_DATA, RunData
from hpc_sweep.runstate import EXCLUDED_FROM_STATS, FINISHED

RESULT_METRIC = "mean_reward"
"""The metric of ``final_score`` and of the group rows."""


def counts_in_statistics(status: object) -> bool:
    """Whether a run in this state has a final score that enters group statistics."""
    return status not in EXCLUDED_FROM_STATS


def experiment_record(run: RunData, final_window: float | int = DEFAULT_FINAL_WINDOW) -> dict[str, Any]:
    """The result record of one run: the keys of ``training_results.json``'s ``experiments`` (see its schema)."""
    source = run.source
    reward = run.metric(RESULT_METRIC)
    summary = curve_summary(*reward, final_window) if reward is not None else curve_summary(np.empty(0), np.empty(0))
    record: dict[str, Any] = {
        "experiment_id": source.info.get("experiment_id", source.run_id),
        "run_id": source.run_id,
        "task": source.info.get("task"),
        "seed": source.seed,
        "group": source.group,
        "point": source.info.get("point", {}),
        "status": source.status,
        "error": source.error,
        "data_source": run.data_source,
        "final_reward_mean": summary["final"],
        "final_score": summary["final_mean"],
        "max_reward_achieved": summary["max"],
        "training_iterations": summary["iterations"],
        "reward_progression": reward[1].tolist() if reward is not None else [],
        "reward_steps": reward[0].tolist() if reward is not None else [],
        "convergence_stability": summary["convergence_stability"],
        "improvement_rate": summary["improvement_rate"],
        "iterations_to_90": summary["iterations_to_90"],
        "duration_minutes": source.info.get("duration_minutes"),
        "command": source.info.get("command"),
        "log_dirs": [str(d) for d in source.log_dirs],
        "code_commit": source.info.get("code_commit"),  # the code dir's commit at the run's last attempt
        "console_logs": [str(p) for p in source.console_logs],
        **cost_keys(source.info.get("usage")),  # GPU-hours, CPU efficiency, memory, GPU use: analyse/cost.py
    }
    for metric in RESULT_METRICS:
        series = run.metric(metric)
        steps, values = series if series is not None else (np.empty(0), np.empty(0))
        record[f"final_{metric}"] = float(values[-1]) if values.size else None
        record[f"initial_{metric}"] = float(values[0]) if values.size else None
        record[f"{metric}_progression"] = values.tolist()
        record[f"{metric}_steps"] = steps.tolist()
    return record


@dataclass(frozen=True)
class GroupResult:
    """One group's row of ``training_results.json``: its final-score statistics and curve-summary aggregates."""

    group: str
    metric: str
    stats: GroupStats
    convergence_stability: float | None
    improvement_rate: float | None
    iterations_to_90: float | None
    excluded: list[dict[str, Any]]
    gpu_hours: float | None = None  # every run of the group, excluded ones too: their time was spent

    @property
    def excluded_runs(self) -> list[str]:
        """The ids of the runs left out of the statistics (the ``excluded_runs`` key, kept for compatibility)."""
        return [entry["run_id"] for entry in self.excluded]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready row: ``group, metric``, the :meth:`GroupStats.to_dict` keys, the aggregates, then the runs left
        out: ``excluded_runs`` (ids) and ``excluded`` (``{run_id, seed, state, reason}`` each)."""
        return {
            "group": self.group,
            "metric": self.metric,
            **self.stats.to_dict(),
            "convergence_stability": self.convergence_stability,
            "improvement_rate": self.improvement_rate,
            "iterations_to_90": self.iterations_to_90,
            "gpu_hours": self.gpu_hours,
            "excluded_runs": self.excluded_runs,
            "excluded": [dict(entry) for entry in self.excluded],
        }


def group_results(records: list[dict[str, Any]], seed: int = 0) -> list[GroupResult]:
    """Per-group statistics of run records (as :func:`experiment_record` makes them), groups in first-seen order.

    Statistics use the records whose state counts (:func:`counts_in_statistics`) and that have a final score: the
    final scores give :class:`GroupStats` (bootstraps seeded with ``seed``); ``convergence_stability`` and
    ``improvement_rate`` are means over those runs, ``iterations_to_90`` their median (None when no run has the
    value). Every other run is listed with its reason (:func:`exclusion_reason`).
    """
    grouped: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        grouped.setdefault(record["group"], []).append(record)
    rows = []
    for name, members in grouped.items():
        reasons = [(r, exclusion_reason(r)) for r in members]
        kept = [r for r, reason in reasons if reason is None]
        scores = np.array([r["final_score"] for r in kept], dtype=np.float64)
        rows.append(
            GroupResult(
                group=name,
                metric=RESULT_METRIC,
                stats=group_stats(scores, [r["seed"] for r in kept], seed=seed),
                convergence_stability=_mean_of(kept, "convergence_stability"),
                improvement_rate=_mean_of(kept, "improvement_rate"),
                iterations_to_90=_median_of(kept, "iterations_to_90"),
                gpu_hours=total_cost(members)["gpu_hours"],
                excluded=[
                    {"run_id": r["run_id"], "seed": r["seed"], "state": str(r["status"]), "reason": reason}
                    for r, reason in reasons
                    if reason is not None
                ],
            )
        )
    return rows


def exclusion_reason(record: dict[str, Any]) -> str | None:
    """Why a run record stays out of its group's statistics, or None when its final score counts.

    By state first (the run's own error, or its state when it has none: ``running``, ``requeued``...), then by data:
    a run whose state counts but that has no reward point (:data:`~hpc_sweep.collect.results.NO_REWARD_DATA`), or
    only non-finite ones (counted in ``reward_progression``, or ``reward_points`` of a record without its lists).
    """
    status = record.get("status")
    if not counts_in_statistics(status):
        if record.get("error"):
            return str(record["error"])
        return f"{status} (no reason recorded)" if status in FINISHED else f"{status}: not finished, so no final score"
    score = record.get("final_score")
    if score is not None and np.isfinite(score):
        return None
    points = record.get("reward_points", len(record.get("reward_progression") or []))
    return NO_REWARD_DATA if not points else "no finite reward value"


def group_points(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each group's grid point: the ``point`` values its run records share (a key whose value differs between runs
    of one group is left out: the group pools several points), groups in first-seen order."""
    points: dict[str, dict[str, Any]] = {}
    for record in records:
        point = record.get("point") or {}
        if record["group"] not in points:
            points[record["group"]] = dict(point)
            continue
        shared = points[record["group"]]
        for key in [k for k in shared if k not in point or point[k] != shared[k]]:
            del shared[key]
    return points


def _mean_of(records: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in records if r.get(key) is not None]
    return float(np.mean(values)) if values else None


def _median_of(records: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in records if r.get(key) is not None]
    return float(np.median(values)) if values else None
