"""``hpc-sweep collect``: read a sweep or log tree, analyse it, and write every result file, table and figure.

For a sweep of ours the launcher's view of each run (one ``sacct`` call on Slurm) is taken first and handed to the
collector as the runs' states: the collector itself never asks a scheduler.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from rich.console import Console

from hpc_sweep.collect.results import Collection, collect
from hpc_sweep.errors import UsageError
from hpc_sweep.launch.base import launcher_for
from hpc_sweep.manifest import is_sweep_dir, load_sweep
from hpc_sweep.report.console import make_console
from hpc_sweep.report.figures import plot_training_analysis
from hpc_sweep.report.json_results import build_training_results
from hpc_sweep.report.tables import print_summary, write_tables
from hpc_sweep.report.tensorboard_tree import write_tensorboard_tree


def run_states(path: Path) -> dict[str, tuple[str, str | None]] | None:
    """Each run's state and reason as its launcher sees them now, for a sweep dir of ours; None for a log tree."""
    if not is_sweep_dir(path):
        return None
    sweep = load_sweep(path)
    launcher_for(sweep).refresh(sweep)
    return {run["run_id"]: (run.get("state"), run.get("reason")) for run in sweep.runs}


def collect_sweep(path: Path, output_dir: Path | None, console: Console | None = None) -> Collection:
    """Collect ``path`` and write every result file into ``output_dir`` (default: ``path``); print the summary."""
    console = console or make_console()
    path = Path(path)
    if output_dir is not None and Path(output_dir).exists() and not Path(output_dir).is_dir():
        raise UsageError(f"--output_dir {output_dir} is a file, not a directory; give a directory for the results")
    collection = collect(path, console=console, states=run_states(path))
    out = Path(output_dir) if output_dir else path
    out.mkdir(parents=True, exist_ok=True)
    for warning in collection.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    results = build_training_results(collection)
    written = write_tables(collection, results, out)
    figure = plot_training_analysis(collection, out / "training_analysis.png")
    print_summary(results, console)
    console.print(f"results: {', '.join(str(p) for p in [*written, figure])}", highlight=False)
    if output_dir is not None or is_sweep_dir(path):  # a foreign log tree gets views only where the user says
        views = write_tensorboard_tree((run.source for run in collection.runs), out)
        for warning in views.warnings:
            console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
        if views.logdir is not None:
            console.print(f"tensorboard --logdir {shlex.quote(str(views.logdir))}", highlight=False, markup=False)
    return collection
