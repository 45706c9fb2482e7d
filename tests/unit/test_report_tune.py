"""What ``hpc-sweep tune`` shows, checked on its outputs: ``trials.csv`` has one row per trial with a score and a seed
count per rung budget, empty where a trial was not scored, and reads back with the same numbers; the CSV replaces the
old file whole or not at all; the terminal table puts the best trial first, marks missing scores and partial seed
counts, and says how many rows it left out; the progress figure is a PNG for 3 trials and for 200, with one dashed
line per rung, the promoted trials in colour, at most eight of them named in the legend, the never-promoted ones in
one grey rasterised collection, and a confirmation panel with each confirmed score's interval once there is one."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import same_color
from rich.console import Console

from hpc_sweep.report import tune
from hpc_sweep.report.tune import (
    TrialRow,
    draw_tune_progress,
    format_score,
    short_keys,
    trials_frame,
    tune_progress_figure,
    tune_table,
    write_trials_csv,
)

RUNGS = (100, 300, 900)
LR, ENT, STEPS = "agent.algorithm.learning_rate", "agent.algorithm.entropy_coef", "agent.num_steps_per_env"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def row(trial: int, state: str, rung: int, scores: tuple, seeds: tuple, lr: str, **extra: object) -> TrialRow:
    """A trial of :data:`RUNGS` with learning rate ``lr``; 300 iterations and 0.1 GPU hours per rung sent to."""
    params = {LR: lr, ENT: f"0.00{trial + 1}", STEPS: "24"}
    extra = {"iterations": 300 * (rung + 1), "gpu_hours": 0.1 * (rung + 1), **extra}
    return TrialRow(trial, params, state, rung, scores, seeds, **extra)


def small_set() -> list[TrialRow]:
    """Five trials, given out of order: one confirmed at the top rung, one stopped at rung 1, one failed at rung 1
    (two of its three seeds scored at rung 0, GPU hours unknown), one stopped at rung 0, one still training."""
    return [
        row(3, "stopped", 0, (5.0, None, None), (3, 0, 0), "0.01"),
        row(
            0, "top", 2, (10.0, 20.0, 0.1 + 0.2), (3, 3, 3), "0.0003", confirmed_score=29.0, confirmed_ci=(27.5, 30.25)
        ),
        row(2, "failed", 1, (11.0, None, None), (2, 0, 0), "1e-05", gpu_hours=None),
        row(1, "stopped", 1, (12.0, 18.25, None), (3, 3, 0), "0.001"),
        row(4, "training", 0, (None, None, None), (0, 0, 0), "0.003"),
    ]


def test_trials_frame_has_a_row_per_trial_and_a_score_and_seed_column_per_budget() -> None:
    frame = trials_frame(small_set(), RUNGS)
    assert list(frame.columns) == [
        "trial", "state", "rung_reached", "rung_sent", LR, ENT, STEPS, "score_100", "score_300", "score_900",
        "seeds_100", "seeds_300", "seeds_900", "iterations", "gpu_hours", "confirmed_score", "confirmed_ci_low",
        "confirmed_ci_high",
    ]  # fmt: skip
    assert frame["trial"].tolist() == [0, 1, 2, 3, 4]
    assert frame["state"].tolist() == ["top", "stopped", "failed", "stopped", "training"]
    assert frame["rung_reached"].tolist() == [900, 300, 100, 100, 0]  # the failed trial has no rung-1 score
    assert frame["rung_sent"].tolist() == [900, 300, 300, 100, 100]
    assert frame[LR].tolist() == ["0.0003", "0.001", "1e-05", "0.01", "0.003"]
    assert frame["score_300"].isna().tolist() == [False, False, True, True, True]
    assert frame.loc[0, "score_900"] == 0.1 + 0.2 and frame.loc[1, "score_300"] == 18.25
    assert frame["seeds_100"].tolist() == [3, 3, 2, 3, 0]
    assert frame["gpu_hours"].isna().tolist() == [False, False, True, False, False]
    assert frame.loc[0, ["confirmed_score", "confirmed_ci_low", "confirmed_ci_high"]].tolist() == [29.0, 27.5, 30.25]
    assert frame["confirmed_score"].isna().sum() == 4


def test_trials_csv_reads_back_with_the_same_numbers(tmp_path: Path) -> None:
    path = write_trials_csv(small_set(), RUNGS, tmp_path / "trials.csv")
    back = pd.read_csv(path, dtype={LR: str, ENT: str, STEPS: str})
    expected = trials_frame(small_set(), RUNGS)
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)
    assert back.loc[0, "score_900"] == 0.1 + 0.2  # full precision: 0.30000000000000004, not 0.3


def test_trials_csv_replaces_the_old_file_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "trials.csv"
    path.write_text("old\n")
    write_trials_csv(small_set(), RUNGS, path)
    assert len(pd.read_csv(path)) == 5 and os.listdir(tmp_path) == ["trials.csv"]  # no temp file left beside it

    def refuse(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_trials_csv(small_set()[:1], RUNGS, path)
    assert len(pd.read_csv(path)) == 5 and os.listdir(tmp_path) == ["trials.csv"]


def test_rows_whose_scores_do_not_match_the_rungs_are_refused() -> None:
    with pytest.raises(ValueError, match="trial 7: 2 scores for 3 rungs"):
        trials_frame([row(7, "stopped", 0, (1.0, None), (3, 0), "0.1")], RUNGS)


def cells(table: object, column: str) -> list[str]:
    """The text of one column of a rich table, by header."""
    return [str(cell) for cell in next(c for c in table.columns if c.header == column).cells]


def test_table_puts_the_confirmed_trial_then_the_highest_rung_and_score_first() -> None:
    table = tune_table(small_set(), RUNGS, "tune")
    assert cells(table, "trial") == ["0", "1", "2", "3", "4"]
    assert cells(tune_table(small_set()[::-1], RUNGS, "tune", best_first=False), "trial") == ["0", "1", "2", "3", "4"]
    shuffled = [row(5, "waiting", 0, (13.0, None, None), (3, 0, 0), "0.02"), *small_set()]
    assert cells(tune_table(shuffled, RUNGS, "tune"), "trial") == ["0", "1", "5", "2", "3", "4"]


def test_table_marks_missing_scores_partial_seeds_and_states() -> None:
    table = tune_table(small_set(), RUNGS, "tune")
    assert cells(table, "score@100") == ["10.00", "12.00", "11.00 (2/3)", "5.000", "·"]
    assert cells(table, "score@300") == ["20.00", "18.25", "·", "·", "·"]
    assert cells(table, "confirmed [CI]")[:2] == ["29.00 [27.50, 30.25]", "·"]
    assert cells(table, "GPU-h")[2] == "·" and cells(table, "iters")[0] == "900"
    assert cells(table, "params")[0] == "learning_rate=0.0003 entropy_coef=0.001 num_steps_per_env=24"
    states = cells(table, "state")
    assert states[0] == "[bold]top[/]" and states[2] == "[red]failed[/]" and states[1] == "[dim]stopped[/]"
    console = Console(record=True, width=200)
    console.print(table)
    assert "11.00 (2/3)" in console.export_text()


def test_table_shows_the_best_rows_and_says_how_many_are_in_the_csv() -> None:
    table = tune_table(small_set(), RUNGS, "tune", limit=2)
    assert cells(table, "trial") == ["0", "1"] and table.caption == "… 3 more in trials.csv"
    assert tune_table(small_set(), RUNGS, "tune", limit=None).caption is None
    assert "confirmed [CI]" not in [c.header for c in tune_table(small_set()[2:], RUNGS, "tune").columns]


def test_scores_print_in_three_to_four_significant_digits() -> None:
    assert [format_score(v) for v in (26.0, 27.7749, 0.0421349, 12345.6, -3.5, None, float("nan"))] == [
        "26.00", "27.77", "0.04213", "12,346", "-3.500", "·", "·",
    ]  # fmt: skip


def test_short_keys_use_the_last_component_unless_two_would_read_the_same() -> None:
    keys = [LR, "agent.policy.actor.hidden_dims", "agent.policy.critic.hidden_dims", "seed"]
    assert short_keys(keys) == {
        LR: "learning_rate", keys[1]: "actor.hidden_dims", keys[2]: "critic.hidden_dims", "seed": "seed",
    }  # fmt: skip


def synthetic_tune(trials: int, seed: int = 0, eta: int = 3) -> tuple[dict, list[TrialRow], dict]:
    """ASHA on learning curves ``plateau * (1 - exp(-t / tau))`` plus noise: the best 1/eta of each rung go on; the
    best two reaching the top are confirmed, in the other order. Returns (search curves, rows, confirmation curves)."""
    rng = np.random.default_rng(seed)
    plateau, tau = rng.normal(20.0, 4.0, trials), rng.uniform(80.0, 400.0, trials)
    steps = np.arange(RUNGS[-1])
    noisy = plateau[:, None] * (1 - np.exp(-steps / tau[:, None])) + rng.normal(0.0, 0.5, (trials, steps.size))
    alive, sent = list(range(trials)), [0] * trials
    scores = [[None] * len(RUNGS) for _ in range(trials)]
    for k, budget in enumerate(RUNGS):
        for t in alive:
            scores[t][k] = float(noisy[t, int(0.9 * budget) : budget].mean())
        alive = sorted(alive, key=lambda t: -scores[t][k])
        if k + 1 < len(RUNGS):
            alive = alive[: max(1, len(alive) // eta)]
            for t in alive:
                sent[t] = k + 1
    confirmed = {t: (26.0 + i, (25.0 + i, 27.0 + i)) for i, t in enumerate(alive[:2])}  # the runner-up confirms best
    rows = [
        TrialRow(
            t, {LR: f"{10 ** rng.uniform(-5, -3):.2g}", ENT: "0.01"}, "top" if sent[t] == 2 else "stopped", sent[t],
            tuple(scores[t]), tuple(0 if s is None else 3 for s in scores[t]), 3 * RUNGS[sent[t]], None,
            *confirmed.get(t, (None, None)),
        )
        for t in range(trials)
    ]  # fmt: skip
    curves = {t: (steps[: RUNGS[sent[t]]], noisy[t, : RUNGS[sent[t]]]) for t in range(trials)}
    return curves, rows, {t: (steps, noisy[t]) for t in confirmed}


def test_progress_figure_is_a_png_for_three_trials(tmp_path: Path) -> None:
    curves, rows, _ = synthetic_tune(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = draw_tune_progress(curves, rows, RUNGS, tmp_path / "tune_progress.png")
    assert path.read_bytes().startswith(PNG_MAGIC) and os.listdir(tmp_path) == ["tune_progress.png"]
    fig = tune_progress_figure(curves, rows, RUNGS)
    assert "3 trials, 3 rungs" in fig._suptitle.get_text()
    search, side = fig.axes[:2]
    assert [line.get_xdata()[0] for line in search.lines if line.get_gid() == "rung"] == list(RUNGS)
    promoted = [r.trial for r in rows if r.rung >= 1]
    coloured = {line.get_gid(): line.get_color() for line in search.lines if str(line.get_gid()).startswith("trial")}
    assert set(coloured) == {f"trial-{t}" for t in promoted}
    assert not any(same_color(colour, tune._NOT_PROMOTED) for colour in coloured.values())
    assert [t.get_text().split("\n")[0] for t in side.get_xticklabels()] == ["rung 0", "rung 1", "rung 2"]


def test_progress_figure_stays_readable_with_200_trials(tmp_path: Path) -> None:
    curves, rows, _ = synthetic_tune(200, seed=1)
    start = time.perf_counter()
    path = draw_tune_progress(curves, rows, RUNGS, tmp_path / "tune_progress.png", metric="mean reward")
    assert time.perf_counter() - start < 8.0
    assert path.read_bytes().startswith(PNG_MAGIC)
    fig = tune_progress_figure(curves, rows, RUNGS)
    search = fig.axes[0]
    labels = [text.get_text() for text in fig.legends[0].get_texts()]
    named = [label for label in labels if label.startswith("#")]
    assert len(named) == tune.LEGEND_TRIALS and "learning_rate=" in named[0]
    assert f"{sum(r.rung == 0 for r in rows)} not promoted" in labels
    assert f"{sum(r.rung >= 1 for r in rows) - len(named)} more promoted (trials.csv)" in labels
    grey = next(c for c in search.collections if isinstance(c, LineCollection) and c.get_gid() == "not-promoted")
    assert len(grey.get_segments()) == sum(r.rung == 0 for r in rows) and grey.get_rasterized()
    assert all(len(segment) <= tune._MAX_POINTS for segment in grey.get_segments())
    assert sum(line.get_gid() == "rung" for line in search.lines) == len(RUNGS)
    best = max((r for r in rows if r.confirmed_score is not None), key=lambda r: r.confirmed_score)
    assert best.scores[-1] < max(r.scores[-1] or 0 for r in rows)  # the search ranked it second
    assert named[0].startswith(f"#{best.trial} ")  # the confirmed score leads the legend


def test_confirmation_panel_shows_each_confirmed_score_with_its_interval() -> None:
    curves, rows, confirmed = synthetic_tune(27)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = tune_progress_figure(curves, rows, RUNGS, confirmed=confirmed)
    side = fig.axes[1]
    assert side.get_title().startswith("confirmation: best 2")
    bars = {line.get_gid() for line in side.lines if str(line.get_gid()).startswith("confirmed-")}
    assert bars == {f"confirmed-{t}" for t in confirmed}
    assert all(tick <= RUNGS[-1] for tick in side.get_xticks())  # right of the curves are scores, not iterations
    labels = [text.get_text() for text in fig.legends[0].get_texts()]
    assert "confirmed IQM (bar: bootstrap CI)" in labels and "last search score" in labels
