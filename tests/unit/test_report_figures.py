"""What the two figures show, checked on the matplotlib figures themselves (collections built in memory): they render
without a warning for 1, 2, 3 and 6 groups of 1 to 5 runs; a band is shaded only for groups of at least 3 runs and
the key says what it is; iteration ticks are whole numbers; an env-steps axis appears when the runs' params give it;
the bars are the final scores of ``summary.csv`` with one mean line per group; P(A > B) is printed on its bar, at 0
too; marker keys are black."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import FillBetweenPolyCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from hpc_sweep.analyse.compare import compare, form_groups
from hpc_sweep.analyse.curves import MIN_BAND_RUNS
from hpc_sweep.analyse.summary import final_score
from hpc_sweep.collect.discover import RunSource
from hpc_sweep.collect.results import Collection, RunData
from hpc_sweep.report.comparison import comparison_figure, write_comparison
from hpc_sweep.report.figures import plot_training_analysis, training_analysis_figure

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
    collection = make_collection(runs_per_group)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = training_analysis_figure(collection)
        fig.canvas.draw()  # layout and every text placed: warnings surface here
    bars_ax, reward_ax = fig.axes[0], fig.axes[1]
    assert shaded(reward_ax) == sum(n >= MIN_BAND_RUNS for n in runs_per_group)
    labels = key_labels(fig)
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
    expected = [final_score(run.metric("mean_reward")[1]) for run in collection.runs]
    np.testing.assert_allclose(heights, expected, atol=1e-9)
    assert len(bars_ax.collections) == len(runs_per_group)  # hlines: one LineCollection per group
    plt.close(fig)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = plot_training_analysis(collection, tmp_path / "training_analysis.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_group_mean_line_averages_only_the_runs_its_statistics_count() -> None:
    collection = make_collection([3, 2])
    collection.runs[0].source.status = "failed"  # seed 1 of group 0: hatched, not in the mean
    fig = training_analysis_figure(collection)
    bars_ax = fig.axes[0]
    (segments,) = bars_ax.collections[0].get_segments()[:1]
    kept = [final_score(run.metric("mean_reward")[1]) for run in collection.runs[1:3]]
    assert segments[0][1] == pytest.approx(np.mean(kept))
    assert [bool(p.get_hatch()) for p in bars_ax.patches] == [True, False, False, False, False]
    assert "not in group statistics" in key_labels(fig)
    plt.close(fig)


def test_iterations_get_an_env_steps_axis_when_params_say_how_many_steps_an_iteration_takes(tmp_path: Path) -> None:
    runs = []
    for seed in (1, 2, 3):
        params = tmp_path / f"run{seed}" / "params"
        params.mkdir(parents=True)
        (params / "agent.yaml").write_text("seed: 1\nnum_steps_per_env: 24\nmax_iterations: 30\n")
        (params / "env.yaml").write_text("viewer:\n  eye: [1, 2]\nscene:\n  num_envs: 4096\n  env_spacing: 2.5\n")
        runs.append(make_run(f"r{seed}", seed, "g", 0.0, log_dir=params.parent))
    fig = training_analysis_figure(Collection(tmp_path, runs, []))
    fig.canvas.draw()  # a secondary axis takes its limits when drawn
    reward_ax = fig.axes[1]
    (top,) = reward_ax.child_axes
    assert top.get_xlabel() == "env steps"
    np.testing.assert_allclose(top.get_xlim(), np.array(reward_ax.get_xlim()) * 24 * 4096)
    plt.close(fig)
    runs[2].source.log_dirs = []  # one run does not say: no axis rather than a wrong one
    fig = training_analysis_figure(Collection(tmp_path, runs, []))
    assert fig.axes[1].child_axes == []
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
