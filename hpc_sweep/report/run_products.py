"""One run's outputs, made once and kept: its part of ``metrics.parquet``, its ``training_results.json`` record and
its :class:`~hpc_sweep.analyse.run_summary.RunSummary`.

``collect`` streams runs through :func:`produce_all`: a run whose outputs are cached is looked up, any other is read
by :func:`produce` in a worker process, its outputs written to the collect cache and only its small summary sent
back, so memory holds one run's points at a time. A run's outputs are remade only when its inputs changed: its
:func:`fingerprint` covers what it is (id, seed, group, grid point, state and reason, what discovery noticed) and
every file it is read from (event files, params, summaries, console logs: path, size, mtime, inode). When they did
change, its event files are read through the :class:`~hpc_sweep.collect.event_cache.EventCache`, so a growing file
costs only its new bytes.

The cache (``<output dir>/.hpc_sweep_cache/`` unless ``--cache DIR``): ``events/`` (decoded event files) and
``runs/<key>.*``: ``.parquet`` (the run's part, hard-linked into ``metrics.parquet/``), ``.record.json`` (its record,
ready to be spliced into ``training_results.json``), ``.digests.bin`` (its curve digests) and ``.meta.json`` (its
fingerprint and summary), written last, so that a run whose writing was cut short is remade. Deleting the cache
costs one full read, never a wrong value.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from hpc_sweep.analyse.digest import FIGURE_BINS, CurveDigest, digest_curve
from hpc_sweep.analyse.env_steps import steps_per_iteration
from hpc_sweep.analyse.results import RESULT_METRIC, counts_in_statistics, experiment_record
from hpc_sweep.analyse.run_summary import RunSummary
from hpc_sweep.atomic import write_bytes_atomic
from hpc_sweep.collect.discover import RunSource
from hpc_sweep.collect.event_cache import EventCache
from hpc_sweep.collect.metrics import RESULT_METRICS
from hpc_sweep.collect.results import RunData, map_runs, read_run
from hpc_sweep.report.metrics_table import run_table, write_run_file
from hpc_sweep.runstate import RunState

if TYPE_CHECKING:
    from rich.console import Console

CACHE_DIR = ".hpc_sweep_cache"
#: Bumped whenever what a run's outputs hold changes, so that older cached outputs are remade.
PRODUCT_VERSION = 7
JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
#: Bins of a run's curve digests: as many as the figure draws across a panel (a run's digest then has the bins of the
#: panel's band whenever it spans the panel, so the figure needs no rebinning), and no more.
DIGEST_POINTS = FIGURE_BINS
_LISTS = ("_progression", "_steps")


@dataclass(frozen=True)
class ProductCache:
    """Where runs' outputs are kept (``runs/``) and their decoded event files (``events/``)."""

    root: Path

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    def events(self) -> EventCache:
        return EventCache(self.root / "events")

    def part(self, key: str) -> Path:
        return self.runs / f"{key}.parquet"

    def record(self, key: str) -> Path:
        return self.runs / f"{key}.record.json"

    def digests(self, key: str) -> Path:
        return self.runs / f"{key}.digests.bin"

    def prune(self, keep: set[str]) -> None:
        """Remove the stored outputs of runs not in ``keep`` (runs gone from the tree, or kept by an older version
        of hpc_sweep under other keys): without this the cache of a sweep collected across upgrades grows by a copy
        of its results each time. A run pruned by mistake is only read again."""
        try:
            names = os.listdir(self.runs)
        except OSError:
            return
        for name in names:
            if not name.startswith(".") and name.split(".", 1)[0] not in keep:
                with contextlib.suppress(OSError):
                    os.unlink(self.runs / name)


def run_key(source: RunSource) -> str:
    """A stable file name for a run: a hash of its id and where its files are."""
    where = [str(p) for p in (*source.log_dirs, *source.console_logs)]
    return hashlib.blake2b(json.dumps([source.run_id, where]).encode(), digest_size=12).hexdigest()


def stat_key(path: Path) -> list[Any]:
    """A file's path, size, mtime and inode (``[path, None]`` when it cannot be stat-ed)."""
    try:
        st = os.stat(path)
    except OSError:
        return [str(path), None]
    return [str(path), st.st_size, st.st_mtime_ns, st.st_ino]


def _files_of(log_dir: Path) -> list[Path]:
    """The files a run dir's outputs depend on: its own files (events, summaries, logs) and its params."""
    found = []
    for folder in (log_dir, log_dir / "params"):
        try:
            found += sorted(Path(e.path) for e in os.scandir(folder) if e.is_file())
        except OSError:
            continue
    return found


def fingerprint(source: RunSource, keys: list[str]) -> str:
    """What a run's outputs depend on, hashed (see the module docstring)."""
    inputs = {
        "version": PRODUCT_VERSION,
        "keys": keys,
        "run": [source.run_id, source.seed, source.group, str(source.status), source.error, source.warnings],
        "info": source.info,
        "files": [stat_key(p) for d in source.log_dirs for p in _files_of(d)],
        "logs": [stat_key(p) for p in source.console_logs],
    }
    text = json.dumps(inputs, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def cached(source: RunSource, keys: list[str], cache: ProductCache) -> tuple[str, RunSummary | None]:
    """A run's key, and its summary when the cache holds its outputs for its inputs as they are now (else None)."""
    key = run_key(source)
    return key, _load(cache, key, fingerprint(source, keys))


def produce_all(
    sources: list[RunSource],
    keys: list[str],
    cache: ProductCache,
    console: Console | None = None,
    on_cached: Callable[[list[tuple[str, RunSummary]]], None] | None = None,
) -> list[tuple[str, RunSummary]]:
    """Every run's key and summary, in the order of ``sources``: the cached ones looked up here (a stat of each
    file and one small read per run), only the others read in worker processes (:func:`map_runs`). ``on_cached``
    gets the cached ones before the others are read (the figure's process loads their digests meanwhile)."""
    looked = [cached(source, keys, cache) for source in sources]
    ready = [(key, summary) for key, summary in looked if summary is not None]
    if on_cached is not None:
        on_cached(ready)
    stale = [source for source, (_, summary) in zip(sources, looked, strict=True) if summary is None]
    made = iter(map_runs(partial(produce, keys=keys, cache=cache), stale, console))
    return [(key, summary) if summary is not None else next(made) for key, summary in looked]


def produce(source: RunSource, keys: list[str], cache: ProductCache) -> tuple[str, RunSummary]:
    """A run's key and summary: from the cache when its inputs are unchanged, else read and stored anew. The summary
    travels without its curve digests (:func:`load_curves` reads them where a figure is drawn)."""
    key, stamp = run_key(source), fingerprint(source, keys)
    cached_summary = _load(cache, key, stamp)
    if cached_summary is not None:
        return key, cached_summary
    guessed = source.status == RunState.UNKNOWN
    data = read_run(source, cache.events())
    # A foreign run judged running because its files changed lately is judged again next time, changed or not.
    volatile = guessed and source.status == RunState.RUNNING
    return key, store_run(data, keys, cache, key, "" if volatile else stamp)


def store_run(data: RunData, keys: list[str], cache: ProductCache, key: str, stamp: str = "") -> RunSummary:
    """Write a read run's outputs to the cache (its part, its record, its digests, then its meta file with
    ``stamp``, the fingerprint a later collect must match to reuse them) and return its summary."""
    source = data.source
    record = experiment_record(data)
    cache.runs.mkdir(parents=True, exist_ok=True)
    write_run_file(cache.part(key), run_table(data, keys))
    write_bytes_atomic(cache.record(key), orjson.dumps(record, default=str, option=JSON_OPTIONS), durable=False)
    series = {metric: data.metric(metric) for metric in RESULT_METRICS}
    curves = {m: digest_curve(*s, max_points=DIGEST_POINTS) for m, s in series.items() if s is not None}
    summary = RunSummary(
        run_id=source.run_id,
        seed=source.seed,
        group=source.group,
        status=str(source.status),
        counted=counts_in_statistics(source.status),
        final_score=_final_score(record),
        steps_per_iteration=steps_per_iteration(data),
        record=slim_record(record),
        warnings=list(data.warnings),
        metrics=list(curves),
    )
    _store(cache, key, stamp, summary, curves)
    return summary


def _final_score(record: dict[str, Any]) -> float:
    score = record.get("final_score")
    return float("nan") if score is None else float(score)


def slim_record(record: dict[str, Any]) -> dict[str, Any]:
    """A record without its per-point lists (``*_progression``, ``*_steps``), plus ``reward_points``: their count."""
    slim = {k: v for k, v in record.items() if not k.endswith(_LISTS)}
    slim["reward_points"] = len(record.get(f"{RESULT_METRIC}_progression") or record.get("reward_progression") or [])
    return slim


def _store(cache: ProductCache, key: str, stamp: str, summary: RunSummary, curves: dict[str, CurveDigest]) -> None:
    """Write the digests, then the meta file that makes the run's outputs count (written last)."""
    write_bytes_atomic(cache.digests(key), digests_bytes(curves), durable=False)
    meta = {k: v for k, v in asdict(summary).items() if k != "curves"}
    meta["final_score"] = None if not np.isfinite(summary.final_score) else summary.final_score
    meta["fingerprint"] = stamp
    meta["stored"] = _stored_keys(cache, key)
    meta_bytes = orjson.dumps(meta, default=str, option=JSON_OPTIONS)
    write_bytes_atomic(cache.runs / f"{key}.meta.json", meta_bytes, durable=False)


def _stored_keys(cache: ProductCache, key: str) -> list[list[Any]]:
    """Size, mtime and inode of the run's stored files: a file damaged or replaced after its meta was written (the
    part is hard-linked into ``metrics.parquet``, where it can be edited) makes the run's outputs be remade."""
    paths = (cache.part(key), cache.record(key), cache.digests(key))
    return [stat_key(path)[1:] for path in paths]


def digests_bytes(curves: dict[str, CurveDigest]) -> bytes:
    """A run's digests as one buffer, read back in one read and without parsing (:func:`load_curves`): the metric
    count, then int64 ``(width, bins)`` per metric, the integer fields stacked (int64, 4 rows), the float fields
    stacked (float64, 3 rows), the metrics' bins one after another in each row."""
    digests = list(curves.values())
    index = np.array([[d.width, d.num_bins] for d in digests], dtype=np.int64).reshape(-1, 2)
    ints = [np.stack([d.bin, d.count, d.low_step, d.high_step]).astype(np.int64) for d in digests]
    floats = [np.stack([d.mean, d.low, d.high]).astype(np.float64) for d in digests]
    parts = [
        np.array([len(digests)], dtype=np.int64),
        index,
        np.concatenate(ints, axis=1) if ints else np.empty((4, 0), np.int64),
        np.concatenate(floats, axis=1) if floats else np.empty((3, 0)),
    ]
    return b"".join(np.ascontiguousarray(part).tobytes() for part in parts)


def load_curves(cache: ProductCache, key: str, metrics: list[str]) -> dict[str, CurveDigest]:
    """The digests :func:`store_run` kept for a run (``metrics``: their names, in the order stored); ValueError when
    the file does not hold them."""
    data = cache.digests(key).read_bytes()
    count = int(np.frombuffer(data, np.int64, 1)[0]) if len(data) >= 8 else -1
    if count != len(metrics):
        raise ValueError(f"{cache.digests(key)}: {count} digests stored, {len(metrics)} expected")
    index = np.frombuffer(data, np.int64, 2 * count, 8).reshape(count, 2)
    total = int(index[:, 1].sum())
    at = 8 * (1 + 2 * count)
    if len(data) != at + 8 * 7 * total:
        raise ValueError(f"{cache.digests(key)}: {len(data)} bytes, not the {at + 56 * total} its index says")
    ints = np.frombuffer(data, np.int64, 4 * total, at).reshape(4, total)
    floats = np.frombuffer(data, np.float64, 3 * total, at + 32 * total).reshape(3, total)
    curves, at = {}, 0
    for metric, (width, size) in zip(metrics, index.tolist(), strict=True):
        part = slice(at, at + size)
        bins, counts, low_step, high_step = ints[:, part]
        mean, low, high = floats[:, part]
        curves[metric] = CurveDigest(width, bins, counts, mean, low, high, low_step, high_step)
        at += size
    return curves


def _load(cache: ProductCache, key: str, stamp: str) -> RunSummary | None:
    """The cached summary of a run whose fingerprint is ``stamp`` and whose outputs are all there, else None."""
    try:
        meta = orjson.loads((cache.runs / f"{key}.meta.json").read_bytes())
        if meta.get("fingerprint") != stamp or meta.get("stored") != _stored_keys(cache, key):
            return None  # inputs changed, or a stored file was changed or lost since
        score = meta["final_score"]
        return RunSummary(
            run_id=meta["run_id"],
            seed=meta["seed"],
            group=meta["group"],
            status=meta["status"],
            counted=meta["counted"],
            final_score=float("nan") if score is None else float(score),
            steps_per_iteration=meta["steps_per_iteration"],
            record=meta["record"],
            warnings=meta["warnings"],
            metrics=meta["metrics"],
        )
    except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None
