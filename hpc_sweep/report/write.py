"""Writing a collection's results: tables, ``training_results.json``, the figure, and the terminal summary."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from hpc_sweep.collect.results import Collection, collect
from hpc_sweep.report.console import make_console
from hpc_sweep.report.figures import plot_training_analysis
from hpc_sweep.report.json_results import build_training_results
from hpc_sweep.report.tables import print_summary, write_tables


def collect_to(path: Path, output_dir: Path | None, console: Console | None = None) -> Collection:
    """Collect ``path`` and write every result file into ``output_dir`` (default: ``path``); print the summary."""
    console = console or make_console()
    collection = collect(Path(path), console=console)
    out = Path(output_dir) if output_dir else Path(path)
    out.mkdir(parents=True, exist_ok=True)
    for warning in collection.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    results = build_training_results(collection)
    written = write_tables(collection, results, out)
    figure = plot_training_analysis(collection, out / "training_analysis.png")
    print_summary(results, console)
    console.print(f"results: {', '.join(str(p) for p in [*written, figure])}", highlight=False)
    return collection
