"""Incremental reading of TensorBoard event files: a later read costs only the bytes a file gained since the last.

A sweep's event files grow while it trains and stay as they are once it ends, so a repeated ``collect`` (or each
redraw of ``status --watch``) would read the same bytes again and again. :class:`EventCache` keeps, per event file,
the points decoded so far and where the reading stopped (``end``: just after the last complete valid record), and
then reads a file that grew from ``end`` on, and a file that did not change not at all.

A cache must never give a wrong value, so whatever looks odd means a reread from byte 0:

* same size, ``mtime_ns``, inode and device, and the hash of the (up to 4 KiB) bytes before ``end`` unchanged: the
  cached points, no event read;
* same inode and device, size grown, tail hash unchanged: only the bytes from ``end`` are read, and their points
  merged after the cached ones (later records win ties, as in one read of the whole file);
* anything else (shrunk, replaced: another inode, tail hash changed: rewritten in place, same size with another
  mtime, a missing, unreadable, truncated or older-format cache entry): the whole file again.

Modification times are compared for equality only, never ordered or held against the clock: another node's clock
may run behind. The tail hash is checked even when size and mtime agree, so a rewrite within one mtime tick is
caught where its last bytes differ. A truncated last record (a writer mid-write) ends the read before it and is read
again next time from its start; a CRC mismatch ends it likewise, and its warning comes back with every read.

An entry is one file, ``<blake2b of the path and tag filter>.evc``, written atomically: the magic ``MAGIC``, a
little-endian uint32 format version and header length, a JSON header (the file's identity, ``end``, record count,
tail hash, warnings, declared scalar tags, and per series its tag, kind, length and dtypes), zero padding to 8 bytes,
then per series its steps, values and wall times back to back, each padded to 8 bytes. Steps are stored as int32
where they fit and values as float32 where the float64 round trip is bit-exact (NaN payloads and -0.0 included);
wall times stay float64. Loading is one ``read()`` and ``np.frombuffer`` views.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from hpc_sweep.atomic import write_bytes_atomic
from hpc_sweep.collect.tfevents.reader import (
    EventChunk,
    EventReadResult,
    Parts,
    ScalarSeries,
    file_warnings,
    merge_parts,
    merge_results,
    read_event_chunk,
    read_event_file,
)

MAGIC = b"hpc_sweep.evcache"
VERSION = 1
TAIL = 4096  # bytes before ``end`` whose hash tells a file rewritten in place
_PREFIX = struct.Struct("<II")  # format version, header length
_SUFFIX = ".evc"


class FileKey(NamedTuple):
    """What ``stat`` tells of a file cheaply: equal keys mean (nearly always) unchanged content."""

    size: int
    mtime_ns: int
    ino: int
    dev: int


def file_key(path: Path) -> FileKey | None:
    """A file's (size, mtime_ns, inode, device), or None when it cannot be stat-ed.

    For fingerprints of a run's files (has anything changed since the last look?). Compare keys for equality only:
    mtimes come from the clock of whichever node wrote, so their order means nothing.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    return FileKey(st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


@dataclass
class _Entry:
    """What the cache keeps of one event file: its identity when read, where reading stopped, and the points."""

    path: str
    key: FileKey
    tags: list[str] | None
    end: int = 0
    records: int = 0
    tail: str = ""
    problem: str | None = None
    damaged: bool = False
    notes: list[str] = field(default_factory=list)
    declared: set[str] = field(default_factory=set)
    series: dict[str, ScalarSeries] = field(default_factory=dict)  # the tags counted as scalars (compact dtypes)
    pending: dict[str, ScalarSeries] = field(default_factory=dict)  # tensor points of tags not declared scalars yet

    def result(self, name: str) -> EventReadResult:
        """The file's result as :func:`read_event_file` gives it, in the promised dtypes (fresh arrays)."""
        scalars = {
            tag: ScalarSeries(
                np.array(s.step, dtype=np.int64), np.array(s.value, dtype=np.float64), np.array(s.wall_time)
            )
            for tag, s in self.series.items()
        }
        return EventReadResult(scalars=scalars, warnings=file_warnings(name, self.problem, self.notes))


class EventCache:
    """Event files read incrementally, the decoded points kept in ``directory`` (or in memory when None).

    Picklable, to go to worker processes: give each worker different runs (so different files); atomic writes are
    the only locking. ``tags`` limits what is decoded and kept, as :func:`read_event_file`'s ``tags``.
    ``bytes_read`` counts the event bytes read and decoded by this object (not the <= 4 KiB tail checks).
    """

    def __init__(self, directory: Path | None, tags: Collection[str] | None = None) -> None:
        self.directory = None if directory is None else Path(directory)
        self.tags = None if tags is None else sorted(set(tags))
        self.bytes_read = 0
        self._memory: dict[str, _Entry] = {}

    def read(self, paths: Sequence[Path]) -> EventReadResult:
        """Exactly :func:`read_event_files` of ``paths``: unchanged files from the cache, grown ones from their end."""
        return merge_results([self._read_file(Path(path)) for path in paths])

    def _read_file(self, path: Path) -> EventReadResult:
        absolute = os.path.abspath(path)
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below; one handle for the checks and the read
        except OSError:
            return read_event_file(path, self.tags)  # its "unreadable" warning, exactly
        with handle:
            st = os.fstat(handle.fileno())
            key = FileKey(st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
            entry = self._load(absolute)
            start = _resume_at(entry, key, handle)
            if start is None and entry is not None:
                return entry.result(str(path))
            if entry is None or not start:
                entry = _Entry(absolute, key, self.tags)
            chunk = read_event_chunk(path, self.tags, entry.end, entry.records, handle)
            self.bytes_read += chunk.bytes_read
            if chunk.unreadable:
                return EventReadResult(warnings=file_warnings(str(path), chunk.problem, []))
            new = _extend(entry, chunk, key)
            if new is None:  # a tag declared now whose earlier points need the whole file's record order
                chunk = read_event_chunk(path, self.tags, 0, 0, handle)
                self.bytes_read += chunk.bytes_read
                new = _extend(_Entry(absolute, key, self.tags), chunk, key)
            assert new is not None  # a first chunk always extends an empty entry
            new.tail = _tail_hash(handle, new.end) or ""
        self._store(new)
        return new.result(str(path))

    def _entry_path(self, absolute: str) -> Path:
        assert self.directory is not None
        digest = hashlib.blake2b(f"{absolute}\0{self.tags}".encode(), digest_size=16).hexdigest()
        return self.directory / f"{digest}{_SUFFIX}"

    def _load(self, absolute: str) -> _Entry | None:
        if self.directory is None:
            entry = self._memory.get(absolute)
        else:
            try:
                entry = decode_entry(self._entry_path(absolute).read_bytes())
            except OSError:
                return None
        if entry is None or entry.path != absolute or entry.tags != self.tags:
            return None
        return entry

    def _store(self, entry: _Entry) -> None:
        if self.directory is None:
            self._memory[entry.path] = entry
            return
        with contextlib.suppress(OSError):  # a cache that cannot be written costs speed, never a result
            write_bytes_atomic(self._entry_path(entry.path), encode_entry(entry), durable=False)


def _resume_at(entry: _Entry | None, key: FileKey, handle: BinaryIO) -> int | None:
    """Where to read the file from: None for nowhere (unchanged), the entry's ``end`` (grown), 0 (anything else)."""
    if entry is None or (entry.key.ino, entry.key.dev) != (key.ino, key.dev):
        return 0
    if key.size < entry.key.size or key.size < entry.end:
        return 0
    if key.size == entry.key.size and key.mtime_ns != entry.key.mtime_ns:
        return 0
    if _tail_hash(handle, entry.end) != entry.tail:
        return 0
    return None if key.size == entry.key.size else entry.end


def _tail_hash(handle: BinaryIO, end: int) -> str | None:
    """The hash of the (up to ``TAIL``) bytes before ``end``; None when the file no longer has them."""
    size = min(end, TAIL)
    try:
        data = os.pread(handle.fileno(), size, end - size)
    except OSError:
        return None
    return hashlib.blake2b(data, digest_size=16).hexdigest() if len(data) == size else None


def _block(series: ScalarSeries) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cached points as a merge part whose order keys come before every record of a new chunk (all >= 0)."""
    order = np.arange(-series.step.size, 0, dtype=np.int64)
    return order, series.step.astype(np.int64), series.value.astype(np.float64), series.wall_time


def _extend(entry: _Entry, chunk: EventChunk, key: FileKey) -> _Entry | None:
    """The entry with the chunk's points merged after its own; None when only a whole reread can be exact.

    That case: a tag declared a scalar in this chunk for the first time with both simple points and undeclared tensor
    points cached; their merge order needs record numbers the cache does not keep (never seen in practice).
    """
    declared = entry.declared | chunk.declared
    newly = chunk.declared - entry.declared
    if any(tag in entry.pending and tag in entry.series for tag in newly):
        return None
    series, pending = dict(entry.series), dict(entry.pending)
    counted: dict[str, Parts] = {}
    for tag, parts in chunk.simple.items():
        counted.setdefault(tag, []).extend(parts)
    for tag, parts in chunk.tensor.items():
        if tag in declared:
            counted.setdefault(tag, []).extend(parts)
        else:
            old = [_block(pending[tag])] if tag in pending else []
            pending[tag] = _compact(merge_parts(old + parts))
    for tag in newly & pending.keys():
        series[tag] = pending.pop(tag)
    for tag, parts in counted.items():
        old = [_block(series[tag])] if tag in series else []
        series[tag] = _compact(merge_parts(old + parts))
    return _Entry(
        path=entry.path,
        key=key,
        tags=entry.tags,
        end=chunk.end,
        records=chunk.records,
        problem=chunk.problem,
        damaged=chunk.damaged,
        notes=entry.notes + chunk.notes,
        declared=declared,
        series=series,
        pending=pending,
    )


def _compact(series: ScalarSeries) -> ScalarSeries:
    """The same points in the smallest dtypes that keep them bit for bit (int32 steps, float32 values)."""
    step, value = series.step, series.value
    if step.size and step.dtype != np.int32 and int(step.min()) >= -(2**31) and int(step.max()) < 2**31:
        step = step.astype(np.int32)
    if value.dtype != np.float32:
        narrow = value.astype(np.float32)
        if np.array_equal(narrow.astype(np.float64).view(np.uint64), value.astype(np.float64).view(np.uint64)):
            value = narrow
    return ScalarSeries(step, value, series.wall_time.astype(np.float64, copy=False))


def encode_entry(entry: _Entry) -> bytes:
    """An entry as bytes (see the module docstring for the layout)."""
    arrays: list[np.ndarray] = []
    listed = []
    for kind, group in (("s", entry.series), ("p", entry.pending)):
        for tag, s in group.items():
            listed.append([kind, tag, int(s.step.size), s.step.dtype.str, s.value.dtype.str])
            arrays += [s.step, s.value, s.wall_time.astype("<f8")]
    header = {
        "path": entry.path,
        "key": list(entry.key),
        "tags": entry.tags,
        "end": entry.end,
        "records": entry.records,
        "tail": entry.tail,
        "problem": entry.problem,
        "damaged": entry.damaged,
        "notes": entry.notes,
        "declared": sorted(entry.declared),
        "series": listed,
    }
    text = json.dumps(header).encode()
    parts = [MAGIC, _PREFIX.pack(VERSION, len(text)), text]
    parts.append(b"\0" * (-sum(map(len, parts)) % 8))
    for array in arrays:
        raw = np.ascontiguousarray(array).tobytes()
        parts += [raw, b"\0" * (-len(raw) % 8)]
    return b"".join(parts)


def decode_entry(data: bytes) -> _Entry | None:
    """An entry from :func:`encode_entry`'s bytes; None for anything else (garbage, truncated, another version)."""
    try:
        return _decode(data)
    except Exception:  # a damaged entry is a cache miss, whatever it holds
        return None


def _decode(data: bytes) -> _Entry | None:
    if not data.startswith(MAGIC):
        return None
    version, length = _PREFIX.unpack_from(data, len(MAGIC))
    if version != VERSION:
        return None
    at = len(MAGIC) + _PREFIX.size
    header = json.loads(data[at : at + length])
    at += length
    at += -at % 8
    groups: dict[str, dict[str, ScalarSeries]] = {"s": {}, "p": {}}
    for kind, tag, count, step_dtype, value_dtype in header["series"]:
        arrays = []
        for dtype in (step_dtype, value_dtype, "<f8"):
            if dtype not in ("<i4", "<i8", "<f4", "<f8"):
                return None
            size = count * np.dtype(dtype).itemsize
            if at + size > len(data):
                return None
            arrays.append(np.frombuffer(data, dtype=dtype, count=count, offset=at))
            at += size + (-size % 8)
        groups[kind][tag] = ScalarSeries(*arrays)
    if at != len(data):
        return None
    return _Entry(
        path=header["path"],
        key=FileKey(*(int(k) for k in header["key"])),
        tags=header["tags"],
        end=int(header["end"]),
        records=int(header["records"]),
        tail=str(header["tail"]),
        problem=header["problem"],
        damaged=bool(header["damaged"]),
        notes=[str(note) for note in header["notes"]],
        declared=set(header["declared"]),
        series=groups["s"],
        pending=groups["p"],
    )
