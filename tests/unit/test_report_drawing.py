"""The figure's own process (:mod:`hpc_sweep.report.drawing`): the same picture as drawing here, digests loaded
ahead of time but never stale, errors raised in the collect, and an unused process stopped at once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from hpc_sweep.collect.frames import grid_keys
from hpc_sweep.collect.results import RunData
from hpc_sweep.errors import HpcSweepError
from hpc_sweep.report.drawing import FigureProcess
from hpc_sweep.report.figures import plot_training_analysis, training_analysis_title
from hpc_sweep.report.run_products import ProductCache, load_curves, run_key, store_run
from tests.unit.test_report_figures import make_collection, make_run


def stored(runs: list[RunData], cache: ProductCache) -> list[tuple[str, object]]:
    """Each run's outputs stored as a collect stores them: (key, summary without digests)."""
    keys = grid_keys(run.source for run in runs)
    return [(run_key(run.source), store_run(run, keys, cache, run_key(run.source))) for run in runs]


def drawn_here(produced: list, cache: ProductCache, path: Path) -> bytes:
    """The figure drawn in this process from the same stored digests."""
    summaries = []
    for key, summary in produced:
        summary.curves = load_curves(cache, key, summary.metrics)
        summaries.append(summary)
    plot_training_analysis(summaries, path, training_analysis_title(len(summaries), "/sweeps/figure_test"))
    for summary in summaries:
        summary.curves = {}
    return path.read_bytes()


def test_the_process_draws_the_figure_drawing_here_would(tmp_path: Path) -> None:
    cache = ProductCache(tmp_path / "cache")
    produced = stored(make_collection([3, 2]).runs, cache)
    with FigureProcess() as drawer:
        drawer.preload(cache, produced[:3])
        drawer.draw(cache, produced, tmp_path / "training_analysis.png", Path("/sweeps/figure_test"))
        assert drawer.result() == tmp_path / "training_analysis.png"
    assert (tmp_path / "training_analysis.png").read_bytes() == drawn_here(produced, cache, tmp_path / "here.png")


def test_digests_remade_after_their_preload_are_loaded_again(tmp_path: Path) -> None:
    cache = ProductCache(tmp_path / "cache")
    runs = make_collection([3]).runs
    produced = stored(runs, cache)
    with FigureProcess() as drawer:
        drawer.preload(cache, produced)
        drawer.draw(cache, produced, tmp_path / "before.png", Path("/sweeps/figure_test"))
        drawer.result()  # the old digests are now held by the process
        changed = make_run(runs[0].source.run_id, 1, runs[0].source.group, 50.0)  # the run read again, other data
        produced[0] = (produced[0][0], store_run(changed, [], cache, produced[0][0]))
        drawer.draw(cache, produced, tmp_path / "training_analysis.png", Path("/sweeps/figure_test"))
        drawer.result()
    assert (tmp_path / "training_analysis.png").read_bytes() != (tmp_path / "before.png").read_bytes()
    assert (tmp_path / "training_analysis.png").read_bytes() == drawn_here(produced, cache, tmp_path / "here.png")


def test_a_drawing_error_is_raised_where_the_result_is_asked_for(tmp_path: Path) -> None:
    cache = ProductCache(tmp_path / "cache")
    produced = stored(make_collection([2]).runs, cache)
    (tmp_path / "a_file").write_text("not a directory")
    with FigureProcess() as drawer:
        drawer.draw(cache, produced, tmp_path / "a_file" / "training_analysis.png", tmp_path)
        with pytest.raises(OSError):
            drawer.result()


def test_a_process_never_asked_to_draw_is_stopped_at_once(tmp_path: Path) -> None:
    drawer = FigureProcess()
    start = time.monotonic()
    drawer.close()  # while it may still be importing matplotlib
    assert not drawer._process.is_alive()
    assert time.monotonic() - start < 5.0


ENDS_WITH_SIGTERM_IGNORED = """
import signal, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # as in a submitit job: its handler "bypasses" SIGTERM
from hpc_sweep.report.drawing import FigureProcess
drawer = FigureProcess()
drawer.close()
with FigureProcess() as drawer:
    pass
print("closed")
"""


def test_a_collect_whose_sigterm_is_ignored_still_ends(tmp_path: Path) -> None:
    """A collect job under submitit ignores SIGTERM; its figure process inherits that and must still end."""
    result = subprocess.run(
        [sys.executable, "-c", ENDS_WITH_SIGTERM_IGNORED], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0 and result.stdout.strip() == "closed", result.stderr


def test_a_drawing_process_that_died_is_one_clear_error(tmp_path: Path) -> None:
    cache = ProductCache(tmp_path / "cache")
    produced = stored(make_collection([2]).runs, cache)
    with FigureProcess() as drawer:
        drawer._process.kill()  # as the kernel's OOM killer would
        drawer._process.join()
        drawer.preload(cache, produced)
        drawer.draw(cache, produced, tmp_path / "training_analysis.png", tmp_path)
        with pytest.raises(HpcSweepError, match="run collect again"):
            drawer.result()
    assert not (tmp_path / "training_analysis.png").exists()
