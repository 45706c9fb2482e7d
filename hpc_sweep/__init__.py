"""hpc_sweep: multi-seed and hyperparameter sweeps of Isaac Lab / RSL-RL training, from plan to trustworthy results.

The package reads in one direction: ``spec`` (what was asked) -> ``launch`` (where runs go) -> ``job`` (what runs
inside one job) -> ``collect`` (what the runs left behind) -> ``analyse`` (numbers) -> ``report`` (files, tables,
figures). ``cli`` is a thin layer on top.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pandas as pd

__version__ = "0.1.0"


def load_metrics(
    path: str | Path,
    runs: Iterable[str] | None = None,
    tags: Iterable[str] | None = None,
    metrics: Iterable[str] | None = None,
) -> pd.DataFrame:
    """The tidy metrics table (``run_id, seed, group, <grid keys>, tag, metric, step, value, wall_time``) of a sweep
    or log tree, optionally only some run ids, tags or canonical metrics (``mean_reward``...).

    Where ``hpc-sweep collect`` wrote ``metrics.parquet`` (in ``path``, or ``path`` is it), that table is read, and
    only the parts a filter asks for; run ``collect`` again first for runs still in progress. Anywhere else every
    run is read from its logs. Imported lazily so that ``import hpc_sweep`` stays light on compute nodes.
    """
    from hpc_sweep.collect.discover import METRICS_DIR

    path = Path(path)
    dataset = path if path.name == METRICS_DIR else path / METRICS_DIR
    if dataset.is_dir():
        from hpc_sweep.report.metrics_table import read_metrics

        return read_metrics(dataset, runs, tags, metrics)
    from hpc_sweep.collect.results import load_metrics as _load_metrics

    frame = _load_metrics(path)
    for column, wanted in (("run_id", runs), ("tag", tags), ("metric", metrics)):
        if wanted is not None:
            frame = frame[frame[column].isin([str(v) for v in wanted])]
    return frame.reset_index(drop=True)
