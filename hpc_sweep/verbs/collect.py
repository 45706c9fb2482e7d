"""``hpc-sweep collect``: read a sweep or log tree, analyse it, and write every result file, table and figure.

For a sweep of ours the launcher's view of each run (one ``sacct`` call on Slurm) is taken first and handed to the
collector as the runs' states: the collector itself never asks a scheduler.

Runs stream through :func:`hpc_sweep.report.run_products.produce_all`: a run whose files did not change since the
last collect is not read at all, the others are read in worker processes, their outputs stored in the collect cache,
and only their summaries come back, so memory does not grow with the sweep. The figure is drawn by a process
started first (:mod:`hpc_sweep.report.drawing`), and the TensorBoard views are linked in a thread, both beside the
reading and writing.
"""

from __future__ import annotations

import contextlib
import shlex
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from rich.console import Console

from hpc_sweep.analyse.cost import sweep_run_costs
from hpc_sweep.collect.discover import CACHEDIR_TAG, RunStates, RunUsage, discover_runs
from hpc_sweep.collect.frames import grid_keys
from hpc_sweep.errors import UsageError
from hpc_sweep.launch.base import launcher_for
from hpc_sweep.manifest import is_sweep_dir, load_sweep
from hpc_sweep.report.console import make_console
from hpc_sweep.report.drawing import FigureProcess
from hpc_sweep.report.outputs import Written, write_results
from hpc_sweep.report.run_products import CACHE_DIR, ProductCache, produce_all
from hpc_sweep.report.tables import print_summary
from hpc_sweep.report.tensorboard_tree import write_tensorboard_tree

_TAG_TEXT = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by hpc-sweep collect (decoded event files and per-run outputs).\n"
    "# Deleting the directory is safe: the next collect reads every file again.\n"
)


@dataclass(frozen=True)
class RunView:
    """What the launcher says of a sweep's runs (one scheduler call): each run's state and reason, and its cost
    (:func:`hpc_sweep.analyse.cost.run_costs`). Both None for a log tree."""

    states: RunStates | None = None
    usage: RunUsage | None = None


def run_view(path: Path) -> RunView:
    """Each run's state, reason and cost as its launcher sees them now, for a sweep dir of ours."""
    if not is_sweep_dir(path):
        return RunView()
    sweep = load_sweep(path)
    launcher_for(sweep).refresh(sweep)
    states = {run["run_id"]: (run.get("state"), run.get("reason")) for run in sweep.runs}
    return RunView(states, sweep_run_costs(sweep.manifest))


def run_states(path: Path) -> RunStates | None:
    """Each run's state and reason as its launcher sees them now, for a sweep dir of ours; None for a log tree."""
    return run_view(path).states


@contextlib.contextmanager
def _cache_dir(out: Path, cache: Path | None, use_cache: bool) -> Iterator[ProductCache]:
    """The collect cache: ``cache``, else ``out/.hpc_sweep_cache``; with ``use_cache=False`` a temporary one, gone
    afterwards (the runs' parts in ``metrics.parquet`` are hard links and stay)."""
    if not use_cache:
        with tempfile.TemporaryDirectory(prefix=f"{CACHE_DIR}-", dir=out) as tmp:
            yield _tagged(Path(tmp))
        return
    yield _tagged(Path(cache) if cache is not None else out / CACHE_DIR)


def _tagged(root: Path) -> ProductCache:
    root.mkdir(parents=True, exist_ok=True)
    tag = root / CACHEDIR_TAG
    if not tag.is_file():
        tag.write_text(_TAG_TEXT, encoding="utf-8")
    return ProductCache(root)


def collect_sweep(
    path: Path,
    output_dir: Path | None,
    console: Console | None = None,
    csv: bool = False,
    cache: Path | None = None,
    use_cache: bool = True,
) -> Written:
    """Collect ``path`` and write every result file into ``output_dir`` (default: ``path``); print the summary."""
    console = console or make_console()
    path = Path(path)
    for name, where in (("--output_dir", output_dir), ("--cache", cache)):
        if where is not None and Path(where).exists() and not Path(where).is_dir():
            raise UsageError(f"{name} {where} is a file, not a directory; give a directory")
    view = run_view(path)
    with FigureProcess() as drawer:  # started first: it imports matplotlib while the runs are found and checked
        sources = discover_runs(path, view.states, view.usage)
        out = Path(output_dir) if output_dir else path
        out.mkdir(parents=True, exist_ok=True)
        with _cache_dir(out, cache, use_cache) as store, ThreadPoolExecutor(1) as aside:
            keys = grid_keys(sources)
            produced = produce_all(sources, keys, store, console, on_cached=partial(drawer.preload, store))
            views = None  # links only, made beside the writing (a thread started after the reading's forks)
            if output_dir is not None or is_sweep_dir(path):  # a foreign log tree gets views only where the user says
                views = aside.submit(write_tensorboard_tree, sources, out)
            written = write_results(out, path, produced, keys, store, csv, drawer)
    for warning in written.results["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    if not csv and (out / "metrics.csv").is_file():
        stale = out / "metrics.csv"
        console.print(f"[yellow]note:[/yellow] {stale} is from an earlier collect (add --csv to renew it)")
    print_summary(written.results, console)
    unchanged = "" if written.fresh else " (unchanged since the last collect: nothing rewritten)"
    console.print(f"results{unchanged}: {', '.join(str(p) for p in written.paths)}", highlight=False)
    if views is not None:
        tree = views.result()
        for warning in tree.warnings:
            console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
        if tree.logdir is not None:
            console.print(f"tensorboard --logdir {shlex.quote(str(tree.logdir))}", highlight=False, markup=False)
    return written
