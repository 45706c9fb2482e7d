"""Public API of the event reader: every scalar point of one or several event files, per tag, in step order.

Ties the layers together: :mod:`.framing` finds the records, :mod:`.decode` assigns templates and decodes them (CRC
checked by :mod:`.crc`), and the points are filed per tag and merged (one point per step, the latest wall time
winning). See the package docstring for why this is exact and how it is fast.

:func:`read_event_chunk` reads a file from any record boundary on, and tells where the next read should begin (just
after the last complete valid record): what :class:`hpc_sweep.collect.event_cache.EventCache` builds on to read only
the bytes a growing file gained.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import crc32c
import numpy as np

from hpc_sweep.collect.tfevents.crc import mask
from hpc_sweep.collect.tfevents.decode import assign_templates, decode_fast, decode_slow, has_summary
from hpc_sweep.collect.tfevents.framing import frame_records, read_buffer, read_handle, word_views
from hpc_sweep.collect.tfevents.templates import Template

EVENT_PREFIX = "events.out.tfevents."

Parts = list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]  # (order key, step, value, wall time) pieces


@dataclass
class ScalarSeries:
    """One tag's points, in step order with unique steps."""

    step: np.ndarray  # int64, ascending, unique
    value: np.ndarray  # float64
    wall_time: np.ndarray  # float64, seconds since the epoch


@dataclass
class EventReadResult:
    """Scalars per tag, and one warning line per problem met (each names its file)."""

    scalars: dict[str, ScalarSeries] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def iter_event_files(run_dir: Path) -> list[Path]:
    """The event files directly in ``run_dir``, in name order (TensorBoard names sort by creation time)."""
    try:
        entries = list(os.scandir(run_dir))
    except OSError:
        return []
    return sorted(Path(e.path) for e in entries if e.name.startswith(EVENT_PREFIX) and e.is_file())


@dataclass
class EventChunk:
    """What one read of an event file from byte ``start`` on found, as pieces not yet filed per tag.

    Kept apart from :class:`EventReadResult` so that an incremental reader (:mod:`hpc_sweep.collect.event_cache`) can
    join successive chunks exactly as one read of the whole file joins them: a tensor-typed point counts only once
    some record of the file declares its tag a scalar, and that record may lie in an earlier chunk. Order keys in
    ``simple`` and ``tensor`` are record numbers within the chunk.
    """

    start: int  # the file offset the read began at (a record boundary)
    end: int  # just after the last complete valid record: where the next read begins
    records: int  # complete valid records before ``end``, counting the ``records_before`` given
    simple: dict[str, Parts] = field(default_factory=dict)  # simple_value points per tag
    tensor: dict[str, Parts] = field(default_factory=dict)  # tensor-typed scalar points per tag, declared or not
    declared: set[str] = field(default_factory=set)  # tags some record of the chunk declares the scalars plugin's
    problem: str | None = None  # what ended the read (a warning without the file name), None for a clean end
    notes: list[str] = field(default_factory=list)  # records skipped on the way (warnings without the file name)
    damaged: bool = False  # the read ended on a CRC mismatch (bytes wrong) rather than at the end or a cut record
    unreadable: bool = False  # the file could not be opened or read at all
    bytes_read: int = 0  # bytes of the file read and decoded


def read_event_file(path: Path, tags: Collection[str] | None = None) -> EventReadResult:
    """Every scalar point of one event file (only ``tags`` when given), per tag in step order."""
    return chunk_result(read_event_chunk(path, tags), str(path))


def chunk_result(chunk: EventChunk, name: str) -> EventReadResult:
    """A chunk read from byte 0 as a file's result: tensor points of declared tags join, the rest drop."""
    scalars = {}
    for tag in [*chunk.simple, *(t for t in chunk.tensor if t in chunk.declared and t not in chunk.simple)]:
        parts = chunk.simple.get(tag, []) + (chunk.tensor.get(tag, []) if tag in chunk.declared else [])
        scalars[tag] = merge_parts(parts)
    return EventReadResult(scalars=scalars, warnings=file_warnings(name, chunk.problem, chunk.notes))


def file_warnings(name: str, problem: str | None, notes: Sequence[str]) -> list[str]:
    """A file's warning lines: what ended its read first, then the records skipped, each naming the file."""
    return [f"{name}: {line}" for line in ([problem] if problem else []) + list(notes)]


def read_event_chunk(
    path: Path,
    tags: Collection[str] | None = None,
    start: int = 0,
    records_before: int = 0,
    handle: BinaryIO | None = None,
) -> EventChunk:
    """The records of an event file from byte ``start`` (a record boundary) to its end, through ``handle`` if given.

    From a record boundary this finds exactly the records a read of the whole file finds after it, with the same
    warnings: byte offsets are the file's, and ``records_before`` (the complete valid records before ``start``) makes
    the count of records kept before a problem the whole file's.
    """
    try:
        if handle is None:
            buf, n = read_buffer(Path(path), start)
        else:
            buf, n = read_handle(handle, start)
    except OSError as error:
        problem = f"unreadable ({error.strerror or error}); skipped"
        return EventChunk(start, start, records_before, problem=problem, unreadable=True)
    if n == 0:
        problem = "empty file (no records)" if start == 0 else None
        return EventChunk(start, start, records_before, problem=problem)
    wanted = None if tags is None else set(tags)
    u64, u32 = word_views(buf, n)
    found = frame_records(buf, n, u64, u32, base=start)
    starts, lengths, problem = found.starts, found.lengths, found.problem
    data_at = starts + 12
    tid, templates = assign_templates(buf, data_at, lengths, u64)
    fast = np.flatnonzero(tid >= 0)
    slow = np.flatnonzero(tid < 0)
    crc_ok = np.ones(starts.size, dtype=bool)
    if fast.size:
        crc_ok[fast], step, value, wall = decode_fast(data_at[fast], lengths[fast], tid[fast], templates, u64)
    for index in slow.tolist():
        at, size = int(data_at[index]), int(lengths[index])
        crc_ok[index] = mask(crc32c.crc32c(bytes(buf[at : at + size]))) == int(u32[at + size])
    cut = starts.size
    damaged = found.damaged
    if not crc_ok.all():
        cut = int(np.argmin(crc_ok))
        problem = f"CRC mismatch in the record data at byte {start + int(starts[cut])}"
        damaged = True
    kept = records_before + cut
    if problem is not None:
        problem += f"; kept the {kept} records before it" if kept else "; no complete valid record: not an event file?"
    end = start + (int(starts[cut - 1] + lengths[cut - 1]) + 16 if cut else 0)
    chunk = EventChunk(start, end, kept, problem=problem, damaged=damaged, bytes_read=n)
    if fast.size:
        decoded = (fast, tid[fast], step, value, wall)
        _collect_fast(decoded, cut, templates, wanted, chunk.simple, chunk.tensor, chunk.declared)
    slow_points: dict[tuple[str, bool], list[tuple[int, int, float, float]]] = {}
    for index in slow[slow < cut].tolist():
        at, size = int(data_at[index]), int(lengths[index])
        record = bytes(buf[at : at + size])
        if not has_summary(record):
            continue
        try:
            points, declared = decode_slow(record)
        except Exception as error:  # a CRC-valid record that is not an Event: foreign data
            chunk.notes.append(f"undecodable record at byte {start + at - 12} ({type(error).__name__}); skipped")
            continue
        chunk.declared.update(tag for tag, plugin in declared if plugin == "scalars")
        for tag, step_, value_, wall_, is_tensor in points:
            if wanted is None or tag in wanted:
                slow_points.setdefault((tag, is_tensor), []).append((index, step_, value_, wall_))
    for (tag, is_tensor), items in slow_points.items():
        order = np.array([item[0] for item in items], dtype=np.int64)
        steps = np.array([item[1] for item in items], dtype=np.int64)
        values = np.array([item[2] for item in items], dtype=np.float64)
        walls = np.array([item[3] for item in items], dtype=np.float64)
        (chunk.tensor if is_tensor else chunk.simple).setdefault(tag, []).append((order, steps, values, walls))
    return chunk


def _collect_fast(
    decoded: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    cut: int,
    templates: list[Template],
    wanted: set[str] | None,
    parts: dict[str, Parts],
    tensor_parts: dict[str, Parts],
    scalar_tags: set[str],
) -> None:
    """File the decoded template records (record, template, step, value, wall) before ``cut`` under their tags."""
    keep = int(np.searchsorted(decoded[0], cut))
    record, t, step, value, wall = (array[:keep] for array in decoded)
    if not record.size:
        return
    present = np.zeros(len(templates), dtype=bool)
    present[t] = True
    scalar_tags.update(templates[k].tag for k in np.flatnonzero(present).tolist() if templates[k].plugin == "scalars")
    names = sorted({(tp.tag, tp.is_tensor) for tp in templates if wanted is None or tp.tag in wanted})
    if not names:
        return
    number = {key: i for i, key in enumerate(names)}
    key = np.array([number.get((tp.tag, tp.is_tensor), len(names)) for tp in templates], dtype=np.int64)[t]
    key = key.astype(np.uint16) if len(names) < 65535 else key
    order = np.argsort(key, kind="stable")
    key = key[order]
    record, step, value, wall = record[order], step[order], value[order], wall[order]
    edges = [0, *(np.flatnonzero(key[1:] != key[:-1]) + 1).tolist(), key.size]
    for a, b in itertools.pairwise(edges):
        if int(key[a]) == len(names):
            continue  # a tag not asked for
        tag, is_tensor = names[int(key[a])]
        target = tensor_parts if is_tensor else parts
        target.setdefault(tag, []).append((record[a:b], step[a:b], value[a:b], wall[a:b]))


def merge_parts(parts: Parts) -> ScalarSeries:
    """Join (order key, step, value, wall time) parts into one series: step order, one point per step.

    A repeated step keeps the point with the latest wall time (a restarted writer rewrites steps), ties going to the
    larger order key (the later record). The common case, one part in strictly increasing step order, costs one
    comparison pass.
    """
    if len(parts) == 1:
        order_key, steps, values, walls = parts[0]
    else:
        order_key, steps, values, walls = (np.concatenate([p[k] for p in parts]) for k in range(4))
    steps = steps.astype(np.int64, copy=False)
    values = values.astype(np.float64, copy=False)
    walls = walls.astype(np.float64, copy=False)
    if steps.size > 1 and not (steps[1:] > steps[:-1]).all():
        order = np.lexsort((order_key, walls, steps))
        steps, values, walls = steps[order], values[order], walls[order]
        last = np.ones(steps.size, dtype=bool)
        last[:-1] = steps[1:] != steps[:-1]
        steps, values, walls = steps[last], values[last], walls[last]
    return ScalarSeries(step=steps, value=values, wall_time=walls)


def read_event_files(paths: Sequence[Path], tags: Collection[str] | None = None) -> EventReadResult:
    """Several event files of one run (or of a run's attempts) merged per tag in step order.

    Where a step appears more than once (a restarted writer, a resumed attempt), the record with the latest wall time
    wins, ties going to the later file, so later attempts replace what they redid.
    """
    return merge_results([read_event_file(path, tags) for path in paths])


def merge_results(results: Sequence[EventReadResult]) -> EventReadResult:
    """The results of a run's files, in file order, merged as :func:`read_event_files` merges them."""
    if len(results) == 1:
        return results[0]
    merged: dict[str, Parts] = {}
    warnings: list[str] = []
    offset = 0
    for result in results:
        warnings += result.warnings
        for tag, series in result.scalars.items():
            order = offset + np.arange(series.step.size, dtype=np.int64)
            merged.setdefault(tag, []).append((order, series.step, series.value, series.wall_time))
            offset += series.step.size
    return EventReadResult(scalars={tag: merge_parts(parts) for tag, parts in merged.items()}, warnings=warnings)
