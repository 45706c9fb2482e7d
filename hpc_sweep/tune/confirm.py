"""The end of a study: collect it, compare the confirmation runs, and name the winner by them.

A search picks the configuration whose noisy score came out best, so that score is biased upward (the winner's
curse): with 27 trials of 3 seeds each, the best of 27 noisy estimates is optimistic even when every trial is equally
good. The confirmation stage re-ran the top configurations with fresh seeds at the full budget; their scores are
unbiased estimates, compared here exactly as ``hpc-sweep compare`` compares groups (bootstrap CIs of the IQM,
pairwise tests with Holm's correction), and the winner is the best *confirmed* configuration. Its search score is
reported beside it, so the size of the optimism is visible.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console

from hpc_sweep.tune.runs import trial_label
from hpc_sweep.tune.state import Trial, TuneConfig, TuneState

if TYPE_CHECKING:
    from hpc_sweep.collect.results import Collection


def confirm_and_report(
    root: Path, config: TuneConfig, state: TuneState, ranking: list[Trial], collection: Collection, console: Console
) -> dict[str, Any]:
    """Compare the confirmed configurations (their runs in ``collection``, the study read as ``collect`` reads it)
    into ``confirmation/comparison.{json,csv,png}``; return the result summary kept in ``state.json``."""
    from hpc_sweep.analyse.compare import Group, compare, run_final_score
    from hpc_sweep.report.comparison import print_comparison, write_comparison

    confirmed = [int(t) for t in (state.confirm or {}).get("trials", [])]
    best_search = ranking[0] if ranking else None
    result: dict[str, Any] = {
        "search_best": _trial_summary(best_search, config) if best_search else None,
        "confirmed": [],
        "winner": None,
    }
    if not confirmed:
        result["winner"] = result["search_best"]
        result["note"] = "no confirmation stage (--confirm 0): the winner's score is the search's, biased upward"
        return result
    groups = []
    for number in confirmed:
        label = trial_label(number, "confirm")
        runs = [run for run in collection.runs if run.source.group == label]
        scores = np.array([run_final_score(run, config.metric, config.final_window) for run in runs])
        groups.append(Group(name=label, runs=runs, run_scores=scores))
    document = compare(groups, config.metric, config.final_window)
    print_comparison(document, console)
    written = write_comparison(document, groups, config.metric, root / "confirmation")
    sign = 1.0 if config.maximize else -1.0
    stats = {group["name"]: group for group in document["groups"]}
    for number in confirmed:
        trial = state.trial(number)
        group = stats.get(trial_label(number, "confirm"), {})
        entry = {
            **(_trial_summary(trial, config) if trial else {"trial": number}),
            "confirmed_iqm": _number(group.get("iqm")),
            "confirmed_iqm_ci": [_number(x) for x in group.get("iqm_ci") or (None, None)],
            "confirmed_runs": group.get("n"),
        }
        result["confirmed"].append(entry)
    scored = [e for e in result["confirmed"] if e["confirmed_iqm"] is not None]
    if scored:
        result["winner"] = max(scored, key=lambda e: (sign * e["confirmed_iqm"], -e["trial"]))
    result["comparison"] = [str(path.relative_to(root)) for path in written]
    return result


def _trial_summary(trial: Trial, config: TuneConfig) -> dict[str, Any]:
    rung = trial.best_rung()
    return {
        "trial": trial.trial,
        "label": trial_label(trial.trial),
        "params": trial.params,
        "rung_reached": None if rung is None else config.rungs[rung],
        "search_score": None if rung is None else trial.scores[rung],
    }


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None
