"""What ``hpc-sweep compare`` shows: the terminal table, ``comparison.json``/``.csv`` and ``comparison.png``.

The figure has aggregate learning curves (mean with a 95% bootstrap band per group), final-score interval estimates
(IQM and mean with 95% CIs), the probability of improvement of each pair with its CI, and a performance profile
(fraction of runs scoring above each threshold) when every group has at least 5 runs. The numbers come from
:mod:`hpc_sweep.analyse.compare`; this module formats and draws them.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from hpc_sweep.analyse.compare import Group, learning_curves, performance_profiles
from hpc_sweep.atomic import write_bytes_atomic, write_json_atomic, write_text_atomic


def write_comparison(document: dict[str, Any], groups: list[Group], metric: str, out: Path) -> list[Path]:
    """Write comparison.json, comparison.csv and comparison.png into ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, csv_path, png_path = out / "comparison.json", out / "comparison.csv", out / "comparison.png"
    write_json_atomic(json_path, document)
    rows = [
        {k: (", ".join(map(str, v)) if isinstance(v, list) else v) for k, v in pair.items()}
        for pair in document["pairs"]
    ]
    write_text_atomic(csv_path, pd.DataFrame(rows).to_csv(index=False))
    write_bytes_atomic(png_path, _figure(document, groups, metric))
    return [json_path, csv_path, png_path]


def print_comparison(document: dict[str, Any], console: Console) -> None:
    """Group estimates, then one row per pair with every test, then the verdicts in plain words."""
    groups = Table(title=f"final {document['metric']} (mean over the last {document['final_window']} of iterations)")
    for column in ("group", "n", "mean", "95% CI (mean)", "IQM", "95% CI (IQM)", "std", "median"):
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


def _f(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


def _ci(pair: Any, digits: int = 3) -> str:
    if not pair:
        return "-"
    return f"[{_f(pair[0], digits)}, {_f(pair[1], digits)}]"


def _figure(document: dict[str, Any], groups: list[Group], metric: str) -> bytes:
    profile = performance_profiles(groups)
    with_profile = profile is not None
    fig, axes = plt.subplots(1, 4 if with_profile else 3, figsize=(22 if with_profile else 17, 5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colour = {g.name: colours[i % len(colours)] for i, g in enumerate(groups)}

    ax = axes[0]
    for name, band in learning_curves(groups, metric).items():
        ax.plot(band.steps, band.centre, color=colour[name], linewidth=2, label=f"{name} (n={band.num_runs})")
        ax.fill_between(band.steps, band.low, band.high, color=colour[name], alpha=0.25)
    ax.set_title(f"{metric}: mean across runs, 95% bootstrap CI")
    ax.set_xlabel("iteration")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)

    ax = axes[1]
    stats = {g["name"]: g for g in document["groups"]}
    positions = np.arange(len(groups))
    for offset, (key, ci_key, marker) in enumerate((("iqm", "iqm_ci", "o"), ("mean", "mean_ci", "s"))):
        for i, g in enumerate(groups):
            point, ci = stats[g.name].get(key), stats[g.name].get(ci_key)
            if point is None or not ci or not np.isfinite([point, *ci]).all():
                continue
            y = i + (offset - 0.5) * 0.25
            below, above = max(point - ci[0], 0.0), max(ci[1] - point, 0.0)
            ax.errorbar(point, y, xerr=[[below], [above]], fmt=marker, color=colour[g.name],
                        capsize=4, label=key.upper() if i == 0 else None)  # fmt: skip
    ax.set_yticks(positions, [g.name for g in groups])
    ax.set_title(f"final {metric}: IQM (o) and mean (s), 95% CI")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="x")

    ax = axes[2]
    pairs = document["pairs"]
    for i, p in enumerate(pairs):
        value, (low, high) = p["prob_improvement"], p["prob_improvement_ci"]
        ax.barh(i, value, color="tab:green" if p["significant"] else "tab:grey", alpha=0.7)
        ax.errorbar(
            value, i, xerr=[[max(value - low, 0.0)], [max(high - value, 0.0)]], fmt="none", color="black", capsize=4
        )
    ax.axvline(0.5, color="black", linestyle="--", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_yticks(range(len(pairs)), [f"P({p['a']} > {p['b']})" for p in pairs], fontsize=8)
    ax.set_title("probability of improvement, 95% CI")
    ax.grid(alpha=0.3, axis="x")

    if profile is not None:
        ax = axes[3]
        for name, fractions in profile.fractions.items():
            ax.plot(profile.thresholds, fractions, color=colour[name], label=name)
        ax.set_title(f"performance profile: fraction of runs with final {metric} > tau")
        ax.set_xlabel("tau")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)

    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()
