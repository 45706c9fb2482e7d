"""The collector's two tidy tables, the one interchange format between collection and analysis (as tbparse's).

``metrics_frame`` (long, one row per logged point):

=============  =======  ==========================================================================
column         dtype    meaning
=============  =======  ==========================================================================
run_id         str      the run (a sweep's ``0000``, or the run dir's path inside a log tree)
seed           int      the run's seed (None when neither name nor ``params/agent.yaml`` says)
group          str      the configuration the run belongs to
<grid key>     str      one column per grid key of the sweep (``agent.algorithm.learning_rate``...)
tag            str      the TensorBoard tag as logged (``Loss/value`` in rsl-rl 3, ...)
metric         str      its canonical metric (``value_function``), empty for tags without one
step           int64    the iteration
value          float64  the value as logged (NaN and inf kept)
wall_time      float64  seconds since the epoch when logged (NaN for text sources)
=============  =======  ==========================================================================

``runs_frame`` (one row per run): ``run_id, experiment_id, seed, group, <grid keys>, task, state, error,
data_source, attempts, duration_minutes, log_dirs, console_logs`` (paths as lists of strings).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hpc_sweep.collect.metrics import canonical_metric

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pandas as pd

    from hpc_sweep.collect.discover import RunSource
    from hpc_sweep.collect.results import RunData

METRIC_COLUMNS = ["run_id", "seed", "group", "tag", "metric", "step", "value", "wall_time"]
RUN_COLUMNS = [
    "run_id",
    "experiment_id",
    "seed",
    "group",
    "task",
    "state",
    "error",
    "data_source",
    "attempts",
    "duration_minutes",
    "log_dirs",
    "console_logs",
]


def grid_keys(sources: Iterable[RunSource]) -> list[str]:
    """The grid keys of the runs' points, in first-seen order."""
    keys: dict[str, None] = {}
    for source in sources:
        keys.update(dict.fromkeys(source.info.get("point", {})))
    return list(keys)


def metrics_frame(runs: list[RunData]) -> pd.DataFrame:
    """Every scalar point of every run, long (columns in the module docstring)."""
    import pandas as pd  # imported on use: pandas takes a third of a second to import

    keys = grid_keys(run.source for run in runs)
    columns = [*METRIC_COLUMNS[:3], *keys, *METRIC_COLUMNS[3:]]
    frames = []
    for run in runs:
        point = run.source.info.get("point", {})
        for tag, (steps, values, wall) in run.scalars.items():
            n = steps.size
            identity = {"run_id": run.source.run_id, "seed": run.source.seed, "group": run.source.group}
            identity.update({key: point.get(key) for key in keys})
            frames.append(
                pd.DataFrame(
                    {
                        **{name: np.repeat(value, n) for name, value in identity.items()},
                        "tag": np.repeat(tag, n),
                        "metric": np.repeat(canonical_metric(tag) or "", n),
                        "step": steps.astype(np.int64),
                        "value": values.astype(np.float64),
                        "wall_time": wall.astype(np.float64),
                    }
                )
            )
    if not frames:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in columns})
    return pd.concat(frames, ignore_index=True)[columns]


def runs_frame(runs: list[RunData]) -> pd.DataFrame:
    """One row per run: who it is, how it ended, where its numbers came from and where its files are."""
    import pandas as pd  # imported on use: pandas takes a third of a second to import

    keys = grid_keys(run.source for run in runs)
    rows = []
    for run in runs:
        source, point = run.source, run.source.info.get("point", {})
        rows.append(
            {
                "run_id": source.run_id,
                "experiment_id": source.info.get("experiment_id", source.run_id),
                "seed": source.seed,
                "group": source.group,
                **{key: point.get(key) for key in keys},
                "task": source.info.get("task"),
                "state": str(source.status),
                "error": source.error,
                "data_source": run.data_source,
                "attempts": source.info.get("attempt"),
                "duration_minutes": source.info.get("duration_minutes"),
                "log_dirs": [str(d) for d in source.log_dirs],
                "console_logs": [str(p) for p in source.console_logs],
            }
        )
    columns = [*RUN_COLUMNS[:4], *keys, *RUN_COLUMNS[4:]]
    return pd.DataFrame(rows, columns=columns)
