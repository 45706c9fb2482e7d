"""``training_analysis.png``: the seed script's panels, each filled when its data exists.

Panels: final reward by seed, reward curves (mean and a ±1 std band across seeds per group, each run thin), then
entropy, surrogate loss, value-function loss, learning rate, and noise std / mirror symmetry / episode length when
any run logged them. Plotting only draws: the numbers come from the collection.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hpc_sweep.atomic import write_bytes_atomic
from hpc_sweep.collect.results import Collection, RunData

_ALWAYS = [
    ("entropy", "Entropy"),
    ("surrogate", "Surrogate loss"),
    ("value_function", "Value-function loss"),
    ("learning_rate", "Learning rate"),
]
_WHEN_PRESENT = [
    ("noise_std", "Policy noise std"),
    ("mirror_symmetry", "Mirror-symmetry loss"),
    ("episode_length", "Episode length"),
]


def _curves(runs: list[RunData], metric: str) -> pd.DataFrame:
    """Wide frame (step x run) of one metric; NaN where a run has no point at that step."""
    columns = {}
    for run in runs:
        series = run.metric(metric)
        if series is not None and series[0].size:
            columns[run.source.run_id] = pd.Series(series[1], index=series[0])
    return pd.DataFrame(columns).sort_index() if columns else pd.DataFrame()


def _draw_metric(ax: plt.Axes, groups: dict[str, list[RunData]], metric: str, title: str) -> None:
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    drawn = False
    for index, (group, runs) in enumerate(groups.items()):
        wide = _curves(runs, metric)
        if wide.empty:
            continue
        colour = colours[index % len(colours)]
        for column in wide.columns:
            ax.plot(wide.index, wide[column], color=colour, alpha=0.25, linewidth=0.8)
        mean, std = wide.mean(axis=1), wide.std(axis=1).fillna(0.0)
        ax.plot(mean.index, mean.values, color=colour, linewidth=2, label=f"{group} (n={wide.shape[1]})")
        ax.fill_between(mean.index, mean - std, mean + std, color=colour, alpha=0.2)
        drawn = True
    ax.set_title(title)
    ax.set_xlabel("iteration")
    if drawn:
        ax.grid(alpha=0.3)
    else:
        ax.text(0.5, 0.5, "not logged by these runs", ha="center", va="center", transform=ax.transAxes, color="grey")
        ax.set_xticks([])
        ax.set_yticks([])


def _draw_final_by_seed(ax: plt.Axes, groups: dict[str, list[RunData]]) -> None:
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    labels, heights, bar_colours = [], [], []
    for index, (group, runs) in enumerate(groups.items()):
        for run in runs:
            series = run.metric("mean_reward")
            if series is None or not series[1].size:
                continue
            labels.append(f"{run.source.seed}" if len(groups) == 1 else f"{group}\nseed {run.source.seed}")
            heights.append(float(series[1][-1]))
            bar_colours.append(colours[index % len(colours)])
    ax.set_title("Final reward by seed")
    if not heights:
        ax.text(0.5, 0.5, "no reward data", ha="center", va="center", transform=ax.transAxes, color="grey")
        return
    positions = np.arange(len(heights))
    bars = ax.bar(positions, heights, color=bar_colours)
    ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.axhline(float(np.mean(heights)), color="black", linestyle="--", linewidth=1, label="mean")
    ax.set_xticks(positions, labels, rotation=45 if len(labels) > 6 else 0, fontsize=8)
    ax.set_xlabel("seed")
    ax.set_ylabel("final mean reward")
    ax.legend(fontsize=8)


def plot_training_analysis(collection: Collection, path: Path) -> Path:
    """Draw the analysis figure and write it atomically to ``path``."""
    groups: dict[str, list[RunData]] = {}
    for run in collection.runs:
        groups.setdefault(run.source.group, []).append(run)
    extra = [(m, t) for m, t in _WHEN_PRESENT if any(run.metric(m) is not None for run in collection.runs)]
    panels = 2 + len(_ALWAYS) + len(extra)
    ncols = 3
    nrows = math.ceil(panels / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6 * ncols, 4.2 * nrows), squeeze=False)
    flat = list(axes.flat)
    _draw_final_by_seed(flat[0], groups)
    _draw_metric(flat[1], groups, "mean_reward", "Training convergence (mean reward)")
    flat[1].set_ylabel("mean reward")
    if any(_curves(runs, "mean_reward").shape[1] for runs in groups.values()):
        flat[1].legend(fontsize=8)
    for ax, (metric, title) in zip(flat[2:], [*_ALWAYS, *extra], strict=False):
        _draw_metric(ax, groups, metric, title)
    for ax in flat[panels:]:
        ax.set_visible(False)
    fig.suptitle(f"Training analysis: {len(collection.runs)} runs from {collection.root.resolve().name}")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())
    return path
