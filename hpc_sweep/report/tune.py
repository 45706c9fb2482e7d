"""What ``hpc-sweep tune`` shows: ``trials.csv`` (one row per trial), the terminal table, and ``tune_progress.png``.

A tune is asynchronous successive halving: each trial (one sampled configuration, several seeds) is scored at each
rung budget it reaches (IQM over its seeds of the final-window mean reward), the best 1/eta of a rung go on, and a
confirmation stage re-runs the best few with fresh seeds to the full budget. This module only formats and draws what
the tuner decided: it reads no logs and ranks trials only to choose what to show first.

Best first means: confirmed trials by their confirmed score (fresh seeds, so free of the selection bias a search score
carries), then the rest by the highest rung they have a score at and their score there. The figure is drawn on a bare
:class:`~matplotlib.figure.Figure` (no pyplot state, no backend switch) and matplotlib is imported on use, so the
table costs nothing to print. It stays readable at hundreds of trials: the trials never promoted are one thin grey
rasterised line collection, the other promoted trials one more, and only the best :data:`LEGEND_TRIALS` promoted
trials get a colour and a legend entry of their own.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rich.markup import escape
from rich.table import Table

from hpc_sweep.atomic import write_bytes_atomic, write_text_atomic

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Curves = Mapping[int, tuple[np.ndarray, np.ndarray]]

#: Promoted trials drawn in a colour of their own and named in the legend (the best ones); tab10 without grey.
LEGEND_TRIALS = 8
_PALETTE = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive")
_OTHER_PROMOTED, _NOT_PROMOTED = "tab:cyan", "0.55"
_SHARED = (_NOT_PROMOTED, _OTHER_PROMOTED)  # the colours of the two groups of :func:`_split`, in its order
#: Points per drawn curve at most: more than a panel has pixel columns, few enough that 200 trials draw in a blink.
_MAX_POINTS = 600
_STATE_STYLE = {
    "training": "cyan",
    "waiting": "yellow",
    "promoted": "green",
    "stopped": "dim",
    "failed": "red",
    "top": "bold",
}


@dataclass(frozen=True)
class TrialRow:
    """One trial as the tuner sees it; ``scores`` and ``seeds_scored`` have one entry per rung."""

    trial: int  # 0-based trial number
    params: dict[str, str]  # dimension key -> value label (short text, already formatted)
    state: str  # training | waiting | promoted | stopped | failed | top
    rung: int  # highest rung index the trial was sent to
    scores: tuple[float | None, ...]  # score at each rung, None where not scored (yet)
    seeds_scored: tuple[int, ...]  # seeds counted in each score (0 where None)
    iterations: int  # training iterations of all its runs together
    gpu_hours: float | None  # None when unknown
    confirmed_score: float | None = None  # IQM of the confirmation runs (fresh seeds, full budget)
    confirmed_ci: tuple[float, float] | None = None  # its bootstrap CI


def _check(rows: Sequence[TrialRow], rungs: Sequence[int]) -> None:
    """A row whose score list does not match the rungs would shift every column after it: refuse it here."""
    if not rungs:
        raise ValueError("a tune needs at least one rung budget")
    for row in rows:
        if len(row.scores) != len(rungs) or len(row.seeds_scored) != len(rungs):
            raise ValueError(f"trial {row.trial}: {len(row.scores)} scores for {len(rungs)} rungs {list(rungs)}")


def _score(value: float | None) -> float | None:
    """None for a missing or NaN score (both mean 'not scored')."""
    return None if value is None or value != value else float(value)


def _top_scored(row: TrialRow) -> int:
    """Index of the highest rung with a score, -1 when none."""
    return max((k for k, s in enumerate(row.scores) if _score(s) is not None), default=-1)


def _rank_key(row: TrialRow) -> tuple:
    top, confirmed = _top_scored(row), _score(row.confirmed_score)
    score = _score(row.scores[top]) if top >= 0 else None
    return (confirmed is not None, confirmed or 0.0, top, -math.inf if score is None else score, -row.trial)


def _ranked(rows: Sequence[TrialRow]) -> list[TrialRow]:
    """The rows best first (see the module docstring); ties go to the lower trial number."""
    return sorted(rows, key=_rank_key, reverse=True)


def _param_keys(rows: Sequence[TrialRow]) -> list[str]:
    return list(dict.fromkeys(key for row in rows for key in row.params))


def trials_frame(rows: Sequence[TrialRow], rungs: Sequence[int]) -> pd.DataFrame:
    """``trials.csv``: one row per trial, sorted by trial number.

    Columns: ``trial``, ``state``, ``rung_reached`` (budget of the highest rung with a score, 0 when none),
    ``rung_sent`` (budget of the highest rung the trial was sent to), one column per parameter key (its full dotted
    name), ``score_<budget>`` then ``seeds_<budget>`` per rung, ``iterations``, ``gpu_hours``, ``confirmed_score``,
    ``confirmed_ci_low``, ``confirmed_ci_high``. Missing numbers are empty (NaN).
    """
    import pandas as pd  # imported on use: pandas takes a third of a second to import

    _check(rows, rungs)
    keys = _param_keys(rows)
    records = []
    for row in sorted(rows, key=lambda r: r.trial):
        top, ci = _top_scored(row), row.confirmed_ci or (None, None)
        head = (row.trial, row.state, rungs[top] if top >= 0 else 0, rungs[min(row.rung, len(rungs) - 1)])
        tail = (row.iterations, row.gpu_hours, row.confirmed_score, *ci)
        records.append([*head, *(row.params.get(k) for k in keys), *map(_score, row.scores), *row.seeds_scored, *tail])
    scored = [f"score_{b}" for b in rungs] + ["gpu_hours", "confirmed_score", "confirmed_ci_low", "confirmed_ci_high"]
    columns = ["trial", "state", "rung_reached", "rung_sent", *keys, *scored[: len(rungs)]]
    columns += [f"seeds_{b}" for b in rungs] + ["iterations", *scored[len(rungs) :]]
    frame = pd.DataFrame(records, columns=columns)
    return frame.astype({column: "float64" for column in scored})  # None -> NaN, even in an all-empty column


def write_trials_csv(rows: Sequence[TrialRow], rungs: Sequence[int], path: Path) -> Path:
    """Write :func:`trials_frame` to ``path`` atomically (floats at full, round-trip precision)."""
    write_text_atomic(path, trials_frame(rows, rungs).to_csv(index=False))
    return path


def short_keys(keys: Sequence[str]) -> dict[str, str]:
    """Each dotted key by its last component (``agent.algorithm.learning_rate`` -> ``learning_rate``), lengthened
    from the right where two keys would read the same (``actor.hidden_dims`` next to ``critic.hidden_dims``)."""
    parts = {key: key.split(".") for key in keys}
    depth = dict.fromkeys(keys, 1)
    while True:
        names = {key: ".".join(parts[key][-depth[key] :]) for key in keys}
        clashes = [k for k in keys if list(names.values()).count(names[k]) > 1 and depth[k] < len(parts[k])]
        if not clashes:
            return names
        for key in clashes:
            depth[key] += 1


def params_text(params: Mapping[str, str], names: Mapping[str, str] | None = None) -> str:
    """``learning_rate=0.0003 entropy_coef=0.01``: a trial's parameters by their short names."""
    names = names or short_keys(list(params))
    return " ".join(f"{names.get(key, key)}={value}" for key, value in params.items())


def format_score(value: float | None) -> str:
    """A score in 3-4 significant digits (``123.5``, ``0.04213``, ``12,346``); ``·`` when there is none."""
    value = _score(value)
    if value is None:
        return "·"
    return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:#.4g}".rstrip(".")  # 26.00 beside 27.77, not 26


def tune_table(
    rows: Sequence[TrialRow], rungs: Sequence[int], title: str, best_first: bool = True, limit: int | None = 30
) -> Table:
    """The terminal table: trial, parameters, state, a score per rung (``·`` where none; ``(2/3)`` where fewer seeds
    counted than the most any score counted), the confirmed score when any, iterations and GPU hours. More than
    ``limit`` rows: the first ``limit`` are shown and a caption points to ``trials.csv`` for the rest."""
    _check(rows, rungs)
    ordered = _ranked(rows) if best_first else sorted(rows, key=lambda r: r.trial)
    shown = ordered if limit is None else ordered[:limit]
    full = max((n for row in rows for n in row.seeds_scored), default=0)
    names = short_keys(_param_keys(rows))
    confirmed = any(_score(row.confirmed_score) is not None for row in rows)
    table = Table(title=title)
    table.add_column("trial", justify="right")
    table.add_column("params", overflow="fold")
    table.add_column("state", no_wrap=True)
    for budget in rungs:
        table.add_column(f"score@{budget}", justify="right", no_wrap=True)
    if confirmed:
        table.add_column("confirmed [CI]", justify="right", no_wrap=True)
    for column in ("iters", "GPU-h"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in shown:
        cells = [str(row.trial), escape(params_text(row.params, names))]
        cells.append(f"[{_STATE_STYLE.get(row.state, 'white')}]{escape(row.state)}[/]")
        for score, seeds in zip(row.scores, row.seeds_scored, strict=True):
            partial = _score(score) is not None and seeds < full
            cells.append(format_score(score) + (f" ({seeds}/{full})" if partial else ""))
        if confirmed:
            cells.append(_confirmed_text(row))
        cells += [f"{row.iterations:,}", "·" if row.gpu_hours is None else f"{row.gpu_hours:.2f}"]
        table.add_row(*cells)
    if len(shown) < len(rows):
        table.caption = f"… {len(rows) - len(shown)} more in trials.csv"
    return table


def _confirmed_text(row: TrialRow) -> str:
    if _score(row.confirmed_score) is None:
        return "·"
    ci = f" [{format_score(row.confirmed_ci[0])}, {format_score(row.confirmed_ci[1])}]" if row.confirmed_ci else ""
    return format_score(row.confirmed_score) + ci


def trial_colours(rows: Sequence[TrialRow]) -> dict[int, str]:
    """Trial -> colour for the best :data:`LEGEND_TRIALS` trials promoted at least once (sent past rung 0)."""
    promoted = [row for row in _ranked(rows) if row.rung >= 1]
    return {row.trial: colour for row, colour in zip(promoted, _PALETTE, strict=False)}


def _thin(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The finite points of a curve as an ``(n, 2)`` array, every k-th one (and the last) beyond :data:`_MAX_POINTS`."""
    points = np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) > _MAX_POINTS:
        keep = np.unique(np.append(np.arange(0, len(points), math.ceil(len(points) / _MAX_POINTS)), len(points) - 1))
        points = points[keep]
    return points


def _alpha(count: int, most: float) -> float:
    """Opacity of one line among ``count`` alike: ``most`` for a few, down to 0.1, so many show where they crowd."""
    return min(most, max(0.1, 8.0 / max(count, 1)))


def _add_lines(ax: Axes, lines: list[np.ndarray], gid: str, **style: object) -> None:
    """Many curves as one LineCollection (one draw call), rasterised so a PDF of 200 trials stays small."""
    from matplotlib.collections import LineCollection

    lines = [line for line in lines if len(line)]
    if lines:
        ax.add_collection(LineCollection(lines, gid=gid, rasterized=True, **style), autolim=False)
        stacked = np.concatenate(lines)
        ax.update_datalim(np.array([stacked.min(axis=0), stacked.max(axis=0)]))


def _split(rows: Sequence[TrialRow], colours: dict[int, str]) -> tuple[list[TrialRow], list[TrialRow]]:
    """The trials never promoted (grey), and those promoted without a colour of their own (one shared colour)."""
    return [r for r in rows if r.rung < 1], [r for r in rows if r.rung >= 1 and r.trial not in colours]


def _rung_points(rows: Sequence[TrialRow], xs: Sequence[float]) -> np.ndarray:
    """``(n, 2)``: each scored rung of these trials at x ``xs[rung]``."""
    points = [(xs[k], s) for row in rows for k, s in enumerate(row.scores) if _score(s) is not None]
    return np.array(points, dtype=np.float64).reshape(-1, 2)


def _draw_search(
    ax: Axes, curves: Curves, rows: Sequence[TrialRow], rungs: Sequence[int], colours: dict[int, str], metric: str
) -> None:
    """Score vs iterations, one line per trial, the rung budgets as dashed lines, the rung scores as dots."""
    lines = {row.trial: _thin(*curves[row.trial]) if row.trial in curves else np.empty((0, 2)) for row in rows}
    for gid, group, colour in zip(("not-promoted", "other-promoted"), _split(rows, colours), _SHARED, strict=True):
        alpha = _alpha(len(group), 0.5)
        _add_lines(ax, [lines[r.trial] for r in group], gid, colors=colour, linewidths=0.6, alpha=alpha, zorder=1)
        ax.scatter(*_rung_points(group, rungs).T, s=7, color=colour, alpha=min(1.0, 2 * alpha), linewidths=0)
    by_trial = {row.trial: row for row in rows}
    for trial, colour in colours.items():
        ax.plot(*lines[trial].T, color=colour, linewidth=1.5, zorder=3, gid=f"trial-{trial}")
        ax.scatter(*_rung_points([by_trial[trial]], rungs).T, s=28, color=colour, edgecolors="black", zorder=4)
    failed = [(lines[r.trial][-1] if len(lines[r.trial]) else _rung_points([r], rungs)[-1:]) for r in rows
              if r.state == "failed" and (len(lines[r.trial]) or _top_scored(r) >= 0)]  # fmt: skip
    if failed:
        ax.plot(*np.vstack(failed).T, "x", color="black", markersize=7, mew=1.5, zorder=5, gid="failed")
    for budget in rungs:
        ax.axvline(budget, linestyle="--", color="0.35", linewidth=0.9, zorder=0.5, gid="rung")
    labels = [f"rung {k}\n{sum(r.rung >= k for r in rows)} sent" for k in range(len(rungs))]
    ax.secondary_xaxis("top").set_xticks(rungs, labels, fontsize=8)  # above the plot: no label crosses a curve
    ax.autoscale_view()
    ax.set_xlim(0, max(ax.get_xlim()[1], rungs[-1] * 1.03))
    ax.set_title("search: score vs iterations (per-iteration IQM over seeds)", fontsize=10)
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"score ({metric})")
    ax.grid(alpha=0.25)


def _draw_brackets(ax: Axes, rows: Sequence[TrialRow], rungs: Sequence[int], colours: dict[int, str]) -> None:
    """Score per rung: a trial's rung scores joined by a line, jittered sideways so equal scores stay apart."""
    jitter = dict(zip((r.trial for r in rows), np.random.default_rng(0).uniform(-0.15, 0.15, len(rows)), strict=True))

    def path(row: TrialRow) -> np.ndarray:
        return _rung_points([row], [k + jitter[row.trial] for k in range(len(rungs))])

    for gid, group, colour in zip(("not-promoted", "other-promoted"), _split(rows, colours), _SHARED, strict=True):
        alpha = _alpha(len(group), 0.6)
        _add_lines(ax, [path(r) for r in group], gid, colors=colour, linewidths=0.7, alpha=alpha, zorder=1)
        points = np.vstack([path(r) for r in group] or [np.empty((0, 2))])
        ax.scatter(*points.T, s=8, color=colour, alpha=min(1.0, 2 * alpha), linewidths=0, zorder=1.5)
    for row in (r for r in rows if r.trial in colours):
        ax.plot(*path(row).T, color=colours[row.trial], marker="o", markersize=4.5, mec="black", mew=0.6, zorder=3)
    ticks = [f"rung {k}\n{b:,} it\n{sum(r.rung >= k for r in rows)} sent" for k, b in enumerate(rungs)]
    ax.set_xticks(range(len(rungs)), ticks, fontsize=8)
    ax.set_xlim(-0.5, len(rungs) - 0.5)
    ax.set_title("score at each rung", fontsize=10)
    ax.grid(alpha=0.25, axis="y")


def _draw_confirmation(
    ax: Axes, confirmed: Curves, rows: Sequence[TrialRow], rungs: Sequence[int], colours: dict[int, str]
) -> None:
    """The confirmation runs' curves, and right of them each confirmed score with its CI beside the trial's last
    search score (hollow): the gap between the two is the optimism that picking the best search scores builds in."""
    chosen = [row for row in _ranked(rows) if row.trial in confirmed or _score(row.confirmed_score) is not None]
    lines = {row.trial: _thin(*confirmed[row.trial]) if row.trial in confirmed else np.empty((0, 2)) for row in chosen}
    end = max([rungs[-1], *(line[-1, 0] for line in lines.values() if len(line))])
    step = end * 0.07  # per trial right of the curves: its search score, then its confirmed score
    for k, row in enumerate(chosen):
        colour, x, top = colours.get(row.trial, _OTHER_PROMOTED), end + step * (k + 0.6), _top_scored(row)
        if len(lines[row.trial]):
            ax.plot(*lines[row.trial].T, color=colour, linewidth=1.3, zorder=3)
        if top >= 0:
            ax.scatter(x - step * 0.2, row.scores[top], s=30, facecolors="none", edgecolors=colour, marker="D")
        if (score := _score(row.confirmed_score)) is not None:
            low, high = row.confirmed_ci or (score, score)
            ax.errorbar(x + step * 0.2, score, [[score - low], [high - score]], fmt="s", color=colour, capsize=3,
                        markersize=5, mec="black", mew=0.6, zorder=5, gid=f"confirmed-{row.trial}")  # fmt: skip
    ax.axvline(end, linestyle="--", color="0.35", linewidth=0.9, zorder=0.5)
    ax.set_xlim(0, end + step * (len(chosen) + 0.2))
    ax.set_xticks([t for t in ax.get_xticks() if 0 <= t <= end])  # the scores right of the line are not iterations
    ax.set_title(f"confirmation: best {len(chosen)}, fresh seeds, {end:,.0f} it", fontsize=10)
    ax.set_xlabel("iteration (scores right of the dashed line)")
    ax.grid(alpha=0.25)


def _legend_handles(rows: Sequence[TrialRow], colours: dict[int, str], confirmed: bool) -> list[Artist]:
    """The figure's key: the coloured trials by number and parameters, then what grey, cyan, dots and crosses mean."""
    from matplotlib.lines import Line2D

    by_trial, names = {row.trial: row for row in rows}, short_keys(_param_keys(rows))
    grey, others = _split(rows, colours)
    marks = [("0.3", "o", "score at a rung", True)]
    marks += [("black", "x", "failed", any(row.state == "failed" for row in rows))]
    marks += [
        ("0.3", "s", "confirmed IQM (bar: bootstrap CI)", confirmed),
        ("0.3", "D", "last search score", confirmed),
    ]
    return [
        *(Line2D([], [], color=c, linewidth=2, label=f"#{t}  {params_text(by_trial[t].params, names)}")
          for t, c in colours.items()),
        *([Line2D([], [], color=_OTHER_PROMOTED, label=f"{len(others)} more promoted (trials.csv)")] if others else []),
        Line2D([], [], color=_NOT_PROMOTED, label=f"{len(grey)} not promoted"),
        *(Line2D([], [], color=c, marker=m, mfc="none" if m == "D" else c, mec=c if m in "Dx" else "black",
                 linestyle="none", label=text)
          for c, m, text, shown in marks if shown),
    ]  # fmt: skip


def tune_progress_figure(
    curves: Curves,
    rows: Sequence[TrialRow],
    rungs: Sequence[int],
    metric: str = "mean reward",
    confirmed: Curves | None = None,
) -> Figure:
    """The progress figure, open: search curves (left) and the confirmation, or the score per rung (right).

    Args:
        curves: trial -> (iterations, per-iteration IQM over the trial's seeds) of its search runs.
        rows: every trial; ``rungs``: the rung budgets in iterations, ascending.
        confirmed: trial -> (iterations, IQM curve) of its confirmation runs, when the confirmation stage has run.
    """
    from matplotlib.figure import Figure

    _check(rows, rungs)
    colours = trial_colours(rows)
    fig = Figure(figsize=(15, 7.4), layout="constrained")
    search, side = fig.subplots(1, 2, width_ratios=[2.1, 1], sharey=True)
    _draw_search(search, curves, rows, rungs, colours, metric)
    if confirmed:
        _draw_confirmation(side, confirmed, rows, rungs, colours)
    else:
        _draw_brackets(side, rows, rungs, colours)
    side.tick_params(labelleft=True)
    fig.legend(handles=_legend_handles(rows, colours, bool(confirmed)), loc="outside lower center", ncols=3,
               fontsize=8, frameon=False)  # fmt: skip
    budgets = "/".join(f"{b:,}" for b in rungs)
    counts = f"{len(rows)} trial{'s' * (len(rows) != 1)}, {len(rungs)} rung{'s' * (len(rungs) != 1)}"
    fig.suptitle(f"Tuning progress: {counts} ({budgets} it); score = IQM over seeds of the final-window {metric}")
    return fig


def draw_tune_progress(
    curves: Curves,
    rows: Sequence[TrialRow],
    rungs: Sequence[int],
    path: Path,
    metric: str = "mean reward",
    confirmed: Curves | None = None,
) -> Path:
    """Draw :func:`tune_progress_figure` and write it to ``path`` as a PNG atomically (temp file + rename)."""
    buffer = io.BytesIO()
    tune_progress_figure(curves, rows, rungs, metric, confirmed).savefig(buffer, format="png", dpi=110)
    write_bytes_atomic(path, buffer.getvalue())
    return path
