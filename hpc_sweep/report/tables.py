"""Result tables: ``metrics.csv``/``.parquet`` (tidy), ``summary.csv`` (one row per run), and the terminal summary."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from hpc_sweep.atomic import write_bytes_atomic, write_json_atomic, write_text_atomic
from hpc_sweep.collect.results import Collection
from hpc_sweep.runstate import style

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
    "error",
]


def write_tables(collection: Collection, results: dict[str, Any], out: Path) -> list[Path]:
    """Write every table and ``training_results.json`` atomically; return the paths written.

    ``summary.csv`` has one row per run, ``groups.csv`` one row per group (multi-seed statistics).
    """
    frame = collection.metrics_frame()
    written = [out / "metrics.csv", out / "summary.csv", out / "groups.csv", out / "training_results.json"]
    write_text_atomic(written[0], frame.to_csv(index=False))
    summary = pd.DataFrame([{k: r.get(k) for k in SUMMARY_COLUMNS} for r in results["experiments"]])
    write_text_atomic(written[1], summary.to_csv(index=False))
    groups = pd.DataFrame([_group_csv_row(g) for g in results["groups"]])
    write_text_atomic(written[2], groups.to_csv(index=False))
    write_json_atomic(written[3], results)
    if importlib.util.find_spec("pyarrow") is not None:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        write_bytes_atomic(out / "metrics.parquet", buffer.getvalue())
        written.insert(1, out / "metrics.parquet")
    return written


def _group_csv_row(group: dict[str, Any]) -> dict[str, Any]:
    """A group row flattened for groups.csv: lists joined with ", ", excluded runs as ``run (state: reason)`` joined
    with "; "."""
    row = {k: (", ".join(map(str, v)) if isinstance(v, list) else v) for k, v in group.items() if k != "excluded"}
    if "excluded" in group:
        row["excluded"] = "; ".join(f"{e['run_id']} ({e['state']}: {e['reason']})" for e in group["excluded"])
    return row


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _interval(pair: Any) -> str:
    return f"[{_fmt(pair[0])}, {_fmt(pair[1])}]" if pair else "-"


def print_summary(results: dict[str, Any], console: Console) -> None:
    """Per-run and per-group tables, like the seed script's closing summary but readable."""
    runs = Table(title="runs")
    for column in ("run", "seed", "group", "status", "source", "iters", "final reward", "max reward", "minutes"):
        numeric = column in ("iters", "final reward", "max reward", "minutes")
        runs.add_column(column, justify="right" if numeric else "left", no_wrap=column != "group", overflow="fold")
    for r in results["experiments"]:
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
    failed = [r for r in results["experiments"] if r["status"] == "failed"]
    for r in failed:
        console.print(f"[red]failed[/red] {r['run_id']} (seed {r['seed']}): {r['error']}", highlight=False)
    for g in results["groups"]:  # the failed ones are named just above
        for e in (e for e in g.get("excluded", []) if e["state"] != "failed"):
            console.print(
                f"[yellow]not in group statistics[/yellow] {e['run_id']} (seed {e['seed']}, {e['state']}): "
                f"{e['reason']}",
                highlight=False,
            )
