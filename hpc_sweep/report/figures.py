"""``training_analysis.png``: the seed script's panels, each filled when its data exists.

Panels: final reward by seed, reward curves (mean and a ±1 std band across seeds per group, each run thin), then
entropy, surrogate loss, value-function loss, learning rate, and noise std / mirror symmetry / episode length when
any run logged them. Plotting only draws: the curves, bands and final values come from :mod:`hpc_sweep.analyse`.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from hpc_sweep.analyse.curves import CurveBand, run_series, std_band
from hpc_sweep.analyse.results import FinalValues, final_values, runs_by_group
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


def _draw_metric(ax: plt.Axes, bands: dict[str, CurveBand | None], title: str) -> bool:
    """Each group's runs (thin) and its mean ± 1 std band; True when anything was drawn."""
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    drawn = False
    for index, (group, band) in enumerate(bands.items()):
        if band is None:
            continue
        colour = colours[index % len(colours)]
        for curve in band.curves:
            ax.plot(band.steps, curve, color=colour, alpha=0.25, linewidth=0.8)
        ax.plot(band.steps, band.centre, color=colour, linewidth=2, label=f"{group} (n={band.num_runs})")
        ax.fill_between(band.steps, band.low, band.high, color=colour, alpha=0.2)
        drawn = True
    ax.set_title(title)
    ax.set_xlabel("iteration")
    if drawn:
        ax.grid(alpha=0.3)
    else:
        ax.text(0.5, 0.5, "not logged by these runs", ha="center", va="center", transform=ax.transAxes, color="grey")
        ax.set_xticks([])
        ax.set_yticks([])
    return drawn


def _draw_final_by_seed(ax: plt.Axes, finals: FinalValues, group_order: list[str]) -> None:
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ax.set_title("Final reward by seed")
    if not finals.values.size:
        ax.text(0.5, 0.5, "no reward data", ha="center", va="center", transform=ax.transAxes, color="grey")
        return
    single = len(group_order) == 1
    labels = [
        f"{seed}" if single else f"{group}\nseed {seed}"
        for group, seed in zip(finals.groups, finals.seeds, strict=True)
    ]
    bar_colours = [colours[group_order.index(group) % len(colours)] for group in finals.groups]
    positions = np.arange(finals.values.size)
    bars = ax.bar(positions, finals.values, color=bar_colours)
    ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.axhline(finals.mean, color="black", linestyle="--", linewidth=1, label="mean")
    ax.set_xticks(positions, labels, rotation=45 if len(labels) > 6 else 0, fontsize=8)
    ax.set_xlabel("seed")
    ax.set_ylabel("final mean reward")
    ax.legend(fontsize=8)


def _bands(groups: dict[str, list[RunData]], metric: str) -> dict[str, CurveBand | None]:
    return {group: std_band(run_series(runs, metric)) for group, runs in groups.items()}


def plot_training_analysis(collection: Collection, path: Path) -> Path:
    """Draw the analysis figure and write it atomically to ``path``."""
    groups = runs_by_group(collection.runs)
    extra = [(m, t) for m, t in _WHEN_PRESENT if any(run.metric(m) is not None for run in collection.runs)]
    panels = 2 + len(_ALWAYS) + len(extra)
    ncols = 3
    nrows = math.ceil(panels / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6 * ncols, 4.2 * nrows), squeeze=False)
    flat = list(axes.flat)
    _draw_final_by_seed(flat[0], final_values(groups, "mean_reward"), list(groups))
    if _draw_metric(flat[1], _bands(groups, "mean_reward"), "Training convergence (mean reward)"):
        flat[1].legend(fontsize=8)
    flat[1].set_ylabel("mean reward")
    for ax, (metric, title) in zip(flat[2:], [*_ALWAYS, *extra], strict=False):
        _draw_metric(ax, _bands(groups, metric), title)
    for ax in flat[panels:]:
        ax.set_visible(False)
    fig.suptitle(f"Training analysis: {len(collection.runs)} runs from {collection.root.resolve().name}")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())
    return path
