"""Public API of the event reader: every scalar point of one or several event files, per tag, in step order.

Ties the layers together: :mod:`.framing` finds the records, :mod:`.decode` assigns templates and decodes them (CRC
checked by :mod:`.crc`), and the points are filed per tag and merged (one point per step, the latest wall time
winning). See the package docstring for why this is exact and how it is fast.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import crc32c
import numpy as np

from hpc_sweep.collect.tfevents.crc import mask
from hpc_sweep.collect.tfevents.decode import assign_templates, decode_fast, decode_slow, has_summary
from hpc_sweep.collect.tfevents.framing import frame, read_buffer, word_views
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


def read_event_file(path: Path, tags: Collection[str] | None = None) -> EventReadResult:
    """Every scalar point of one event file (only ``tags`` when given), per tag in step order."""
    name = str(path)
    try:
        buf, n = read_buffer(Path(path))
    except OSError as error:
        return EventReadResult(warnings=[f"{name}: unreadable ({error.strerror or error}); skipped"])
    if n == 0:
        return EventReadResult(warnings=[f"{name}: empty file (no records)"])
    wanted = None if tags is None else set(tags)
    u64, u32 = word_views(buf, n)
    starts, lengths, problem = frame(buf, n, u64, u32)
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
    if not crc_ok.all():
        cut = int(np.argmin(crc_ok))
        problem = f"CRC mismatch in the record data at byte {int(starts[cut])}"
    warnings = []
    if problem is not None:
        kept = f"kept the {cut} records before it" if cut else "no complete valid record: not an event file?"
        warnings.append(f"{name}: {problem}; {kept}")
    parts: dict[str, Parts] = {}
    tensor_parts: dict[str, Parts] = {}  # tensor points count once the tag is known to be a scalar
    scalar_tags: set[str] = set()  # tags some record of this file declares as the scalars plugin's
    if fast.size:
        decoded = (fast, tid[fast], step, value, wall)
        _collect_fast(decoded, cut, templates, wanted, parts, tensor_parts, scalar_tags)
    slow_points: dict[tuple[str, bool], list[tuple[int, int, float, float]]] = {}
    for index in slow[slow < cut].tolist():
        at, size = int(data_at[index]), int(lengths[index])
        record = bytes(buf[at : at + size])
        if not has_summary(record):
            continue
        try:
            points, declared = decode_slow(record)
        except Exception as error:  # a CRC-valid record that is not an Event: foreign data
            warnings.append(f"{name}: undecodable record at byte {at - 12} ({type(error).__name__}); skipped")
            continue
        scalar_tags.update(tag for tag, plugin in declared if plugin == "scalars")
        for tag, step, value, wall, is_tensor in points:
            if wanted is None or tag in wanted:
                slow_points.setdefault((tag, is_tensor), []).append((index, step, value, wall))
    for (tag, is_tensor), items in slow_points.items():
        order = np.array([item[0] for item in items], dtype=np.int64)
        steps = np.array([item[1] for item in items], dtype=np.int64)
        values = np.array([item[2] for item in items], dtype=np.float64)
        walls = np.array([item[3] for item in items], dtype=np.float64)
        (tensor_parts if is_tensor else parts).setdefault(tag, []).append((order, steps, values, walls))
    for tag, items in tensor_parts.items():
        if tag in scalar_tags:
            parts.setdefault(tag, []).extend(items)
    return EventReadResult(scalars={tag: _merge(items) for tag, items in parts.items()}, warnings=warnings)


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


def _merge(parts: Parts) -> ScalarSeries:
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
    if len(paths) == 1:
        return read_event_file(paths[0], tags)
    merged: dict[str, Parts] = {}
    warnings: list[str] = []
    offset = 0
    for path in paths:
        result = read_event_file(path, tags)
        warnings += result.warnings
        for tag, series in result.scalars.items():
            order = offset + np.arange(series.step.size, dtype=np.int64)
            merged.setdefault(tag, []).append((order, series.step, series.value, series.wall_time))
            offset += series.step.size
    return EventReadResult(scalars={tag: _merge(parts) for tag, parts in merged.items()}, warnings=warnings)
