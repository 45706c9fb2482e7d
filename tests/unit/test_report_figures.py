"""What the two figures show, checked on the matplotlib figures themselves (runs built in memory): the training
analysis, drawn from run summaries and their curve digests, renders without a warning for 1 to 6 groups of 1 to 5
runs and for 300; a band is shaded only for groups of at least 3 runs and the key says what it is; each group's runs
are one line collection; iteration ticks are whole numbers; an env-steps axis appears when every run gives the same
steps per iteration; optional panels appear when a run logged them; the bars are the final scores of ``summary.csv``
with one mean line per group over its counted runs, and beyond 60 runs they become one strip of dots per group. The
comparison figure: P(A > B) is printed on its bar, at 0 too; marker keys are black."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import FillBetweenPolyCollection, LineCollection, PathCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from hpc_sweep.analyse.compare import compare, form_groups
from hpc_sweep.analyse.curves import MIN_BAND_RUNS
from hpc_sweep.analyse.digest import digest_curve
from hpc_sweep.analyse.run_summary import RunSummary
from hpc_sweep.analyse.summary import final_score
from hpc_sweep.collect.discover import RunSource
from hpc_sweep.collect.results import Collection, RunData
from hpc_sweep.report.comparison import comparison_figure, write_comparison
from hpc_sweep.report.figures import plot_training_analysis, training_analysis_figure, training_analysis_title

ITERATIONS = 30
LR = "agent.algorithm.learning_rate"


def make_run(
    run_id: str, seed: int, group: str, level: float, log_dir: Path | None = None, point: dict | None = None
) -> RunData:
    """A run whose mean reward rises from ``level`` over :data:`ITERATIONS` iterations, with the losses logged too."""
    rng = np.random.default_rng(seed)
    steps = np.arange(ITERATIONS, dtype=np.int64)
    reward = level + np.log1p(steps) + rng.normal(0.0, 0.1, ITERATIONS)
    wall = np.zeros(ITERATIONS)
    scalars = {
        "Train/mean_reward": (steps, reward, wall),
        "Loss/entropy": (steps, 3.0 - 0.05 * steps + rng.normal(0.0, 0.05, ITERATIONS), wall),
        "Loss/surrogate": (steps, rng.normal(-0.01, 0.003, ITERATIONS), wall),
        "Loss/value_function": (steps, np.exp(-steps / 10.0), wall),
        "Loss/learning_rate": (steps, np.full(ITERATIONS, 1e-3), wall),
    }
    source = RunSource(
        run_id=run_id,
        seed=seed,
        group=group,
        status="completed",
        log_dirs=[log_dir] if log_dir else [],
        info={"point": point or {}},
    )
    return RunData(source=source, scalars=scalars, data_source="tensorboard")


def make_collection(runs_per_group: list[int]) -> Collection:
    """One group per grid point ``agent.algorithm.learning_rate=0.000<k+1>`` (long names, as real grids give), with
    the given run counts; group ``k`` sits ``k`` above group 0."""
    runs = [
        make_run(f"{k}_{seed}", seed, f"study_lr-0.000{k + 1}", float(k), point={LR: f"0.000{k + 1}"})
        for k, count in enumerate(runs_per_group)
        for seed in range(1, count + 1)
    ]
    return Collection(Path("/sweeps/figure_test"), runs, [])


def curves_of(seed: int, level: float, iterations: int = ITERATIONS) -> dict[str, np.ndarray]:
    """The figure metrics of a run, as :func:`make_run` logs them."""
    rng = np.random.default_rng(seed)
    steps = np.arange(iterations)
    return {
        "mean_reward": level + np.log1p(steps) + rng.normal(0.0, 0.1, iterations),
        "entropy": 3.0 - 0.05 * steps + rng.normal(0.0, 0.05, iterations),
        "surrogate": rng.normal(-0.01, 0.003, iterations),
        "value_function": np.exp(-steps / 10.0),
        "learning_rate": np.full(iterations, 1e-3),
    }


def make_summary(
    run_id: str, seed: int, group: str, level: float, status: str = "completed", iterations: int = ITERATIONS,
    steps_per_iteration: int | None = None, metrics: dict[str, np.ndarray] | None = None,
) -> RunSummary:  # fmt: skip
    """What collection keeps of a run: its final score and the digests of its figure metrics."""
    metrics = metrics if metrics is not None else curves_of(seed, level, iterations)
    steps = np.arange(iterations, dtype=np.int64)
    reward = metrics.get("mean_reward")
    score = final_score(reward) if reward is not None else float("nan")
    return RunSummary(
        run_id=run_id, seed=seed, group=group, status=status, counted=status == "completed" and np.isfinite(score),
        final_score=score, steps_per_iteration=steps_per_iteration, record={},
        curves={name: digest_curve(steps, values) for name, values in metrics.items()},
    )  # fmt: skip


def make_summaries(runs_per_group: list[int], iterations: int = ITERATIONS) -> list[RunSummary]:
    """As :func:`make_collection`, as summaries."""
    return [
        make_summary(f"{k}_{seed}", seed, f"study_lr-0.000{k + 1}", float(k), iterations=iterations)
        for k, count in enumerate(runs_per_group)
        for seed in range(1, count + 1)
    ]


def draw(summaries: list[RunSummary]) -> Figure:
    """The training analysis of ``summaries``, laid out, with any warning an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = training_analysis_figure(summaries, training_analysis_title(len(summaries), "/sweeps/figure_test"))
        fig.canvas.draw()  # layout and every text placed: warnings surface here
    return fig


def mean_lines(ax: plt.Axes) -> list[tuple[float, float, float]]:
    """The dashed black group-mean lines of the final-score panel: ``(y, x_from, x_to)`` each."""
    found = []
    for collection in ax.collections:
        if isinstance(collection, LineCollection) and collection.get_linestyle()[0][1] is not None:
            ((start, end),) = collection.get_segments()
            found.append((start[1], start[0], end[0]))
    return found


def panels(fig: Figure) -> dict[str, plt.Axes]:
    return {ax.get_title(): ax for ax in fig.axes if ax.get_visible() and ax.get_title()}


def shaded(ax: plt.Axes) -> int:
    """The bands drawn on an axes (``fill_between`` areas)."""
    return sum(isinstance(c, (FillBetweenPolyCollection, PolyCollection)) for c in ax.collections)


def key_labels(fig: Figure) -> list[str]:
    return [text.get_text() for legend in fig.legends for text in legend.get_texts()]


CASES = [[1], [2], [3], [5], [1, 2], [3, 4], [1, 2, 3], [5, 5, 5], [1, 2, 3, 4, 5, 5], [3, 3, 3, 3, 3, 3]]


@pytest.mark.parametrize("runs_per_group", CASES, ids=lambda c: "-".join(map(str, c)))
def test_training_analysis_renders_without_warnings_and_bands_only_groups_of_three(
    runs_per_group: list[int], tmp_path: Path
) -> None:
    summaries = make_summaries(runs_per_group)
    fig = draw(summaries)
    bars_ax, reward_ax = fig.axes[0], fig.axes[1]
    assert shaded(reward_ax) == sum(n >= MIN_BAND_RUNS for n in runs_per_group)
    runs_drawn = [len(c.get_segments()) for c in reward_ax.collections if type(c) is LineCollection]
    assert runs_drawn == runs_per_group  # one collection of run lines per group
    labels = key_labels(fig)
    count = len(summaries)
    assert (
        fig.legends[0].get_title().get_text() == f"Training analysis: {count} run{'s' * (count > 1)} from figure_test"
    )
    for index, count in enumerate(runs_per_group):
        assert f"study_lr-0.000{index + 1} (n={count})" in labels
    if any(n >= MIN_BAND_RUNS for n in runs_per_group):
        assert "band: ±1 std across runs" in labels
    else:
        assert f"no band: fewer than {MIN_BAND_RUNS} runs per group" in labels
    ticks = [t for t in reward_ax.get_xticks() if reward_ax.get_xlim()[0] <= t <= reward_ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    # the bars are each run's final score (summary.csv's final_score), one dashed mean line per group
    heights = [patch.get_height() for patch in bars_ax.patches]
    np.testing.assert_allclose(heights, [s.final_score for s in summaries], atol=1e-9)
    assert len(mean_lines(bars_ax)) == len(runs_per_group)
    assert not any(isinstance(c, PathCollection) for c in bars_ax.collections)  # bars, not a strip plot
    plt.close(fig)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = plot_training_analysis(summaries, tmp_path / "training_analysis.png", "Training analysis: test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_run_lines_and_the_mean_are_the_logged_curves_when_runs_are_short() -> None:
    summaries = make_summaries([3])
    fig = draw(summaries)
    reward_ax = fig.axes[1]
    (runs,) = [c for c in reward_ax.collections if type(c) is LineCollection]
    for segment, seed in zip(runs.get_segments(), (1, 2, 3), strict=True):
        np.testing.assert_allclose(segment[:, 1], curves_of(seed, 0.0)["mean_reward"])  # at width 1: every point
        np.testing.assert_array_equal(segment[:, 0], np.arange(ITERATIONS))
    (mean,) = reward_ax.get_lines()
    expected = np.mean([curves_of(seed, 0.0)["mean_reward"] for seed in (1, 2, 3)], axis=0)
    np.testing.assert_allclose(mean.get_ydata(), expected)
    plt.close(fig)


def test_a_group_mean_line_averages_only_the_runs_its_statistics_count() -> None:
    summaries = make_summaries([3, 2])
    summaries[0] = dataclasses.replace(summaries[0], status="failed", counted=False)  # hatched, not in the mean
    fig = draw(summaries)
    bars_ax = fig.axes[0]
    kept = [s.final_score for s in summaries[1:3]]
    assert mean_lines(bars_ax)[0][0] == pytest.approx(np.mean(kept))
    assert mean_lines(bars_ax)[1][0] == pytest.approx(np.mean([s.final_score for s in summaries[3:]]))
    assert [bool(p.get_hatch()) for p in bars_ax.patches] == [True, False, False, False, False]
    assert "not in group statistics" in key_labels(fig)
    plt.close(fig)


def test_a_run_without_a_final_score_has_no_bar_and_a_group_without_counted_runs_no_mean_line() -> None:
    summaries = make_summaries([2, 2])
    summaries[0] = dataclasses.replace(summaries[0], final_score=float("nan"), counted=False)
    summaries[2] = dataclasses.replace(summaries[2], status="failed", counted=False)
    summaries[3] = dataclasses.replace(summaries[3], status="failed", counted=False)
    fig = draw(summaries)
    bars_ax = fig.axes[0]
    assert len(bars_ax.patches) == 3
    assert [y for y, *_ in mean_lines(bars_ax)] == [pytest.approx(summaries[1].final_score)]
    plt.close(fig)


def test_iterations_get_an_env_steps_axis_when_every_run_says_how_many_steps_an_iteration_takes() -> None:
    summaries = [make_summary(f"r{seed}", seed, "g", 0.0, steps_per_iteration=24 * 4096) for seed in (1, 2, 3)]
    fig = draw(summaries)
    reward_ax = fig.axes[1]
    (top,) = reward_ax.child_axes
    assert top.get_xlabel() == "env steps"
    np.testing.assert_allclose(top.get_xlim(), np.array(reward_ax.get_xlim()) * 24 * 4096)
    plt.close(fig)
    for other in (None, 12 * 4096):  # one run does not say, or says otherwise: no axis rather than a wrong one
        summaries[2] = dataclasses.replace(summaries[2], steps_per_iteration=other)
        fig = training_analysis_figure(summaries, "t")
        assert fig.axes[1].child_axes == []
        plt.close(fig)


def test_optional_panels_appear_when_any_run_logged_them_and_a_missing_metric_says_so() -> None:
    fig = draw(make_summaries([2]))
    titles = list(panels(fig))
    assert titles == [
        "Final score by run: mean reward, last 10% of iterations", "Training convergence (mean reward)", "Entropy",
        "Surrogate loss", "Value-function loss", "Learning rate",
    ]  # fmt: skip
    plt.close(fig)
    metrics = curves_of(1, 0.0)
    metrics["noise_std"] = np.linspace(1.0, 0.5, ITERATIONS)
    del metrics["entropy"]
    summaries = [*make_summaries([2]), make_summary("x", 3, "study_lr-0.0001", 0.0, metrics=metrics)]
    fig = draw(summaries)
    shown = panels(fig)
    assert "Policy noise std" in shown and "Episode length" not in shown
    assert [len(c.get_segments()) for c in shown["Policy noise std"].collections if type(c) is LineCollection] == [1]
    assert [len(c.get_segments()) for c in shown["Entropy"].collections if type(c) is LineCollection] == [2]
    plt.close(fig)
    nobody = [dataclasses.replace(s, curves={k: v for k, v in s.curves.items() if k != "entropy"}) for s in summaries]
    fig = draw(nobody)
    assert [t.get_text() for t in panels(fig)["Entropy"].texts] == ["not logged by these runs"]
    plt.close(fig)


def test_beyond_sixty_runs_the_final_scores_are_one_strip_of_dots_per_group() -> None:
    summaries = make_summaries([21, 20, 20])
    for index in (0, 25):
        summaries[index] = dataclasses.replace(summaries[index], status="failed", counted=False)
    fig = draw(summaries)
    scores_ax = fig.axes[0]
    assert not scores_ax.patches  # no bars
    dots = [c for c in scores_ax.collections if isinstance(c, PathCollection)]
    assert sum(len(c.get_offsets()) for c in dots) == 61
    hollow = [c for c in dots if c.get_facecolor().size == 0 or c.get_facecolor()[0][3] == 0]
    assert sum(len(c.get_offsets()) for c in hollow) == 2  # the runs left out of the statistics
    assert [label.get_text() for label in scores_ax.get_xticklabels()] == ["0.0001", "0.0002", "0.0003"]
    assert scores_ax.get_xlabel() == "group: study_lr-…"
    groups = ["study_lr-0.0001", "study_lr-0.0002", "study_lr-0.0003"]
    expected = [np.mean([s.final_score for s in summaries if s.group == g and s.counted]) for g in groups]
    lines = mean_lines(scores_ax)
    np.testing.assert_allclose([y for y, *_ in lines], expected)  # groups.csv's means
    assert [round((x0 + x1) / 2) for _, x0, x1 in lines] == [0, 1, 2]  # each over its own column
    assert "not in group statistics" in key_labels(fig)
    plt.close(fig)


def test_a_figure_of_300_long_runs_is_written(tmp_path: Path) -> None:
    summaries = make_summaries([50] * 6, iterations=2000)
    path = plot_training_analysis(summaries, tmp_path / "training_analysis.png", training_analysis_title(300, tmp_path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig = training_analysis_figure(summaries, "t")
    reward_ax = fig.axes[1]
    runs = [c for c in reward_ax.collections if type(c) is LineCollection]
    assert [len(c.get_segments()) for c in runs] == [50] * 6
    assert all(len(segment) < 2000 for c in runs for segment in c.get_segments())  # digested, not every point
    assert shaded(reward_ax) == 6
    plt.close(fig)


def comparison_case(runs_per_group: list[int]) -> tuple[dict, list, Figure]:
    collection = make_collection(runs_per_group)
    groups = form_groups([(Path("/sweeps/figure_test"), collection)], LR, "mean_reward", 0.1)
    document = compare(groups, "mean_reward", 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = comparison_figure(document, groups, "mean_reward")
        fig.canvas.draw()
    return document, groups, fig


@pytest.mark.parametrize("runs_per_group", [c for c in CASES if len(c) >= 2], ids=lambda c: "-".join(map(str, c)))
def test_comparison_renders_without_warnings_with_every_pair_printed(runs_per_group: list[int]) -> None:
    document, _, fig = comparison_case(runs_per_group)
    axes = {ax.get_title(): ax for ax in fig.axes}
    pairs_ax = axes["probability of improvement, 95% CI"]
    printed = [t.get_text() for t in pairs_ax.texts]
    expected = [
        "n/a" if not np.isfinite(p["prob_improvement"]) else f"{p['prob_improvement']:.2f}" for p in document["pairs"]
    ]
    assert printed == expected
    curves_ax = next(ax for title, ax in axes.items() if title.startswith("mean_reward: mean across runs"))
    assert shaded(curves_ax) == sum(n >= MIN_BAND_RUNS for n in runs_per_group)
    intervals_ax = next(ax for title, ax in axes.items() if title.startswith("final mean_reward: IQM and mean"))
    marker_keys = intervals_ax.get_legend().legend_handles
    assert [h.get_color() for h in marker_keys] == ["black", "black"]  # marker types, not a group's colour
    assert {h.get_marker() for h in marker_keys if isinstance(h, Line2D)} == {"o", "s"}
    plt.close(fig)


def test_a_probability_of_improvement_of_zero_is_printed_on_its_bar(tmp_path: Path) -> None:
    document, groups, fig = comparison_case([4, 4])  # group 1 sits 1 above group 0: every run of 0 scores lower
    assert document["pairs"][0]["prob_improvement"] == 0.0
    pairs_ax = next(ax for ax in fig.axes if ax.get_title() == "probability of improvement, 95% CI")
    assert [t.get_text() for t in pairs_ax.texts] == ["0.00"]
    plt.close(fig)
    paths = write_comparison(document, groups, "mean_reward", tmp_path)
    header = paths[1].read_text().splitlines()[0].split(",")
    assert {"diff_ci_low", "diff_ci_high", "prob_improvement_ci_low", "prob_improvement_ci_high"} <= set(header)
