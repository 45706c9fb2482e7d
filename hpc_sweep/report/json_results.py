"""``training_results.json``: one record per run with the seed script's keys, plus per-group statistics.

Schema ``hpc_sweep.training_results/1``::

    {"schema", "generated", "source", "metadata": {task, seeds, ...from the manifest},
     "experiments": [{experiment_id, run_id, task, seed, group, point, status, error, data_source,
                      final_reward_mean (last value), final_score (mean over the last 10%), max_reward_achieved,
                      training_iterations, reward_progression, reward_steps, convergence_stability, improvement_rate,
                      iterations_to_90, duration_minutes, command, log_dirs,
                      final_<m>, initial_<m>, <m>_progression, <m>_steps for each canonical metric m}],
     "groups": [{group, metric, n, mean, std, median, iqm, mean_ci, iqm_ci (95% bootstrap), min, min_seed, max,
                 max_seed, convergence_stability (mean over runs), improvement_rate (mean), iterations_to_90
                 (median), excluded_runs}],
     (group statistics use completed runs, and runs of unknown status in foreign log trees)
     "warnings": [...]}
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from hpc_sweep.analyse.stats import group_statistics
from hpc_sweep.analyse.summary import curve_summary, group_summary
from hpc_sweep.collect.metrics import RESULT_METRICS
from hpc_sweep.collect.results import Collection, RunData
from hpc_sweep.records import now_iso

SCHEMA = "hpc_sweep.training_results/1"
#: Runs whose numbers do not enter group statistics (their last value is not a final score).
EXCLUDED_STATES = frozenset({"failed", "cancelled", "running", "interrupted", "requeued", "pending", "queued"})


def experiment_record(run: RunData) -> dict[str, Any]:
    """The result record of one run."""
    source = run.source
    reward = run.metric("mean_reward")
    summary = curve_summary(*reward) if reward is not None else curve_summary(np.array([]), np.array([]))
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
    }
    for metric in RESULT_METRICS:
        series = run.metric(metric)
        steps, values = series if series is not None else (np.array([]), np.array([]))
        record[f"final_{metric}"] = float(values[-1]) if values.size else None
        record[f"initial_{metric}"] = float(values[0]) if values.size else None
        record[f"{metric}_progression"] = values.tolist()
        record[f"{metric}_steps"] = steps.tolist()
    return record


def build_training_results(collection: Collection, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole ``training_results.json`` document."""
    experiments = [experiment_record(run) for run in collection.runs]
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in experiments:
        groups.setdefault(record["group"], []).append(record)
    group_rows = []
    for name, records in groups.items():
        # A crashed, cancelled or still-running run's last value is not a final score: keep it out of the statistics.
        kept = [r for r in records if r["status"] not in EXCLUDED_STATES]
        scores = np.array([r["final_score"] if r["final_score"] is not None else np.nan for r in kept])
        finite = scores[np.isfinite(scores)]
        row = {
            "group": name,
            "metric": "mean_reward",
            **group_summary(scores, [r["seed"] for r in kept]),
            **{k: v for k, v in group_statistics(finite).items() if k in ("mean_ci", "iqm_ci")},
            "convergence_stability": _mean_of(kept, "convergence_stability"),
            "improvement_rate": _mean_of(kept, "improvement_rate"),
            "iterations_to_90": _median_of(kept, "iterations_to_90"),
            "excluded_runs": [r["run_id"] for r in records if r["status"] in EXCLUDED_STATES],
        }
        group_rows.append(row)
    return {
        "schema": SCHEMA,
        "generated": now_iso(),
        "source": str(collection.root.resolve()),
        "metadata": metadata if metadata is not None else _manifest_metadata(collection),
        "experiments": experiments,
        "groups": group_rows,
        "warnings": collection.warnings,
    }


def _mean_of(records: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in records if r.get(key) is not None]
    return float(np.mean(values)) if values else None


def _median_of(records: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in records if r.get(key) is not None]
    return float(np.median(values)) if values else None


def _manifest_metadata(collection: Collection) -> dict[str, Any]:
    """The sweep's spec and executor when the collection is a sweep dir of ours."""
    manifest = collection.root / "sweep.json"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"runs": len(collection.runs)}
    return {
        **data.get("spec", {}),
        "executor": data.get("executor"),
        "profile": data.get("profile", {}).get("name"),
        "created": data.get("created"),
        "runs": len(collection.runs),
    }
