"""Result tables: ``summary.csv`` (one row per run), ``groups.csv`` (one row per group), and the terminal summary
(the tidy table of every point is :mod:`hpc_sweep.report.metrics_table`).

Tables people join on: each has one column per grid key (``agent.algorithm.learning_rate``...) right after
``group``, with the value as the sweep's plan spelled it, in all three tables; a group's grid columns hold the values
its runs share (empty where its runs differ). Intervals are two numeric columns (``mean_ci_low``,
``mean_ci_high``, ``iqm_ci_low``, ``iqm_ci_high``; empty for a group of fewer than 2 runs), never one string;
``training_results.json`` keeps them as ``[low, high]`` lists.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hpc_sweep.analyse.cost import COST_KEYS
from hpc_sweep.analyse.results import group_points
from hpc_sweep.atomic import write_text_atomic
from hpc_sweep.report.failures import failure_markup
from hpc_sweep.runstate import style

if TYPE_CHECKING:
    import pandas as pd

SUMMARY_COLUMNS = [
    "run_id",
    "experiment_id",
    "seed",
    "group",
    "status",
    "data_source",
    "training_iterations",
    "final_reward_mean",
    "final_score",
    "max_reward_achieved",
    "convergence_stability",
    "improvement_rate",
    "iterations_to_90",
    "duration_minutes",
    *COST_KEYS,  # gpu_hours, cpu_efficiency, max_rss_mb, gpu_util_mean, gpu_mem_max_mb (empty when unmeasured)
    "error",
]


def write_tables(results: dict[str, Any], keys: list[str], out: Path) -> list[Path]:
    """Write ``summary.csv`` (one row per run) and ``groups.csv`` (one row per group: multi-seed statistics)
    atomically; return their paths. ``results`` holds ``experiments`` (run records; their per-point lists are not
    needed) and ``groups``; ``keys`` are the sweep's grid keys (a column each, see the module docstring)."""
    written = [out / "summary.csv", out / "groups.csv"]
    write_text_atomic(written[0], summary_frame(results, keys).to_csv(index=False))
    write_text_atomic(written[1], groups_frame(results, keys).to_csv(index=False))
    return written


def summary_frame(results: dict[str, Any], keys: list[str]) -> pd.DataFrame:
    """``summary.csv``: one row per run of ``results["experiments"]``, a column per grid key after ``group``."""
    import pandas as pd  # imported on use: pandas takes a third of a second to import

    at, experiments = SUMMARY_COLUMNS.index("group") + 1, results["experiments"]
    columns = [*SUMMARY_COLUMNS[:at], *keys, *SUMMARY_COLUMNS[at:]]
    rows = [{**{k: r.get(k) for k in SUMMARY_COLUMNS}, **_point_columns(r.get("point"), keys)} for r in experiments]
    return pd.DataFrame(rows, columns=columns)


def groups_frame(results: dict[str, Any], keys: list[str]) -> pd.DataFrame:
    """``groups.csv``: one row per group of ``results["groups"]``, a column per grid key after ``group`` (the values
    its runs share), intervals as ``<name>_low``/``<name>_high`` numbers."""
    import pandas as pd  # imported on use: pandas takes a third of a second to import

    points = group_points(results["experiments"])
    rows = []
    for group in results["groups"]:
        row = flat_csv_row({k: v for k, v in group.items() if k != "excluded"})
        row = {"group": row.pop("group"), **_point_columns(points.get(group["group"]), keys), **row}
        if "excluded" in group:
            row["excluded"] = "; ".join(f"{e['run_id']} ({e['state']}: {e['reason']})" for e in group["excluded"])
        rows.append(row)
    return pd.DataFrame(rows)


def flat_csv_row(row: dict[str, Any], sep: str = ", ") -> dict[str, Any]:
    """A JSON row made flat for a CSV: an interval (a ``*_ci`` key holding ``[low, high]``) becomes two numeric
    columns ``*_ci_low`` and ``*_ci_high``; any other list is joined with ``sep``."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if key.endswith("_ci") and isinstance(value, (list, tuple)) and len(value) == 2:
            flat[f"{key}_low"], flat[f"{key}_high"] = value
        elif isinstance(value, (list, tuple)):
            flat[key] = sep.join(map(str, value))
        else:
            flat[key] = value
    return flat


def _point_columns(point: dict[str, Any] | None, keys: list[str]) -> dict[str, Any]:
    return {key: (point or {}).get(key) for key in keys}


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _interval(pair: Any) -> str:
    return f"[{_fmt(pair[0])}, {_fmt(pair[1])}]" if pair else "-"


#: Above this many runs the terminal gets their state counts, not a row each (``summary.csv`` has every row).
MAX_RUN_ROWS = 60


def print_summary(results: dict[str, Any], console: Console) -> None:
    """Per-run and per-group tables, like the seed script's closing summary but readable; a sweep of more than
    :data:`MAX_RUN_ROWS` runs gets one line of state counts instead of its run table."""
    experiments = results["experiments"]
    if len(experiments) > MAX_RUN_ROWS:
        counts = Counter(str(r["status"] or "unknown") for r in experiments)
        states = ", ".join(f"[{style(state)}]{n} {state}[/]" for state, n in sorted(counts.items()))
        console.print(f"{len(experiments)} runs: {states} (one row each in summary.csv)", highlight=False)
    else:
        _print_runs(experiments, console)
    _print_groups(results, console)


def _print_runs(experiments: list[dict[str, Any]], console: Console) -> None:
    runs = Table(title="runs")
    for column in ("run", "seed", "group", "status", "source", "iters", "final reward", "max reward", "minutes"):
        numeric = column in ("iters", "final reward", "max reward", "minutes")
        runs.add_column(column, justify="right" if numeric else "left", no_wrap=column != "group", overflow="fold")
    for r in experiments:
        status = r["status"] or "unknown"
        runs.add_row(
            r["run_id"],
            _fmt(r["seed"]),
            r["group"],
            f"[{style(status)}]{status}[/]",
            r["data_source"],
            _fmt(r["training_iterations"]),
            _fmt(r["final_reward_mean"]),
            _fmt(r["max_reward_achieved"]),
            _fmt(r["duration_minutes"], 2),
        )
    console.print(runs)


def _print_groups(results: dict[str, Any], console: Console) -> None:
    groups = Table(title="final score (mean reward over the last 10% of iterations) per group, 95% bootstrap CIs")
    for column in ("group", "n", "mean", "95% CI", "std", "median", "IQM", "95% CI (IQM)", "min (seed)", "max (seed)"):
        groups.add_column(column, no_wrap=column != "group", overflow="fold")
    for g in results["groups"]:
        if g.get("n", 0) == 0:
            groups.add_row(g["group"], "0", *["-"] * 8)
            continue
        groups.add_row(
            g["group"],
            str(g["n"]),
            _fmt(g["mean"]),
            _interval(g.get("mean_ci")),
            _fmt(g["std"]),
            _fmt(g["median"]),
            _fmt(g["iqm"]),
            _interval(g.get("iqm_ci")),
            f"{_fmt(g['min'])} ({g['min_seed']})",
            f"{_fmt(g['max'])} ({g['max_seed']})",
        )
    console.print(groups)
    logs = {r["run_id"]: (r.get("console_logs") or [None])[0] for r in results["experiments"]}
    for r in (r for r in results["experiments"] if r["status"] == "failed"):
        console.print(
            f"[red]failed[/red] {escape(str(r['run_id']))} (seed {r['seed']}): {escape(str(r['error']))}"
            + failure_markup(r["error"], None, logs[r["run_id"]]),
            highlight=False,
        )
    for g in results["groups"]:  # the failed ones are named just above
        for e in (e for e in g.get("excluded", []) if e["state"] != "failed"):
            console.print(
                f"[yellow]not in group statistics[/yellow] {escape(str(e['run_id']))} (seed {e['seed']}, "
                f"{e['state']}): {escape(str(e['reason']))}" + failure_markup(e["reason"], None, logs.get(e["run_id"])),
                highlight=False,
            )
