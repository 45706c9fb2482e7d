"""What ``hpc-sweep compare`` shows: the terminal table, ``comparison.json``/``.csv`` and ``comparison.png``.

The figure (:func:`comparison_figure`) has aggregate learning curves (mean per group, with a 95% bootstrap band
where at least :data:`~hpc_sweep.analyse.curves.MIN_BAND_RUNS` runs have a point), a performance profile (fraction
of runs scoring above each threshold) when every group has at least 5 runs, final-score interval estimates (IQM and
mean with 95% CIs) and the probability of improvement of each pair, its value printed on its bar. One colour key for
the groups sits above the panels; marker keys are black. The numbers come from :mod:`hpc_sweep.analyse.compare`;
this module formats and draws them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from rich.console import Console
from rich.table import Table

from hpc_sweep.analyse.compare import Group, learning_curves, performance_profiles
from hpc_sweep.analyse.curves import MIN_BAND_RUNS, require_runs
from hpc_sweep.atomic import write_bytes_atomic, write_json_atomic, write_text_atomic
from hpc_sweep.report.figures import figure_key, figure_png, group_colours, iteration_axis, wrapped
from hpc_sweep.report.tables import flat_csv_row

#: The cost columns beside the score: the group's GPU-hours and its mean score per GPU-hour of one run.
_COST_COLUMNS = ("GPU-h", "mean per GPU-h")
_LABEL_WIDTH = 40
"""Characters per line of a group name on an axis (longer names wrap)."""


def write_comparison(document: dict[str, Any], groups: list[Group], metric: str, out: Path) -> list[Path]:
    """Write comparison.json, comparison.csv (one row per pair; intervals as ``<name>_low``/``<name>_high``
    columns) and comparison.png into ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, csv_path, png_path = out / "comparison.json", out / "comparison.csv", out / "comparison.png"
    write_json_atomic(json_path, document)
    rows = [flat_csv_row(pair, sep="; ") for pair in document["pairs"]]  # diff_ci -> diff_ci_low, diff_ci_high
    write_text_atomic(csv_path, pd.DataFrame(rows).to_csv(index=False))
    write_bytes_atomic(png_path, figure_png(comparison_figure(document, groups, metric)))
    return [json_path, csv_path, png_path]


def print_comparison(document: dict[str, Any], console: Console) -> None:
    """Group estimates, then one row per pair with every test, then the verdicts in plain words."""
    groups = Table(title=f"final {document['metric']} (mean over the last {window_text(document['final_window'])})")
    for column in ("group", "n", "mean", "95% CI (mean)", "IQM", "95% CI (IQM)", "std", "median", *_COST_COLUMNS):
        groups.add_column(column)
    for g in document["groups"]:
        groups.add_row(
            g["name"],
            str(g["n"]),
            _f(g.get("mean")),
            _ci(g.get("mean_ci")),
            _f(g.get("iqm")),
            _ci(g.get("iqm_ci")),
            _f(g.get("std")),
            _f(g.get("median")),
            _f(g.get("gpu_hours")),
            _f(g.get("score_per_gpu_hour")),
        )
    console.print(groups)
    pairs = Table(title="pairwise comparisons")
    for column in ("A vs B", "diff (A-B)", "95% CI", "Welch p", "Mann-Whitney p", "adj. p", "P(A>B)", "Hedges g"):
        pairs.add_column(column)
    for p in document["pairs"]:
        style = "bold green" if p["significant"] else ""
        pairs.add_row(
            f"[{style}]{p['a']} vs {p['b']}[/]" if style else f"{p['a']} vs {p['b']}",
            _f(p["diff"]),
            _ci(p["diff_ci"]),
            _f(p["welch_p"], 4),
            _f(p["mw_p"], 4),
            _f(p["p_adjusted"], 4),
            f"{_f(p['prob_improvement'], 2)} {_ci(p['prob_improvement_ci'], 2)}",
            _f(p["hedges_g"], 2),
        )
    console.print(pairs)
    for p in document["pairs"]:
        console.print(f"- {p['verdict']}", highlight=False)
    for warning in document.get("warnings", []):
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)


def window_text(final_window: float | int) -> str:
    """``0.1`` -> ``10% of iterations``; ``50`` -> ``50 iterations``."""
    if isinstance(final_window, float) and final_window <= 1.0:
        return f"{final_window * 100:g}% of iterations"
    return f"{final_window} iterations"


def _f(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


def _ci(pair: Any, digits: int = 3) -> str:
    if not pair:
        return "-"
    return f"[{_f(pair[0], digits)}, {_f(pair[1], digits)}]"


def comparison_figure(document: dict[str, Any], groups: list[Group], metric: str) -> Figure:
    """Draw the comparison figure (see the module docstring) and return it, open.

    Top row: the curves and the interval estimates (one row per group); below: the probability of improvement (one
    row per pair) and the performance profile beside it when there is one. Heights follow the number of rows, so 2
    to 6 groups (1 to 15 pairs) stay readable.
    """
    names = [g.name for g in groups]
    colours = group_colours(names)
    profile = performance_profiles(groups)
    pairs = document["pairs"]
    lines = max(len(wrapped(name, _LABEL_WIDTH).splitlines()) for name in names)  # of one group's label
    top = max(4.6, 0.3 * len(names) * (1 + lines) + 1.2)
    bottom = max(3.0, 0.2 * len(pairs) * (1 + 2 * lines) + 1.2)
    key = 0.25 * math.ceil(len(names) / 3) + 0.8
    fig = plt.figure(figsize=(15, top + bottom + key), layout="constrained")
    upper, lower = fig.subfigures(2, 1, height_ratios=[top, bottom])  # each row lays out its own labels
    axes = upper.subplot_mosaic([["curves", "intervals"]], width_ratios=[1.4, 1])
    axes |= lower.subplot_mosaic([["pairs", "profile" if profile is not None else "pairs"]], width_ratios=[1.4, 1])
    _draw_curves(axes["curves"], groups, metric, colours)
    _draw_intervals(axes["intervals"], document, names, metric, colours)
    _draw_pairs(axes["pairs"], pairs)
    if profile is not None:
        ax = axes["profile"]
        for name, fractions in profile.fractions.items():
            ax.plot(profile.thresholds, fractions, color=colours[name], linewidth=2)
        ax.set_title(f"performance profile: share of runs with final {metric} > tau", fontsize=10)
        ax.set_xlabel("tau")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    window = window_text(document["final_window"])
    title = f"Comparison of {len(names)} groups: final {metric} = mean over the last {window}"
    handles = [Line2D([], [], color=colours[g.name], lw=3, label=f"{g.name} (n={g.scores.size})") for g in groups]
    figure_key(fig, title, handles)
    return fig


def _draw_curves(ax: Axes, groups: list[Group], metric: str, colours: dict[str, str]) -> None:
    banded = False
    for name, band in learning_curves(groups, metric).items():
        band = require_runs(band, MIN_BAND_RUNS)
        ax.plot(band.steps, band.centre, color=colours[name], linewidth=2)
        if band.has_band:
            ax.fill_between(band.steps, band.low, band.high, color=colours[name], alpha=0.25, linewidth=0)
            banded = True
    band_text = "band: 95% bootstrap CI" if banded else f"no band: fewer than {MIN_BAND_RUNS} runs per group"
    ax.set_title(f"{metric}: mean across runs ({band_text})", fontsize=10)
    ax.set_ylabel(metric)
    iteration_axis(ax)
    ax.grid(alpha=0.3)


def _draw_intervals(ax: Axes, document: dict[str, Any], names: list[str], metric: str, colours: dict[str, str]) -> None:
    """IQM (circle) and mean (square) of each group's final scores with their 95% CIs; black marker keys."""
    stats = {g["name"]: g for g in document["groups"]}
    for offset, key, marker in ((-0.15, "iqm", "o"), (0.15, "mean", "s")):
        for i, name in enumerate(names):
            point, ci = stats[name].get(key), stats[name].get(f"{key}_ci") or [np.nan, np.nan]
            if point is None or not np.isfinite(point):
                continue
            known = np.isfinite(ci).all()
            below, above = (max(point - ci[0], 0.0), max(ci[1] - point, 0.0)) if known else (0.0, 0.0)
            ax.errorbar(point, i + offset, xerr=[[below], [above]], fmt=marker, color=colours[name], capsize=4)
    ax.set_yticks(range(len(names)), [wrapped(name, _LABEL_WIDTH) for name in names], fontsize=8)
    for label, name in zip(ax.get_yticklabels(), names, strict=True):
        label.set_color(colours[name])
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_title(f"final {metric}: IQM and mean, 95% CI", fontsize=10)
    ax.grid(alpha=0.3, axis="x")
    keys = [
        Line2D([], [], color="black", marker="o", linestyle="none", label="IQM"),
        Line2D([], [], color="black", marker="s", linestyle="none", label="mean"),
    ]
    ax.legend(handles=keys, fontsize=8, loc="best", framealpha=0.9)


def _draw_pairs(ax: Axes, pairs: list[dict[str, Any]]) -> None:
    """P(A > B) of each pair as a bar with its 95% CI and its value printed (also at 0); green when significant."""
    for i, p in enumerate(pairs):
        value, (low, high) = p["prob_improvement"], p["prob_improvement_ci"]
        if value is None or not np.isfinite(value):
            ax.text(0.01, i, "n/a", va="center", fontsize=8, color="grey")
            continue
        colour = "tab:green" if p["significant"] else "tab:grey"
        ax.barh(i, value, height=0.6, color=colour, alpha=0.6)
        known = np.isfinite([low, high]).all()
        xerr = [[max(value - low, 0.0)], [max(high - value, 0.0)]] if known else None
        ax.errorbar(value, i, xerr=xerr, fmt="D", color="black", markersize=4, capsize=4)  # seen at 0 and 1 too
        ax.text(min(value, 0.9) + 0.02, i - 0.2, f"{value:.2f}", va="center", ha="left", fontsize=9)
    ax.axvline(0.5, color="black", linestyle="--", linewidth=1)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(len(pairs) - 0.5, -0.5)
    labels = [f"{wrapped(p['a'], _LABEL_WIDTH)}\n  > {wrapped(p['b'], _LABEL_WIDTH)}" for p in pairs]
    ax.set_yticks(range(len(pairs)), labels, fontsize=8)
    ax.set_xlabel("P(A > B): chance that a run of A scores above a run of B (0.5: no difference)")
    ax.set_title("probability of improvement, 95% CI", fontsize=10)
    ax.grid(alpha=0.3, axis="x")
    keys = [
        Patch(facecolor="tab:green", alpha=0.6, label="significant (Holm-adjusted)"),
        Patch(facecolor="tab:grey", alpha=0.6, label="not significant"),
    ]
    ax.legend(handles=keys, fontsize=8, loc="best", framealpha=0.9)
