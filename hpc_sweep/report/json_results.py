"""``training_results.json``: one record per run with the seed script's keys, plus per-group statistics.

This module only assembles the document: the records and rows come from :mod:`hpc_sweep.analyse.results`.

Schema ``hpc_sweep.training_results/1``::

    {"schema", "generated", "source", "metadata": {task, seeds, ...from the manifest},
     "experiments": [{experiment_id, run_id, task, seed, group, point, status, error, data_source,
                      final_reward_mean (last value), final_score (mean over the last 10%), max_reward_achieved,
                      training_iterations, reward_progression, reward_steps, convergence_stability, improvement_rate,
                      iterations_to_90, duration_minutes, command, log_dirs, console_logs (the run's console
                      output: a sweep's runs/<id>/train.log), final_<m>, initial_<m>, <m>_progression, <m>_steps
                      for each canonical metric m}],
     "groups": [{group, metric, n, mean, std, median, iqm, min, min_seed, max, max_seed, mean_ci, iqm_ci (95%
                 bootstrap), convergence_stability (mean over runs), improvement_rate (mean), iterations_to_90
                 (median), excluded_runs (run ids), excluded: [{run_id, seed, state, reason}]}],
     (group statistics use completed runs, and runs of unknown status in foreign log trees, that have a final score;
      every other run of the group is in excluded_runs and excluded, with why: the run's error for a failed or
      cancelled run, "no reward data found (logs gone?)" for a completed run without reward points; std and the CIs
      are null for n < 2, every estimate null for n = 0)
     "warnings": [...]}   (what collection noticed, one line each: damaged event files, iterations filled from
                           the console log, completed runs without reward data, ...)

The CSV tables flatten this document for joins (:mod:`hpc_sweep.report.tables`): ``summary.csv`` and ``groups.csv``
have one column per grid key (an experiment's ``point``), and ``groups.csv`` splits each ``[low, high]`` interval
into ``<name>_low`` and ``<name>_high`` columns.

``data_source`` is ``tensorboard``, ``console_log``, ``summaries``, ``tensorboard+console_log`` (event data with
iterations they lacked filled from the console log) or ``none``.
"""

from __future__ import annotations

import json
from typing import Any

from hpc_sweep.analyse.results import group_results, run_results
from hpc_sweep.collect.results import Collection
from hpc_sweep.records import now_iso

SCHEMA = "hpc_sweep.training_results/1"


def build_training_results(collection: Collection, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole ``training_results.json`` document."""
    experiments = run_results(collection)
    return {
        "schema": SCHEMA,
        "generated": now_iso(),
        "source": str(collection.root.resolve()),
        "metadata": metadata if metadata is not None else _manifest_metadata(collection),
        "experiments": experiments,
        "groups": [row.to_dict() for row in group_results(experiments)],
        "warnings": collection.warnings,
    }


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
