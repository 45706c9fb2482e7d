"""Reading TensorBoard event files exactly and fast: every scalar point, every record's CRC32C checked.

An event file is a sequence of TFRecords (``uint64 length``, ``uint32 masked crc32c(length)``, ``data``, ``uint32
masked crc32c(data)``) whose data are ``Event`` protobufs. tensorboard's ``EventAccumulator`` keeps only 10,000 points
per tag by default and spends most of its time building protobuf objects. Here the framing is walked in one tight
loop, and the common record shape (``Event{wall_time, step, summary{value{tag, simple_value}}}``, what PyTorch's
``SummaryWriter`` and RSL-RL write) is decoded for all records at once with numpy; anything else (tensor-typed
scalars from ``new_style=True`` or TF2, several values per event) goes through tensorboard's own protobuf classes.

A record that fails its CRC ends the file with a warning (everything before it is kept); a truncated last record
(a job killed mid-write) likewise; a foreign or unreadable file gives a warning and no data. Imports only numpy,
crc32c and (lazily) tensorboard's protos, so collection stays light.
"""

from __future__ import annotations

import struct
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

EVENT_GLOB = "events.out.tfevents.*"
_MASK_DELTA = 0xA282EAD8
_U64 = struct.Struct("<Q")
_SCALAR_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64, 19: np.float16}  # TF DataType enum


@dataclass
class ScalarSeries:
    """One tag's points, in step order with unique steps."""

    step: np.ndarray  # int64
    value: np.ndarray  # float64
    wall_time: np.ndarray  # float64, seconds since the epoch


@dataclass
class EventReadResult:
    """Scalars per tag, and one warning line per problem met (each names its file)."""

    scalars: dict[str, ScalarSeries] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def iter_event_files(run_dir: Path) -> list[Path]:
    """The event files directly in ``run_dir``, in name order (TensorBoard names sort by creation time)."""
    return sorted(p for p in Path(run_dir).glob(EVENT_GLOB) if p.is_file())


def _crc32c_tables() -> np.ndarray:
    """Slicing-by-4 tables of CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), shape (4, 256)."""
    table = np.zeros((4, 256), dtype=np.uint32)
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        table[0, byte] = crc
    for k in range(1, 4):
        table[k] = (table[k - 1] >> 8) ^ table[0][table[k - 1] & 0xFF]
    return table


_TABLES = _crc32c_tables()


def masked_crc32c_many(buf: bytes, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Masked CRC-32C of many byte ranges of ``buf`` at once (numpy, four bytes per step, all records in parallel).

    A per-record call into a C CRC function costs more in Python call overhead than the CRC itself; here each step
    of the table-driven algorithm runs over every record together. Shapes: ``starts``, ``lengths``: ``(n,)``.
    """
    n_bytes = len(buf)
    bytes_view = np.frombuffer(buf, dtype=np.uint8)
    words = np.ndarray(shape=(max(n_bytes - 3, 0),), dtype="<u4", buffer=buf, strides=(1,))  # unaligned u32 view
    t0, t1, t2, t3 = _TABLES
    out = np.empty(starts.size, dtype=np.uint32)
    # Records of one length share every step, so each length group runs without masks (files hold few lengths).
    unique, inverse = np.unique(lengths, return_inverse=True)
    for group, length in enumerate(unique.tolist()):
        members = np.flatnonzero(inverse.ravel() == group)
        first = starts[members]
        crc = np.full(members.size, 0xFFFFFFFF, dtype=np.uint32)
        if length >= 4:
            block = words[first[:, None] + 4 * np.arange(length // 4)]  # (members, length // 4)
            for k in range(length // 4):
                c = crc ^ block[:, k]
                crc = t3[c & 0xFF] ^ t2[(c >> 8) & 0xFF] ^ t1[(c >> 16) & 0xFF] ^ t0[c >> 24]
        for j in range(length % 4):
            crc = t0[(crc ^ bytes_view[first + 4 * (length // 4) + j]) & 0xFF] ^ (crc >> 8)
        out[members] = ~crc
    return (((out >> np.uint32(15)) | (out << np.uint32(17))) + np.uint32(_MASK_DELTA)).astype(np.uint32)


def _frame(buf: bytes, name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Offsets and lengths of every intact record's data; stops at the first damaged or truncated record.

    The walk over the framing is the one per-record Python loop (millions of iterations for a large sweep), so it
    only reads lengths; both CRCs of every record are then checked at once by :func:`masked_crc32c_many`.
    """
    starts: list[int] = []
    warnings: list[str] = []
    pos, end = 0, len(buf)
    unpack_length = _U64.unpack_from
    append = starts.append
    try:
        while pos < end:
            append(pos)
            pos += unpack_length(buf, pos)[0] + 16
    except struct.error:  # fewer than 8 bytes left: a truncated header
        pass
    records = np.array(starts, dtype=np.int64)
    if records.size and (pos > end or records[-1] + 12 > end):
        records = records[:-1]
        warnings.append(f"{name}: truncated record at byte {starts[-1]}; kept the {records.size} records before it")
    if not records.size:
        return records, records, warnings
    words = np.ndarray(shape=(end - 3,), dtype="<u4", buffer=buf, strides=(1,))
    lengths = np.ndarray(shape=(end - 7,), dtype="<u8", buffer=buf, strides=(1,))[records]
    # Headers first: a bad header means its length (and so everything after it) cannot be trusted.
    fits = lengths <= np.uint64(end) - (records + 16).astype(np.uint64)
    lengths = np.where(fits, lengths, 0).astype(np.int64)
    header_ok = fits & (masked_crc32c_many(buf, records, np.full(records.size, 8)) == words[records + 8])
    cut = int(np.argmin(header_ok)) if not header_ok.all() else records.size
    records, lengths = records[:cut], lengths[:cut]
    data_ok = masked_crc32c_many(buf, records + 12, lengths) == words[records + 12 + lengths]
    if not data_ok.all():
        cut = int(np.argmin(data_ok))
        records, lengths = records[:cut], lengths[:cut]
    if records.size < len(starts) - (1 if warnings else 0):
        warnings.append(
            f"{name}: CRC mismatch (or a damaged length) in the record at byte {starts[records.size]}; "
            f"kept the {records.size} records before it"
        )
    return records + 12, lengths, warnings


def _varint(data: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode a protobuf varint at each offset ``at`` of ``data``: (value, bytes used, valid)."""
    value = np.zeros(at.size, dtype=np.uint64)
    used = np.zeros(at.size, dtype=np.int64)
    going = np.ones(at.size, dtype=bool)
    limit = data.size
    for k in range(10):
        index = np.minimum(at + k, limit - 1)
        byte = data[index].astype(np.uint64)
        value |= np.where(going, (byte & np.uint64(0x7F)) << np.uint64(7 * k), np.uint64(0))
        used += going
        going &= (byte & np.uint64(0x80)) != 0
        if not going.any():
            break
    return value, used, ~going & (at + used <= limit)


def _gather(data: np.ndarray, at: np.ndarray, width: int) -> np.ndarray:
    """The ``width`` bytes at each offset, as a (n, width) uint8 array."""
    return data[at[:, None] + np.arange(width)]


def _fast_decode(data: np.ndarray, offsets: np.ndarray, lengths: np.ndarray):
    """Vectorised decode of records shaped ``Event{1: wall_time, 2: step, 5: Summary{1: Value{1: tag, 2: float}}}``.

    Returns (mask of records decoded, wall_time, step, value, tag_start, tag_length) for the decoded ones.
    """
    n = offsets.size
    ok = lengths >= 9 + 2 + 2 + 2 + 2 + 5
    safe = np.where(ok, offsets, 0)
    ok &= data[safe] == 0x09
    wall = _gather(data, safe + 1, 8).copy().view("<f8").ravel() if n else np.zeros(0)
    pos = safe + 9
    ok &= data[np.minimum(pos, data.size - 1)] == 0x10
    step, used, valid = _varint(data, pos + 1)
    ok &= valid
    pos = pos + 1 + used
    ok &= data[np.minimum(pos, data.size - 1)] == 0x2A
    summary_len, used, valid = _varint(data, pos + 1)
    ok &= valid
    pos = pos + 1 + used
    ok &= pos + summary_len.astype(np.int64) == offsets + lengths  # the summary is the event's last field
    ok &= data[np.minimum(pos, data.size - 1)] == 0x0A
    value_len, used, valid = _varint(data, pos + 1)
    ok &= valid
    pos = pos + 1 + used
    value_end = pos + value_len.astype(np.int64)
    ok &= value_end == offsets + lengths  # exactly one Value in the Summary
    ok &= data[np.minimum(pos, data.size - 1)] == 0x0A
    tag_len, used, valid = _varint(data, pos + 1)
    ok &= valid
    tag_start = pos + 1 + used
    tag_end = tag_start + tag_len.astype(np.int64)
    ok &= tag_end + 5 == value_end  # tag, then only simple_value (tag 0x15 + 4 bytes)
    ok &= data[np.minimum(np.where(ok, tag_end, 0), data.size - 1)] == 0x15
    float_at = np.where(ok, tag_end + 1, 0)
    values = _gather(data, float_at, 4).copy().view("<f4").ravel().astype(np.float64) if n else np.zeros(0)
    return ok, wall, step.astype(np.int64), values, tag_start, tag_len.astype(np.int64)


def _slow_decode(record: bytes, wanted: Collection[str] | None) -> list[tuple[str, int, float, float]]:
    """Decode one record with tensorboard's protobuf classes: (tag, step, value, wall_time) of each scalar in it."""
    from tensorboard.compat.proto import event_pb2

    event = event_pb2.Event.FromString(record)
    if not event.HasField("summary"):
        return []
    points = []
    for value in event.summary.value:
        if wanted is not None and value.tag not in wanted:
            continue
        kind = value.WhichOneof("value")
        if kind == "simple_value":
            points.append((value.tag, event.step, float(value.simple_value), event.wall_time))
        elif kind == "tensor":
            scalar = _tensor_scalar(value.tensor)
            plugin = value.metadata.plugin_data.plugin_name
            if scalar is not None and plugin in ("scalars", ""):
                points.append((value.tag, event.step, scalar, event.wall_time))
    return points


def _tensor_scalar(tensor) -> float | None:
    """The single number in a rank-0 (or one-element) numeric TensorProto, else None."""
    if tensor.tensor_shape.dim and int(np.prod([d.size for d in tensor.tensor_shape.dim])) != 1:
        return None
    dtype = _SCALAR_DTYPES.get(tensor.dtype)
    if dtype is None:
        return None
    if tensor.tensor_content:
        return float(np.frombuffer(tensor.tensor_content, dtype=np.dtype(dtype).newbyteorder("<"))[0])
    for field_name in ("float_val", "double_val", "int_val", "int64_val"):
        values = getattr(tensor, field_name)
        if len(values):
            return float(values[0])
    if tensor.half_val:
        return float(np.array([tensor.half_val[0]], dtype=np.uint16).view(np.float16)[0])
    return None


def read_event_file(path: Path, tags: Collection[str] | None = None) -> EventReadResult:
    """Every scalar point of one event file (only ``tags`` when given), in file order per tag."""
    name = str(path)
    try:
        buf = Path(path).read_bytes()
    except OSError as error:
        return EventReadResult(warnings=[f"{name}: unreadable ({error.strerror or error}); skipped"])
    offsets, lengths, warnings = _frame(buf, name)
    if offsets.size == 0:
        if not warnings and buf:
            warnings.append(f"{name}: no records")
        return EventReadResult(warnings=warnings)
    data = np.frombuffer(buf, dtype=np.uint8)
    ok, wall, step, value, tag_start, tag_len = _fast_decode(data, offsets, lengths)
    points: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    fast = np.flatnonzero(ok)
    if fast.size:
        # Group the fast records by tag: hash each tag's bytes to one integer (a sort of integers is fast, a sort of
        # byte rows is not), then check every member of a group against its first tag, so a collision cannot merge.
        keys = tag_len[fast]
        for length in np.unique(keys):
            members = fast[keys == length]
            names = _gather(data, tag_start[members], int(length))
            weights = np.random.default_rng(int(length)).integers(1, 2**63, size=int(length), dtype=np.uint64)
            hashes = (names.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
            unique, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
            for index in range(unique.size):
                group = inverse.ravel() == index
                raw = names[first[index]]
                if not (names[group] == raw).all():
                    raise AssertionError("tag hash collision")  # never seen; guards exactness
                tag = raw.tobytes().decode("utf-8", errors="replace")
                if tags is not None and tag not in tags:
                    continue
                chosen = members[group]
                points.setdefault(tag, []).append((step[chosen], value[chosen], wall[chosen]))
    slow_points: dict[str, list[tuple[int, float, float]]] = {}
    for index in np.flatnonzero(~ok):
        record = buf[offsets[index] : offsets[index] + lengths[index]]
        try:
            decoded = _slow_decode(record, tags)
        except Exception as error:  # a record that is not an Event: foreign data inside a framed file
            warnings.append(f"{name}: undecodable record at byte {offsets[index] - 12} ({type(error).__name__})")
            continue
        for tag, s, v, w in decoded:
            slow_points.setdefault(tag, []).append((s, v, w))
    for tag, items in slow_points.items():
        array = np.array(items, dtype=np.float64)
        points.setdefault(tag, []).append((array[:, 0].astype(np.int64), array[:, 1], array[:, 2]))
    scalars = {tag: _merge(parts) for tag, parts in points.items()}
    return EventReadResult(scalars=scalars, warnings=warnings)


def _merge(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> ScalarSeries:
    """Join parts into one series: step order, one point per step, the latest wall time winning a repeated step."""
    steps = np.concatenate([p[0] for p in parts]).astype(np.int64)
    values = np.concatenate([p[1] for p in parts]).astype(np.float64)
    walls = np.concatenate([p[2] for p in parts]).astype(np.float64)
    order = np.lexsort((np.arange(steps.size), walls, steps))  # by step, then wall time, then position
    steps, values, walls = steps[order], values[order], walls[order]
    last = np.ones(steps.size, dtype=bool)
    last[:-1] = steps[1:] != steps[:-1]
    return ScalarSeries(step=steps[last], value=values[last], wall_time=walls[last])


def read_event_files(paths: Sequence[Path], tags: Collection[str] | None = None) -> EventReadResult:
    """Several event files of one run (or of a run's attempts) merged per tag in step order.

    Where a step appears more than once (a restarted writer, a resumed attempt), the record with the latest wall time
    wins, so later attempts replace what they redid.
    """
    merged: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    warnings: list[str] = []
    for path in paths:
        result = read_event_file(path, tags)
        warnings += result.warnings
        for tag, series in result.scalars.items():
            merged.setdefault(tag, []).append((series.step, series.value, series.wall_time))
    return EventReadResult(scalars={tag: _merge(parts) for tag, parts in merged.items()}, warnings=warnings)
