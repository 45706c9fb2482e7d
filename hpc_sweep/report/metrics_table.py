"""``metrics.parquet``: the tidy long table of every logged point, one Parquet file per run, read as one table.

Why a directory of files (``metrics.parquet/part-<run>.parquet``, the layout Spark, Dask and pyarrow write): a
run's points are written once, when that run is read, and a later ``collect`` replaces only the files of runs that
changed, so collecting a 1000-run sweep again costs what the changed runs cost, and memory never holds more than one
run's points. Every reader of the field opens it as one table::

    pandas.read_parquet("metrics.parquet")              pyarrow.dataset.dataset("metrics.parquet")
    polars.scan_parquet("metrics.parquet/*.parquet")    duckdb: SELECT * FROM 'metrics.parquet/*.parquet'

Columns are those of :mod:`hpc_sweep.collect.frames` (``run_id, seed, group, <grid keys>, tag, metric, step, value,
wall_time``). The text columns are dictionary-encoded, ``value`` is float32 (what a TensorBoard scalar summary holds;
a float64 tensor scalar is rounded to float32 here, ``training_results.json`` keeps it whole) and the files are
zstd-compressed. Each file is written atomically. ``metrics.csv`` of every point is opt-in (``--csv``), written from
these files by Arrow's CSV writer, one run at a time.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hpc_sweep.atomic import open_atomic, write_bytes_atomic
from hpc_sweep.collect.discover import METRICS_DIR
from hpc_sweep.collect.metrics import canonical_metric

if TYPE_CHECKING:
    import pandas as pd

    from hpc_sweep.collect.results import RunData

PART_PREFIX = "part-"
_TEXT = pa.dictionary(pa.int32(), pa.string())


def metrics_schema(keys: Sequence[str]) -> pa.Schema:
    """The schema every run's file shares: identity, one dictionary column per grid key, then the points."""
    return pa.schema(
        [
            ("run_id", _TEXT),
            ("seed", pa.int64()),
            ("group", _TEXT),
            *[(key, _TEXT) for key in keys],
            ("tag", _TEXT),
            ("metric", _TEXT),
            ("step", pa.int64()),
            ("value", pa.float32()),
            ("wall_time", pa.float64()),
        ]
    )


def _constant(value: object, n: int) -> pa.DictionaryArray:
    """A dictionary column holding one value (or null) ``n`` times: one dictionary entry, zero-copy indices."""
    if value is None:
        return pa.DictionaryArray.from_arrays(pa.nulls(n, pa.int32()), pa.array([], pa.string()))
    return pa.DictionaryArray.from_arrays(np.zeros(n, dtype=np.int32), pa.array([str(value)], pa.string()))


def run_table(run: RunData, keys: Sequence[str]) -> pa.Table:
    """One run's points as a table of :func:`metrics_schema` (tags in the order read, steps ascending per tag)."""
    tags = list(run.scalars)
    sizes = np.array([run.scalars[tag][0].size for tag in tags], dtype=np.int64)
    n = int(sizes.sum())
    order = np.repeat(np.arange(len(tags), dtype=np.int32), sizes)
    point = run.source.info.get("point", {})
    seed = run.source.seed if isinstance(run.source.seed, int) else None
    columns = [
        _constant(run.source.run_id, n),
        pa.array(np.full(n, seed if seed is not None else 0, dtype=np.int64), mask=np.full(n, seed is None)),
        _constant(run.source.group, n),
        *[_constant(point.get(key), n) for key in keys],
        pa.DictionaryArray.from_arrays(order, pa.array(tags, pa.string())),
        pa.DictionaryArray.from_arrays(order, pa.array([canonical_metric(tag) or "" for tag in tags], pa.string())),
        pa.array(_joined([run.scalars[t][0] for t in tags], np.int64)),
        pa.array(_joined([run.scalars[t][1] for t in tags], np.float32)),
        pa.array(_joined([run.scalars[t][2] for t in tags], np.float64)),
    ]
    return pa.Table.from_arrays(columns, schema=metrics_schema(keys))


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype)


def write_run_file(path: Path, table: pa.Table) -> None:
    """Write one run's table atomically (zstd; the dictionary columns stay dictionaries for every reader)."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    write_bytes_atomic(path, buffer.getvalue())


def part_name(run_key: str) -> str:
    """The file name of a run's part of ``metrics.parquet``."""
    return f"{PART_PREFIX}{run_key}.parquet"


def sync_parts(out: Path, parts: dict[str, Path]) -> Path:
    """Make ``out/metrics.parquet`` hold exactly ``parts`` (file name -> the run's file in the collect cache).

    A part already there as the same file (same inode) is left alone; a new or changed one is hard-linked (copied
    where links are not possible: another filesystem), atomically; parts of runs no longer collected are removed.
    """
    target = Path(out) / METRICS_DIR
    if target.is_file():  # a single-file metrics.parquet of an earlier version
        target.unlink()
    target.mkdir(parents=True, exist_ok=True)
    for name, source in parts.items():
        dest = target / name
        if _same_file(source, dest):
            continue
        tmp = target / f".{name}.{os.getpid()}.tmp"
        tmp.unlink(missing_ok=True)
        try:
            os.link(source, tmp)
        except OSError:
            write_bytes_atomic(tmp, Path(source).read_bytes())
        os.replace(tmp, dest)
    for stale in target.glob(f"{PART_PREFIX}*.parquet"):
        if stale.name not in parts:
            stale.unlink(missing_ok=True)
    return target


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def write_csv(dataset: Path, path: Path) -> Path:
    """``metrics.csv`` of every point, from ``metrics.parquet``, one run file at a time (opt-in: ``--csv``)."""
    import pyarrow.csv as pa_csv

    files = sorted(Path(dataset).glob(f"{PART_PREFIX}*.parquet"))
    with open_atomic(path) as handle:
        writer = None
        for file in files:
            table = pq.read_table(file)
            table = table.cast(pa.schema([pa.field(f.name, _plain(f.type)) for f in table.schema]))
            if writer is None:
                writer = pa_csv.CSVWriter(handle, table.schema)
            writer.write_table(table)
        if writer is not None:
            writer.close()
    return path


def _plain(kind: pa.DataType) -> pa.DataType:
    return pa.string() if pa.types.is_dictionary(kind) else kind


def read_metrics(
    dataset: Path,
    run_ids: Iterable[str] | None = None,
    tags: Iterable[str] | None = None,
    metrics: Iterable[str] | None = None,
) -> pd.DataFrame:
    """``metrics.parquet`` as a DataFrame, reading only the runs, tags or canonical metrics asked for (row groups
    whose statistics exclude them are skipped); text columns come back as strings."""
    import pyarrow.dataset as ds  # imported on use, as it imports pandas

    files = sorted(str(p) for p in Path(dataset).glob(f"{PART_PREFIX}*.parquet"))
    if not files:
        raise FileNotFoundError(f"{dataset} holds no run files")
    dataset_ = ds.dataset(files, format="parquet")
    condition = None
    for column, wanted in (("run_id", run_ids), ("tag", tags), ("metric", metrics)):
        if wanted is None:
            continue
        term = ds.field(column).isin(pa.array([str(v) for v in wanted], pa.string()))
        condition = term if condition is None else condition & term
    table = dataset_.to_table(filter=condition)
    table = table.cast(pa.schema([pa.field(f.name, _plain(f.type)) for f in table.schema]))
    frame = table.to_pandas(types_mapper=None)
    frame["seed"] = frame["seed"].astype("Int64") if frame["seed"].isna().any() else frame["seed"]
    frame["value"] = frame["value"].astype(np.float64)
    return frame
