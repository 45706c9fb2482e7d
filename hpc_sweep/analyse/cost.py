"""What a sweep cost: GPU-hours, CPU efficiency and peak memory per run, group and sweep, and how busy its GPUs were.

Inputs are plain data: the sweep's runs (manifest entries merged with their records: ``job_id`` and each attempt's
``job_id`` and ``gpu_usage``, the job wrapper's ``nvidia-smi`` summary) and the scheduler's accounting of each job
(job id -> one dict per attempt, :data:`hpc_sweep.launch.accounting.ATTEMPT_KEYS`, kept in the manifest's
``accounting`` by the Slurm launcher).

The rules, in one place:

* an attempt's GPU-hours are its elapsed seconds x the GPUs allocated to it / 3600 (every attempt of a requeued
  job counts: the time was spent);
* a job that ran several runs (``--runs_per_gpu`` packs them into one array task; a resubmitted run has a new job)
  is split evenly among the runs that name it, so a pack's runs add up to the job;
* CPU efficiency is CPU time used / (elapsed x CPUs allocated), over the same shares;
* peak memory is the largest ``MaxRSS`` of the jobs a run ran in (a pack's runs share one number: Slurm measures
  the job, not the run);
* GPU utilisation is the mean over the run's samples (each attempt's mean weighted by its sample count).

A value nobody measured is None, never 0: a local sweep has GPU utilisation but no GPU-hours; a log tree has neither.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

#: The per-run keys of ``training_results.json`` (and columns of ``summary.csv``) this module fills.
COST_KEYS = ("gpu_hours", "cpu_efficiency", "max_rss_mb", "gpu_util_mean", "gpu_mem_max_mb")
#: Below this mean GPU utilisation (percent) ``status`` suggests packing runs with ``--runs_per_gpu``.
LOW_UTIL_PERCENT = 40.0
#: The utilisation packing aims at: K runs per GPU such that K x the present utilisation stays under it.
TARGET_UTIL_PERCENT = 80.0


def run_job_ids(run: Mapping[str, Any]) -> list[str]:
    """Every job id a run ran under (its present ``job_id`` and each attempt's), first seen first."""
    ids = [run.get("job_id"), *(a.get("job_id") for a in run.get("attempts") or [] if isinstance(a, dict))]
    return list(dict.fromkeys(str(job_id) for job_id in ids if job_id))


def run_costs(runs: Iterable[Mapping[str, Any]], jobs: Mapping[str, list[Mapping[str, Any]]]) -> dict[str, dict]:
    """Each run's cost (run id -> :data:`COST_KEYS` plus ``gpu_util_max`` and ``accounted_attempts``) from the
    scheduler's accounting ``jobs`` (job id -> its attempts) and the runs' own GPU samples (see the module rules)."""
    runs = list(runs)
    sharing: dict[str, int] = {}
    for run in runs:
        for job_id in run_job_ids(run):
            sharing[job_id] = sharing.get(job_id, 0) + 1
    costs = {}
    for run in runs:
        attempts = [(a, sharing[j]) for j in run_job_ids(run) for a in jobs.get(j, []) if _is_attempt(a)]
        costs[run["run_id"]] = {**_accounting(attempts), **gpu_samples(run.get("attempts") or [])}
    return costs


def _is_attempt(attempt: Any) -> bool:
    """Whether a kept accounting entry has the numbers GPU-hours need (``sweep.json`` may have been edited by hand)."""
    return isinstance(attempt, Mapping) and all(
        isinstance(attempt.get(key), (int, float)) and not isinstance(attempt.get(key), bool)
        for key in ("elapsed_s", "gpus", "cpus")
    )


def _accounting(attempts: list[tuple[Mapping[str, Any], int]]) -> dict[str, Any]:
    """GPU-hours, CPU efficiency and peak memory of a run's share of the attempts (attempt, runs sharing its job)."""
    if not attempts:
        return {"gpu_hours": None, "cpu_efficiency": None, "max_rss_mb": None, "accounted_attempts": 0}
    gpu_hours = sum(a["elapsed_s"] * a["gpus"] / 3600.0 / shared for a, shared in attempts)
    timed = [(a, shared) for a, shared in attempts if a.get("total_cpu_s") is not None]
    allocated = sum(a["elapsed_s"] * a["cpus"] / shared for a, shared in timed)
    used = sum(a["total_cpu_s"] / shared for a, shared in timed)
    peaks = [a["max_rss_mb"] for a, _ in attempts if a.get("max_rss_mb") is not None]
    return {
        "gpu_hours": gpu_hours,
        "cpu_efficiency": used / allocated if allocated > 0 else None,
        "max_rss_mb": max(peaks) if peaks else None,
        "accounted_attempts": len(attempts),
    }


def gpu_samples(attempts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``gpu_util_mean`` (weighted by each attempt's sample count), ``gpu_util_max`` and ``gpu_mem_max_mb`` over a
    run's attempts' ``gpu_usage`` summaries; None each when no attempt has samples."""
    usages = [a["gpu_usage"] for a in attempts if isinstance(a, Mapping) and isinstance(a.get("gpu_usage"), Mapping)]
    usages = [u for u in usages if u.get("samples")]
    if not usages:
        return {"gpu_util_mean": None, "gpu_util_max": None, "gpu_mem_max_mb": None}
    count = sum(u["samples"] for u in usages)
    return {
        "gpu_util_mean": sum(u["util_mean"] * u["samples"] for u in usages) / count,
        "gpu_util_max": max(u["util_max"] for u in usages),
        "gpu_mem_max_mb": max(u["mem_max_mb"] for u in usages),
    }


def sweep_run_costs(manifest: Mapping[str, Any]) -> dict[str, dict]:
    """:func:`run_costs` of a sweep's merged manifest (its runs and the ``accounting`` the launcher kept)."""
    accounting = manifest.get("accounting")
    jobs = accounting.get("jobs", {}) if isinstance(accounting, Mapping) else {}
    return run_costs(manifest.get("runs", []), jobs if isinstance(jobs, Mapping) else {})


def cost_keys(usage: Mapping[str, Any] | None) -> dict[str, Any]:
    """The :data:`COST_KEYS` of one run's usage (None each for a run nobody measured: a foreign log tree)."""
    return {key: (usage or {}).get(key) for key in COST_KEYS}


def total_cost(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A group's or sweep's cost from its run records (:data:`COST_KEYS` each): ``gpu_hours`` (sum), ``runs`` and
    ``runs_with_gpu_hours``, ``cpu_efficiency`` and ``gpu_util_mean`` (means over the runs that have them),
    ``max_rss_mb`` and ``gpu_mem_max_mb`` (largest)."""
    records = list(records)
    hours = _present(records, "gpu_hours")
    return {
        "gpu_hours": sum(hours) if hours else None,
        "runs": len(records),
        "runs_with_gpu_hours": len(hours),
        "cpu_efficiency": _mean(_present(records, "cpu_efficiency")),
        "gpu_util_mean": _mean(_present(records, "gpu_util_mean")),
        "max_rss_mb": max(_present(records, "max_rss_mb"), default=None),
        "gpu_mem_max_mb": max(_present(records, "gpu_mem_max_mb"), default=None),
    }


def score_per_gpu_hour(scores: Iterable[float], gpu_hours: Iterable[float | None]) -> dict[str, Any]:
    """Cost beside a group's score: ``gpu_hours`` (its runs' sum), ``gpu_hours_per_run`` (mean over runs with
    accounting) and ``score_per_gpu_hour`` (mean finite score / GPU-hours per run); None where unknown or zero."""
    hours = [h for h in gpu_hours if h is not None and math.isfinite(h)]
    finite = [s for s in scores if s is not None and math.isfinite(s)]
    per_run = _mean(hours)
    mean_score = _mean(finite)
    ratio = mean_score / per_run if per_run and mean_score is not None else None
    return {"gpu_hours": sum(hours) if hours else None, "gpu_hours_per_run": per_run, "score_per_gpu_hour": ratio}


def suggested_runs_per_gpu(util_mean: float | None, runs_per_gpu: int = 1) -> int | None:
    """``--runs_per_gpu K`` to suggest when the mean GPU utilisation (percent) is under :data:`LOW_UTIL_PERCENT`:
    as many runs per GPU as keep it under :data:`TARGET_UTIL_PERCENT` (at least 2, and more than now); else None."""
    if util_mean is None or not util_mean < LOW_UTIL_PERCENT:
        return None
    per_run = max(util_mean, 1.0) / max(runs_per_gpu, 1)  # what one run uses of the GPU
    return max(2, runs_per_gpu + 1, math.floor(TARGET_UTIL_PERCENT / per_run))


def _present(records: list[Mapping[str, Any]], key: str) -> list[float]:
    values = (r.get(key) for r in records)
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
