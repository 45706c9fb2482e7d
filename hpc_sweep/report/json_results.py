"""``training_results.json``: one record per run with the seed script's keys, plus per-group statistics.

This module only writes the document: the records and rows come from :mod:`hpc_sweep.analyse.results`, each run's
record already as JSON from :mod:`hpc_sweep.report.run_products`.

Schema ``hpc_sweep.training_results/1``::

    {"schema", "generated", "source", "metadata": {task, seeds, ..., provenance (sweep.json's), from the manifest},
     "cost": {gpu_hours (sum over runs), runs, runs_with_gpu_hours, cpu_efficiency, gpu_util_mean (means over runs
              that have them), max_rss_mb, gpu_mem_max_mb (largest)},
     "experiments": [{experiment_id, run_id, task, seed, group, point, status, error, data_source,
                      final_reward_mean (last value), final_score (mean over the last 10%), max_reward_achieved,
                      training_iterations, reward_progression, reward_steps, convergence_stability, improvement_rate,
                      iterations_to_90, duration_minutes, command, log_dirs, code_commit (at the last attempt),
                      console_logs (the run's console output: a sweep's runs/<id>/train.log), final_<m>,
                      initial_<m>, <m>_progression, <m>_steps for each canonical metric m, gpu_hours,
                      cpu_efficiency, max_rss_mb, gpu_util_mean, gpu_mem_max_mb (null when unmeasured: see
                      hpc_sweep/analyse/cost.py)}],
     "groups": [{group, metric, n, mean, std, median, iqm, min, min_seed, max, max_seed, mean_ci, iqm_ci (95%
                 bootstrap), convergence_stability (mean over runs), improvement_rate (mean), iterations_to_90
                 (median), gpu_hours (sum over the group's runs), excluded_runs (run ids), excluded: [{run_id,
                 seed, state, reason}]}],
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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from hpc_sweep.atomic import open_atomic
from hpc_sweep.records import now_iso

SCHEMA = "hpc_sweep.training_results/1"
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def document_head(root: Path, metadata: dict[str, Any]) -> dict[str, Any]:
    """The keys of ``training_results.json`` before its experiments."""
    return {"schema": SCHEMA, "generated": now_iso(), "source": str(Path(root).resolve()), "metadata": metadata}


def write_training_results(
    path: Path, head: dict[str, Any], records: Iterable[bytes], groups: list[dict[str, Any]], warnings: list[str]
) -> Path:
    """Write the document atomically, streaming the experiments: ``records`` are each run's record, already JSON
    (orjson: fast, numpy arrays natively, NaN and inf as ``null``), one per line, so the file is written without
    ever holding every run's progressions in memory."""
    with open_atomic(path) as handle:
        handle.write(b"{\n")
        for key, value in head.items():
            handle.write(b"  " + orjson.dumps(key) + b": " + _dumps(value) + b",\n")
        handle.write(b'  "experiments": [')
        for index, record in enumerate(records):
            handle.write((b",\n    " if index else b"\n    ") + record)
        handle.write(b'\n  ],\n  "groups": ' + _dumps(groups, indent=True).replace(b"\n", b"\n  "))
        handle.write(b',\n  "warnings": ' + _dumps(warnings, indent=True).replace(b"\n", b"\n  ") + b"\n}\n")
    return path


def _dumps(value: Any, indent: bool = False) -> bytes:
    return orjson.dumps(value, default=str, option=_OPTIONS | (orjson.OPT_INDENT_2 if indent else 0))


def sweep_metadata(root: Path, runs: int) -> dict[str, Any]:
    """The sweep's spec and executor when ``root`` is a sweep dir of ours, else the run count."""
    manifest = Path(root) / "sweep.json"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"runs": runs}
    return {
        **data.get("spec", {}),
        "executor": data.get("executor"),
        "profile": data.get("profile", {}).get("name"),
        "created": data.get("created"),
        "runs": runs,
        "provenance": data.get("provenance"),  # code commits, versions, image (hpc_sweep.provenance.capture)
    }
