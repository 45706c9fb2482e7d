"""``training_analysis.png``: the seed script's panels, each filled when its data exists, drawn from run summaries.

Panels: each run's final score (the ``final_score`` of ``summary.csv``: mean reward over the last 10% of its
iterations) with one mean line per group (the ``mean`` of ``groups.csv``), reward curves, then entropy, surrogate
loss, value-function loss, learning rate, and noise std / mirror symmetry / episode length when any run logged them.
Each curve panel shows every run (thin) and each group's mean (thick), with a ±1 std band where at least
:data:`~hpc_sweep.analyse.curves.MIN_BAND_RUNS` runs have a point. One key above the panels names the groups by
colour and says what the band and the mean lines are. Iterations are whole numbers; an env-steps axis is added on
top when every run says how many environment steps an iteration collects, and they all agree.

Built for sweeps of a thousand runs: the figure reads only :class:`~hpc_sweep.analyse.run_summary.RunSummary`
objects, whose curves are digests (:mod:`hpc_sweep.analyse.digest`), and draws each panel on about
:data:`_LINE_BINS` bins (two per pixel column; runs shorter than that are drawn point for point, and their band is
exactly :func:`~hpc_sweep.analyse.curves.std_band`). The band is the spread across runs of their bin means. Each
run's line passes through every bin's min and max, so spikes stay visible, until more than :data:`_MAX_EXTREME_RUNS`
runs share a panel: then it goes through its bin means on fewer bins, and fainter, since a hundred overlaid lines
show where the runs lie, not one run's spike, and drawing time grows with their points. A group's runs are one
``LineCollection`` per panel (one draw call, not one per run); every group's runs are drawn before any band, and the
means last, so none is hidden. Above :data:`_MAX_BARS` runs one bar per run is unreadable, so the final-score panel
becomes a strip plot: one column of jittered dots per group, named by what differs between the group names.

Plotting only draws: the bands and digests come from :mod:`hpc_sweep.analyse`.
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
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import EngFormatter, MaxNLocator

from hpc_sweep.analyse.curves import MIN_BAND_RUNS, STD_BAND, require_runs
from hpc_sweep.analyse.digest import FIGURE_BINS, CurveDigest, DigestStack, bin_width_for
from hpc_sweep.analyse.run_summary import FinalScores, RunSummary, final_scores
from hpc_sweep.atomic import write_bytes_atomic

_REWARD = ("mean_reward", "Training convergence (mean reward)")
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
#: Above this many runs, the final-score panel is a strip plot per group instead of one bar per run.
_MAX_BARS = 60
#: Bins across a curve panel (its band, and its run lines while few runs share it).
_LINE_BINS = FIGURE_BINS
#: Above this many runs in a panel, each run's line goes through its bin means on fewer bins (see
#: :func:`~hpc_sweep.analyse.digest.polylines`): about :data:`_PANEL_POINTS` points in all, at least
#: :data:`_MIN_LINE_BINS` per run. Drawing time grows with the points (about 1 s per million), and a thousand overlaid
#: lines show where the runs lie, not one run's spikes.
_MAX_EXTREME_RUNS = 100
_PANEL_POINTS = 100_000
_MIN_LINE_BINS = 48


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
    """The figure as PNG bytes; the figure is closed.

    Drawn once, by the Agg canvas: ``savefig`` first lays a figure with a layout engine out in a pass of its own and
    then draws it, which gives the same pixels here and costs a fifth of the time of a thousand-run figure. PNG
    compression level 1 instead of 6: about three times faster to encode, 5% larger.
    """
    buffer = io.BytesIO()
    fig.set_dpi(dpi)
    FigureCanvasAgg(fig).print_png(buffer, pil_kwargs={"compress_level": 1})
    plt.close(fig)
    return buffer.getvalue()


def training_analysis_title(count: int, root: Path | str) -> str:
    """The figure's title: ``Training analysis: 12 runs from <root's name>``."""
    return f"Training analysis: {count} run{'' if count == 1 else 's'} from {Path(root).resolve().name}"


def _by_group(summaries: Sequence[RunSummary]) -> dict[str, list[RunSummary]]:
    groups: dict[str, list[RunSummary]] = {}
    for summary in summaries:
        groups.setdefault(summary.group, []).append(summary)
    return groups


def _common_steps_per_iteration(summaries: Sequence[RunSummary]) -> int | None:
    """The env steps per iteration every run shares, or None when one does not say or two differ (an env-steps axis
    would then be wrong for some curve)."""
    values = {s.steps_per_iteration for s in summaries}
    return values.pop() if len(values) == 1 and None not in values else None


def _finite_limits(lines: list[np.ndarray]) -> np.ndarray | None:
    """``[[xmin, ymin], [xmax, ymax]]`` of the finite points of ``lines``; None when none is finite."""
    points = np.concatenate(lines) if lines else np.empty((0, 2))
    points = points[np.isfinite(points).all(axis=1)]
    return np.array([points.min(axis=0), points.max(axis=0)]) if points.size else None


def _run_alpha(runs: int) -> float:
    """Opacity of one run's line: 0.3 for a few runs, less for many, so a hundred overlaid runs show where most of
    them lie instead of one solid patch."""
    return min(0.3, max(0.05, 3.0 / max(runs, 1)))


def _draw_metric(
    ax: Axes, curves: dict[str, list[CurveDigest]], colours: dict[str, str], title: str, per_iteration: int | None
) -> bool:
    """Every group's runs (thin, one collection per group), then the bands where defined, then the means (thick), so
    no group's runs hide another's mean; True when a band is shaded. A panel without any point says so."""
    spans = [(int(d.bin[0]) * d.width, int(d.bin[-1] + 1) * d.width - 1) for ds in curves.values() for d in ds]
    ax.set_title(title)
    if not spans:
        ax.text(0.5, 0.5, "not logged by these runs", ha="center", va="center", transform=ax.transAxes, color="grey")
        ax.set_xticks([])
        ax.set_yticks([])
        return False
    span = max(last for _, last in spans) - min(first for first, _ in spans)
    stacks = {group: DigestStack.of(digests, bin_width_for(span, _LINE_BINS)) for group, digests in curves.items()}
    extremes = len(spans) <= _MAX_EXTREME_RUNS
    line_width = bin_width_for(span, _LINE_BINS if extremes else max(_MIN_LINE_BINS, _PANEL_POINTS // len(spans)))
    for group, stack in stacks.items():
        lines = stack.rebin(max(line_width, stack.width)).lines(extremes)
        collection = LineCollection(lines, colors=colours[group], alpha=_run_alpha(len(lines)), linewidths=0.7)
        ax.add_collection(collection, autolim=False)
        if (limits := _finite_limits(lines)) is not None:
            ax.update_datalim(limits)
    bands = {group: stack.band() for group, stack in stacks.items()}
    bands = {group: require_runs(band, MIN_BAND_RUNS) for group, band in bands.items() if band is not None}
    for group, band in bands.items():
        if band.has_band:
            ax.fill_between(band.steps, band.low, band.high, color=colours[group], alpha=0.2, linewidth=0, zorder=1.5)
    for group, band in bands.items():
        ax.plot(band.steps, band.centre, color=colours[group], linewidth=2, zorder=2.5)
    ax.autoscale_view()
    ax.grid(alpha=0.3)
    iteration_axis(ax, per_iteration)
    return any(band.has_band for band in bands.values())


def _no_scores(ax: Axes) -> None:
    ax.text(0.5, 0.5, "no reward data", ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_score_bars(ax: Axes, scores: FinalScores, colours: dict[str, str]) -> None:
    """One bar per run, clustered by group (seed under each bar), each group's mean as a black dashed line over
    its cluster; runs left out of the group statistics hatched."""
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


def _draw_score_strips(ax: Axes, scores: FinalScores, colours: dict[str, str]) -> None:
    """One column of dots per group (jittered sideways, so equal scores stay apart), hollow where the run is left out
    of the group statistics, each group's mean as a black dashed line across its column."""
    names = list(dict.fromkeys(scores.groups))
    column = {name: index for index, name in enumerate(names)}
    x = np.array([column[g] for g in scores.groups], dtype=np.float64)
    x += np.random.default_rng(0).uniform(-0.3, 0.3, x.size)
    counted = scores.counted
    size = 14 if x.size <= 300 else 8
    for name in names:
        mine = np.array([g == name for g in scores.groups])
        for keep, face in ((mine & counted, colours[name]), (mine & ~counted, "none")):
            if keep.any():
                ax.scatter(x[keep], scores.values[keep], s=size, facecolors=face, edgecolors=colours[name],
                           linewidths=0.6, alpha=0.7)  # fmt: skip
        mean = scores.group_means[name]
        if np.isfinite(mean):
            index = column[name]
            ax.hlines(mean, index - 0.42, index + 0.42, colors="black", linestyles="--", linewidth=1.5, zorder=3)
    prefix = _shared_prefix(names)
    labels = [name[len(prefix) :] for name in names]
    slot = max(6, 80 // len(names))  # characters of 7-point text under one column of a 6-inch panel
    rotate = max(len(label) for label in labels) > 2 * slot
    ax.set_xticks(
        range(len(names)), [wrapped(label, 24 if rotate else slot) for label in labels], fontsize=7,
        rotation=30 if rotate else 0, ha="right" if rotate else "center",
    )  # fmt: skip
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_xlabel(f"group: {wrapped(prefix, 60)}…" if prefix else "group")


def _shared_prefix(names: list[str]) -> str:
    """The start every group name shares, up to its last separator (``agent.algorithm.learning_rate=``): said once
    under the strip plot, so the columns show what differs. Empty for one group or none shared."""
    if len(names) < 2:
        return ""
    first, last = min(names), max(names)  # the sorted extremes share what all share
    size = min(len(first), len(last))
    prefix = first[: next((i for i in range(size) if first[i] != last[i]), size)]
    cut = max(prefix.rfind(separator) for separator in "=,:/ _-") + 1
    if cut >= 2 and prefix[cut - 1] == "-" and prefix[cut - 2] == "=":  # keep a negative number's sign
        cut -= 1
    return prefix[:cut] if all(len(name) > cut for name in names) else ""


def _draw_final_scores(ax: Axes, scores: FinalScores, colours: dict[str, str], strips: bool) -> None:
    ax.set_title("Final score by run: mean reward, last 10% of iterations", fontsize=10)
    if not scores.values.size:
        _no_scores(ax)
        return
    (_draw_score_strips if strips else _draw_score_bars)(ax, scores, colours)
    ax.set_ylabel("final score (mean reward)")
    ax.margins(y=0.12)
    ax.grid(alpha=0.3, axis="y")


def _key(
    groups: dict[str, list[RunSummary]], colours: dict[str, str], scores: FinalScores, banded: bool, strips: bool
) -> list[Artist]:
    """The figure's one key: each group's colour and run count, then what the band, mean lines and hatching mean."""
    handles: list[Artist] = [
        Line2D([], [], color=colours[name], linewidth=3, label=f"{name} (n={len(runs)})")
        for name, runs in groups.items()
    ]
    band_text = f"band: {STD_BAND}" if banded else f"no band: fewer than {MIN_BAND_RUNS} runs per group"
    handles.append(Patch(facecolor="lightgrey", edgecolor="none", label=band_text))
    handles.append(Line2D([], [], color="black", linestyle="--", label="group mean of final scores"))
    if not scores.counted.all():
        label = "not in group statistics"
        hollow = Line2D([], [], marker="o", linestyle="none", markerfacecolor="none", markeredgecolor="grey")
        handles.append(hollow if strips else Patch(facecolor="white", edgecolor="grey", hatch="//"))
        handles[-1].set_label(label)
    return handles


def training_analysis_figure(summaries: Sequence[RunSummary], title: str) -> Figure:
    """Draw the analysis figure (see the module docstring) of these runs and return it, open.

    Args:
        summaries: one per run; groups are drawn in the order they first appear.
        title: the figure's title (:func:`training_analysis_title` gives the usual one).
    """
    groups = _by_group(summaries)
    colours = group_colours(list(groups))
    extra = [(m, t) for m, t in _WHEN_PRESENT if any(s.curves.get(m) is not None for s in summaries)]
    panels = 2 + len(_ALWAYS) + len(extra)
    ncols = 3
    nrows = math.ceil(panels / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(6 * ncols, 4.2 * nrows + 0.4 * math.ceil(len(groups) / 2)), squeeze=False,
        layout="constrained",
    )  # fmt: skip
    flat = list(axes.flat)
    per_iteration = _common_steps_per_iteration(summaries)
    scores = final_scores(summaries)
    strips = len(summaries) > _MAX_BARS
    _draw_final_scores(flat[0], scores, colours, strips)
    banded = False
    for ax, (metric, panel_title) in zip(flat[1:], [_REWARD, *_ALWAYS, *extra], strict=False):
        curves = {
            name: [s.curves[metric] for s in runs if metric in s.curves and s.curves[metric].num_bins]
            for name, runs in groups.items()
        }
        banded |= _draw_metric(ax, curves, colours, panel_title, per_iteration)
    flat[1].set_ylabel("mean reward")
    for ax in flat[panels:]:
        ax.set_visible(False)
    figure_key(fig, title, _key(groups, colours, scores, banded, strips))
    return fig


def plot_training_analysis(summaries: Sequence[RunSummary], path: Path, title: str) -> Path:
    """Draw the analysis figure and write it atomically to ``path``."""
    write_bytes_atomic(path, figure_png(training_analysis_figure(summaries, title)))
    return path
