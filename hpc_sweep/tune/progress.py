"""Where a study stands, as people read it: ``trials.csv``, ``tune_progress.png`` and the rungs table of ``status``.

Built from the controller's state and the runs' curves (read through the study's incremental event cache); the
drawing and formatting are :mod:`hpc_sweep.report.tune`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hpc_sweep.analyse.cost import sweep_run_costs
from hpc_sweep.manifest import load_sweep
from hpc_sweep.report.tune import TrialRow
from hpc_sweep.tune.state import Trial, TuneConfig, TuneState

if TYPE_CHECKING:
    from hpc_sweep.tune.controller import Controller

TRIALS_CSV = "trials.csv"
PROGRESS_PNG = "tune_progress.png"


def trial_state(trial: Trial, config: TuneConfig, state: TuneState) -> str:
    """``training`` (its rung not finished), ``failed`` (no score at its rung), ``top`` (scored at the last rung),
    ``stopped`` (the search ended without promoting it further) or ``waiting`` (it may still be promoted)."""
    if trial.in_flight:
        return "training"
    if trial.scores.get(trial.rung) is None:
        return "failed"
    if trial.rung == len(config.rungs) - 1:
        return "top"
    return "waiting" if state.phase == "search" else "stopped"


def trial_rows(
    state: TuneState, config: TuneConfig, labels: dict[str, Any], runs: dict[str, dict[str, Any]], costs: dict
) -> list[TrialRow]:
    """One :class:`TrialRow` per trial: its params as short labels, scores per rung, iterations and GPU-hours spent."""
    confirmed = (state.result or {}).get("confirmed", [])
    by_trial = {entry["trial"]: entry for entry in confirmed}
    rows = []
    for trial in state.trials:
        spent = sum(int(runs.get(r, {}).get("iterations_done") or 0) for r in trial.runs)
        hours = [(costs.get(r) or {}).get("gpu_hours") for r in trial.runs]
        known = [h for h in hours if isinstance(h, (int, float))]
        entry = by_trial.get(trial.trial, {})
        ci = entry.get("confirmed_iqm_ci")
        rows.append(
            TrialRow(
                trial=trial.trial,
                params={
                    key: labels[key](value) if key in labels else str(value) for key, value in trial.params.items()
                },
                state=trial_state(trial, config, state),
                rung=trial.rung,
                scores=tuple(trial.scores.get(rung) for rung in range(len(config.rungs))),
                seeds_scored=tuple(trial.seeds_scored.get(rung, 0) for rung in range(len(config.rungs))),
                iterations=spent,
                gpu_hours=sum(known) if known else None,
                confirmed_score=entry.get("confirmed_iqm"),
                confirmed_ci=tuple(ci) if ci and None not in ci else None,  # type: ignore[arg-type]
            )
        )
    return rows


def mean_curve(curves: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray] | None:
    """The mean over seeds at each iteration that any seed logged (seeds that stopped earlier drop out)."""
    curves = [c for c in curves if c[0].size]
    if not curves:
        return None
    length = int(max(int(steps.max()) for steps, _ in curves)) + 1
    table = np.full((len(curves), length), np.nan)
    for row, (steps, values) in enumerate(curves):
        keep = (steps >= 0) & (steps < length)
        table[row, steps[keep].astype(np.int64)] = values[keep]
    logged = ~np.all(np.isnan(table), axis=0)
    iterations = np.flatnonzero(logged)
    with np.errstate(all="ignore"):
        return iterations, np.nanmean(table[:, logged], axis=0)


def write_progress(controller: Controller) -> list[Path]:
    """Write ``trials.csv`` and ``tune_progress.png`` into the study's dir; return their paths."""
    from hpc_sweep.report.tune import draw_tune_progress, write_trials_csv

    root, config, state = controller.root, controller.config, controller.state
    sweep = load_sweep(root)
    runs = {run["run_id"]: run for run in sweep.runs}
    labels = {dim.key: dim.label for dim in controller.space.dimensions}
    rows = trial_rows(state, config, labels, runs, sweep_run_costs(sweep.manifest))
    curves: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for trial in state.trials:
        read = [controller.curves.curve(runs[r]) for r in trial.runs if r in runs]
        curve = mean_curve([c for c in read if c is not None])
        if curve is not None:
            curves[trial.trial] = curve
    confirmed: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for number, run_ids in ((state.confirm or {}).get("runs") or {}).items():
        read = [controller.curves.curve(runs[r]) for r in run_ids if r in runs]
        curve = mean_curve([c for c in read if c is not None])
        if curve is not None:
            confirmed[int(number)] = curve
    csv = write_trials_csv(rows, config.rungs, root / TRIALS_CSV)
    metric = config.metric.replace("_", " ")
    png = draw_tune_progress(curves, rows, config.rungs, root / PROGRESS_PNG, metric, confirmed or None)
    return [csv, png]
