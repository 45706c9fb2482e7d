"""hpc_sweep: multi-seed and hyperparameter sweeps of Isaac Lab / RSL-RL training, from plan to trustworthy results.

The package reads in one direction: ``spec`` (what was asked) -> ``launch`` (where runs go) -> ``job`` (what runs
inside one job) -> ``collect`` (what the runs left behind) -> ``analyse`` (numbers) -> ``report`` (files, tables,
figures). ``cli`` is a thin layer on top.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__version__ = "0.1.0"


def load_metrics(path: str | Path) -> pd.DataFrame:
    """The tidy metrics table (``run_id, seed, group, tag, metric, step, value, wall_time``) of a sweep or log tree.

    Imported lazily so that ``import hpc_sweep`` stays light on compute nodes (no pandas in the job wrapper).
    """
    from hpc_sweep.collect.results import load_metrics as _load_metrics

    return _load_metrics(Path(path))
