"""``training_analysis.png``: the seed script's panels, each filled when its data exists.

Panels: each run's final score (the ``final_score`` of ``summary.csv``: mean reward over the last 10% of its
iterations) with one mean line per group (the ``mean`` of ``groups.csv``), reward curves, then entropy, surrogate
loss, value-function loss, learning rate, and noise std / mirror symmetry / episode length when any run logged them.
Each curve panel shows every run (thin) and each group's mean (thick), with a ±1 std band where at least
:data:`~hpc_sweep.analyse.curves.MIN_BAND_RUNS` runs have a point. One key above the panels names the groups by
colour and says what the band and the mean lines are. Iterations are whole numbers; an env-steps axis is added on
top when every run's params say how many environment steps an iteration collects.

Plotting only draws: the curves, bands, scores and env steps come from :mod:`hpc_sweep.analyse`.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import EngFormatter, MaxNLocator

from hpc_sweep.analyse.curves import MIN_BAND_RUNS, STD_BAND, CurveBand, require_runs, run_series, std_band
from hpc_sweep.analyse.env_steps import common_steps_per_iteration
from hpc_sweep.analyse.results import FinalScores, final_scores, runs_by_group
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
#: Above this many bars, the bar values are not printed (they would overlap); the y axis still reads them.
_MAX_LABELLED_BARS = 24


def group_colours(names: Sequence[str]) -> dict[str, str]:
    """One colour per group, in order, from matplotlib's default cycle: the same group, the same colour, everywhere."""
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {name: cycle[index % len(cycle)] for index, name in enumerate(names)}


def wrapped(text: str, width: int = 36) -> str:
    """A label broken into lines of at most ``width`` characters (group names are long: ``a.b.c=0.001``)."""
    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False)) or text


def iteration_axis(ax: Axes, steps_per_iteration: int | None = None) -> None:
    """Whole-number iteration ticks; an env-steps axis on top when one iteration's env steps are known."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("iteration")
    if steps_per_iteration:
        k = float(steps_per_iteration)
        top = ax.secondary_xaxis("top", functions=(lambda it: it * k, lambda steps: steps / k))
        top.xaxis.set_major_formatter(EngFormatter(sep=""))
        top.set_xlabel("env steps", fontsize=8)
        top.tick_params(labelsize=7)


def figure_key(fig: Figure, title: str, handles: list[Artist]) -> None:
    """The figure's title and its one key, above the panels (a legend's title: a suptitle and a legend placed outside
    the panels would overlap under constrained layout)."""
    fig.legend(
        handles=handles, loc="outside upper center", ncols=min(3, len(handles)), fontsize=9, frameon=False,
        title=title, title_fontsize=13,
    )  # fmt: skip


def figure_png(fig: Figure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


def _draw_metric(
    ax: Axes, bands: dict[str, CurveBand | None], colours: dict[str, str], title: str, steps_per_iteration: int | None
) -> bool:
    """Each group's runs (thin), its mean (thick) and its band where defined; True when anything was drawn."""
    drawn = False
    for group, band in bands.items():
        if band is None:
            continue
        colour = colours[group]
        for curve in band.curves:
            ax.plot(band.steps, curve, color=colour, alpha=0.3, linewidth=0.7)
        ax.plot(band.steps, band.centre, color=colour, linewidth=2)
        if band.has_band:
            ax.fill_between(band.steps, band.low, band.high, color=colour, alpha=0.2, linewidth=0)
        drawn = True
    ax.set_title(title)
    if drawn:
        ax.grid(alpha=0.3)
        iteration_axis(ax, steps_per_iteration)
    else:
        ax.text(0.5, 0.5, "not logged by these runs", ha="center", va="center", transform=ax.transAxes, color="grey")
        ax.set_xticks([])
        ax.set_yticks([])
    return drawn


def _draw_final_scores(ax: Axes, scores: FinalScores, colours: dict[str, str]) -> None:
    """One bar per run, clustered by group (seed under each bar), each group's mean as a black dashed line over
    its cluster; runs left out of the group statistics hatched."""
    ax.set_title("Final score by run: mean reward, last 10% of iterations", fontsize=10)
    if not scores.values.size:
        ax.text(0.5, 0.5, "no reward data", ha="center", va="center", transform=ax.transAxes, color="grey")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    positions, cluster, previous = [], {}, None
    for group in scores.groups:
        x = 0.0 if previous is None else positions[-1] + (1.0 if group == previous else 1.8)
        positions.append(x)
        cluster.setdefault(group, []).append(x)
        previous = group
    bars = ax.bar(
        positions,
        scores.values,
        color=[colours[g] for g in scores.groups],
        hatch=[None if counted else "//" for counted in scores.counted],
        alpha=0.85,
        edgecolor="white",
    )
    if len(bars) <= _MAX_LABELLED_BARS:
        many = len(bars) > 8
        behind = {"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 0.5}  # over the mean lines
        ax.bar_label(bars, fmt="%.2f", fontsize=7, rotation=90 if many else 0, padding=2, bbox=behind)
    for group, xs in cluster.items():
        mean = scores.group_means[group]
        if np.isfinite(mean):
            ax.hlines(mean, min(xs) - 0.45, max(xs) + 0.45, colors="black", linestyles="--", linewidth=1.2)
    ax.set_xticks(positions, [str(seed) for seed in scores.seeds], fontsize=8)
    pad = max(0.9, (6.0 - (positions[-1] - positions[0])) / 2)  # a lone bar stays a bar, not the whole panel
    ax.set_xlim(positions[0] - pad, positions[-1] + pad)
    ax.set_xlabel("seed")
    ax.set_ylabel("final score (mean reward)")
    ax.margins(y=0.12)
    ax.grid(alpha=0.3, axis="y")


def _bands(groups: dict[str, list[RunData]], metric: str) -> dict[str, CurveBand | None]:
    bands = {group: std_band(run_series(runs, metric)) for group, runs in groups.items()}
    return {group: None if band is None else require_runs(band, MIN_BAND_RUNS) for group, band in bands.items()}


def _key(groups: dict[str, list[RunData]], colours: dict[str, str], scores: FinalScores, banded: bool) -> list[Artist]:
    """The figure's one key: each group's colour and run count, then what the band, mean lines and hatching mean."""
    handles: list[Artist] = [
        Line2D([], [], color=colours[name], linewidth=3, label=f"{name} (n={len(runs)})")
        for name, runs in groups.items()
    ]
    band_text = f"band: {STD_BAND}" if banded else f"no band: fewer than {MIN_BAND_RUNS} runs per group"
    handles.append(Patch(facecolor="lightgrey", edgecolor="none", label=band_text))
    handles.append(Line2D([], [], color="black", linestyle="--", label="group mean of final scores"))
    if not scores.counted.all():
        handles.append(Patch(facecolor="white", edgecolor="grey", hatch="//", label="not in group statistics"))
    return handles


def training_analysis_figure(collection: Collection) -> Figure:
    """Draw the analysis figure (see the module docstring) and return it, open."""
    groups = runs_by_group(collection.runs)
    colours = group_colours(list(groups))
    extra = [(m, t) for m, t in _WHEN_PRESENT if any(run.metric(m) is not None for run in collection.runs)]
    panels = 2 + len(_ALWAYS) + len(extra)
    ncols = 3
    nrows = math.ceil(panels / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(6 * ncols, 4.2 * nrows + 0.4 * math.ceil(len(groups) / 2)), squeeze=False,
        layout="constrained",
    )  # fmt: skip
    flat = list(axes.flat)
    per_iteration = common_steps_per_iteration(collection.runs)
    scores = final_scores(groups)
    _draw_final_scores(flat[0], scores, colours)
    rewards = _bands(groups, "mean_reward")
    _draw_metric(flat[1], rewards, colours, "Training convergence (mean reward)", per_iteration)
    flat[1].set_ylabel("mean reward")
    banded = any(band is not None and band.has_band for band in rewards.values())
    for ax, (metric, title) in zip(flat[2:], [*_ALWAYS, *extra], strict=False):
        bands = _bands(groups, metric)
        banded |= any(band is not None and band.has_band for band in bands.values())
        _draw_metric(ax, bands, colours, title, per_iteration)
    for ax in flat[panels:]:
        ax.set_visible(False)
    count = len(collection.runs)
    title = f"Training analysis: {count} run{'' if count == 1 else 's'} from {collection.root.resolve().name}"
    figure_key(fig, title, _key(groups, colours, scores, banded))
    return fig


def plot_training_analysis(collection: Collection, path: Path) -> Path:
    """Draw the analysis figure and write it atomically to ``path``."""
    write_bytes_atomic(path, figure_png(training_analysis_figure(collection)))
    return path
