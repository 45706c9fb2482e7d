"""Every result file of a collect, written from the runs' stored outputs and summaries, never from all points at once.

``metrics.parquet/`` gets each run's part (a hard link to the collect cache's file), ``training_results.json`` is
streamed from each run's stored record, and the statistics (``groups.csv``), ``summary.csv`` and the figure use only
the runs' summaries. With ``--csv``, ``metrics.csv`` is written from ``metrics.parquet`` one run at a time.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from hpc_sweep.analyse.cost import total_cost
from hpc_sweep.analyse.results import group_results
from hpc_sweep.analyse.run_summary import RunSummary
from hpc_sweep.atomic import write_bytes_atomic
from hpc_sweep.report.drawing import FigureProcess
from hpc_sweep.report.json_results import document_head, sweep_metadata, write_training_results
from hpc_sweep.report.metrics_table import part_name, sync_parts, write_csv
from hpc_sweep.report.run_products import ProductCache, stat_key
from hpc_sweep.report.tables import write_tables


@dataclass
class Written:
    """What a collect wrote: the paths, the slim results (records without per-point lists, group rows, warnings),
    and whether the files were written now (``fresh``) or were already up to date."""

    paths: list[Path]
    results: dict[str, Any]
    fresh: bool = True


def write_results(
    out: Path,
    root: Path,
    produced: list[tuple[str, RunSummary]],
    keys: list[str],
    cache: ProductCache,
    csv: bool,
    drawer: FigureProcess | None = None,
) -> Written:
    """Write every result file of the runs ``produced`` (key, summary) into ``out``; ``root``: what was collected.

    When no run's outputs changed since the last collect into ``out`` and the files written then are untouched,
    nothing is rewritten (:func:`_unchanged`): a second collect of a finished sweep costs only the check. The figure
    is drawn in a second process (``drawer``, started early by the collect; one is started here when not given) while
    this one writes the tables and ``training_results.json`` (both take seconds for a thousand runs, and neither needs
    the other).
    """
    stamp = _stamp(out, root, produced, keys, cache, csv)
    previous = _unchanged(cache, stamp)
    if previous is not None:
        return Written(previous, _results(produced), fresh=False)
    with contextlib.ExitStack() as stack:
        if drawer is None:
            drawer = stack.enter_context(FigureProcess())
        drawer.draw(cache, produced, out / "training_analysis.png", Path(root))  # first: the figure takes longest
        results = _results(produced)
        paths = _write_files(out, root, produced, keys, cache, csv, results)
        paths.append(drawer.result())
    _remember(cache, stamp, paths)
    cache.prune({key for key, _ in produced})
    return Written(paths, results)


def _results(produced: list[tuple[str, RunSummary]]) -> dict[str, Any]:
    """The slim results: records without per-point lists, group rows, warnings and the sweep's cost."""
    records = [summary.record for _, summary in produced]
    groups = [row.to_dict() for row in group_results(records)]
    warnings = [warning for _, summary in produced for warning in summary.warnings]
    return {"experiments": records, "groups": groups, "warnings": warnings, "cost": total_cost(records)}


def _write_files(
    out: Path,
    root: Path,
    produced: list[tuple[str, RunSummary]],
    keys: list[str],
    cache: ProductCache,
    csv: bool,
    results: dict[str, Any],
) -> list[Path]:
    """``metrics.parquet`` (and ``metrics.csv``), ``summary.csv``, ``groups.csv`` and ``training_results.json``."""
    dataset = sync_parts(out, {part_name(key): cache.part(key) for key, _ in produced})
    paths = [dataset]
    if csv:
        paths.append(write_csv(dataset, out / "metrics.csv"))
    paths += write_tables(results, keys, out)
    head = {**document_head(root, sweep_metadata(root, len(produced))), "cost": results["cost"]}  # sweep total
    groups, warnings = results["groups"], results["warnings"]
    records_json = (cache.record(key).read_bytes() for key, _ in produced)
    document = write_training_results(out / "training_results.json", head, records_json, groups, warnings)
    return [*paths, document]


_OUTPUTS = "outputs.json"


def _stamp(
    out: Path, root: Path, produced: list[tuple[str, RunSummary]], keys: list[str], cache: ProductCache, csv: bool
) -> str:
    """What the result files depend on: where they go, the options, the sweep's manifest and each run's stored
    outputs (their meta file changes whenever they are remade)."""
    inputs = [
        str(Path(out).resolve()),
        str(Path(root).resolve()),
        csv,
        keys,
        stat_key(Path(root) / "sweep.json"),
        [[key, stat_key(cache.runs / f"{key}.meta.json")] for key, _ in produced],
    ]
    return hashlib.blake2b(orjson.dumps(inputs), digest_size=16).hexdigest()


def _file_state(path: Path) -> list[Any]:
    """A written output's identity: a file's size, mtime and inode; a directory's part files by name and inode."""
    if path.is_dir():
        return sorted([p.name, p.stat().st_ino] for p in path.iterdir())
    return stat_key(path)


def _remember(cache: ProductCache, stamp: str, paths: list[Path]) -> None:
    state = {"stamp": stamp, "files": [[str(p), _file_state(p)] for p in paths]}
    write_bytes_atomic(cache.root / _OUTPUTS, orjson.dumps(state))


def _unchanged(cache: ProductCache, stamp: str) -> list[Path] | None:
    """The paths written last time, when they were written from the same inputs and are untouched since; else None."""
    try:
        state = orjson.loads((cache.root / _OUTPUTS).read_bytes())
        if state["stamp"] != stamp:
            return None
        paths = [Path(name) for name, _ in state["files"]]
        if any(_file_state(path) != known for path, (_, known) in zip(paths, state["files"], strict=True)):
            return None
        return paths
    except (OSError, ValueError, KeyError, TypeError):
        return None
