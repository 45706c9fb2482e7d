"""``hpc-sweep compare``: collect each path, form the groups, compare them, then show and write the comparison."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from hpc_sweep.analyse.compare import check_compare_paths, compare, form_groups
from hpc_sweep.report.comparison import print_comparison, write_comparison
from hpc_sweep.report.console import make_console
from hpc_sweep.verbs.collect import run_view


def compare_paths(
    paths: list[Path],
    by: str | None,
    metric: str,
    final_window: float | int,
    output_dir: Path | None,
    console: Console | None = None,
) -> list[Path]:
    """Compare the groups of runs under ``paths`` (one group each, or one sweep split ``by`` a grid key); write
    ``comparison.json/.csv/.png`` into ``output_dir`` (default: the first path) and return their paths."""
    from hpc_sweep.collect.results import collect

    console = console or make_console()
    check_compare_paths(paths, by)
    collections = []
    for path in map(Path, paths):
        view = run_view(path)  # states and each run's cost, from one scheduler call per sweep
        collections.append((path, collect(path, console=console, states=view.states, usage=view.usage)))
    groups = form_groups(collections, by, metric, final_window)
    document = compare(groups, metric, final_window)
    print_comparison(document, console)
    written = write_comparison(document, groups, metric, Path(output_dir or paths[0]))
    console.print(f"written: {', '.join(map(str, written))}", highlight=False)
    return written
