"""Reading TensorBoard event files exactly and fast: every scalar point, every record's CRC32C checked.

Why not tensorboard's ``EventAccumulator``: it keeps only 10,000 points per tag by default (reservoir sampling) and
builds a protobuf object per record, about 100x slower than the bytes allow. This module reads every point of every
scalar tag, both ``simple_value`` summaries (PyTorch ``SummaryWriter``, RSL-RL) and tensor-typed scalars
(``add_scalar(..., new_style=True)``, TF2 ``tf.summary.scalar``), in pure Python + numpy.

An event file is a sequence of TFRecords: ``uint64 length``, ``uint32 masked crc32c(length)``, ``data``,
``uint32 masked crc32c(data)``; the data are ``Event`` protobufs. How the speed is reached, exactly:

* Framing: record headers are found with numpy (a length below 2**24 leaves a run of zero bytes), checked against
  their CRC and chained (each record must start where the one before ends); wherever the chain breaks (a header not
  found, a damaged or truncated record) a plain sequential walk takes over, so the records found are exactly those
  a sequential reader visits.
* Decoding: records of one byte length whose structural bytes (field keys, lengths, tag) equal a reference record
  share a *template*, found by parsing the reference record's wire format in Python; every record of a template is
  decoded at once with numpy (wall time, step varint, value). Anything else (several values in one event,
  histograms, images, unusual encodings) goes through tensorboard's own protobuf classes.
* CRC: each template's reference record, every header length and every record off the fast path are checked with
  the C-accelerated ``crc32c`` package. Records decoded by a template are checked through CRC-32C's linearity:
  ``crc(x) = crc(ref) ^ crc0(x ^ ref)`` for records of equal length, where ``x ^ ref`` is non-zero only in the bytes
  that may vary (wall time, step, value), evaluated with numpy table look-ups. That is the exact CRC of every
  record, not a sample or a checksum of checksums.

A record that fails its CRC ends the file with a warning (everything before it is kept); a truncated last record (a
job killed mid-write) likewise; a foreign, empty or unreadable file gives a warning and no data, never an exception.
NaN and inf values are kept. Imports only numpy, the standard library, ``crc32c`` and (lazily) tensorboard's protos.
"""

from __future__ import annotations

import itertools
import os
import struct
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import crc32c
import numpy as np

EVENT_PREFIX = "events.out.tfevents."
_MASK_DELTA = 0xA282EAD8
_PAD = 16  # zero bytes after the file's bytes, so fixed-width numpy reads near the end stay inside the buffer
_MAX_SHIFT = 4096  # longest record (bytes) the fast path takes; longer ones take the crc32c + protobuf path
_HEADER_TABLE_SIZE = 1 << 16  # masked CRCs of every length header below this are one table
_TEMPLATE_CACHE_LIMIT = 4096
_TEMPLATES_PER_GROUP = 1024  # beyond this many template rounds among records of one length, the rest go slow
_FEW = 16  # this few records of one length are matched one by one rather than with numpy
_U64 = np.uint64
_VARINT_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [2**64 - 1], dtype=np.uint64)
_HASH = np.random.default_rng(20240601).integers(1, 2**63, size=_MAX_SHIFT // 8 + 1, dtype=np.uint64) | _U64(1)
_SCALAR_DTYPES = {1: "<f4", 2: "<f8", 3: "<i4", 9: "<i8", 19: "<f2"}  # TF DataType enum -> value encoding

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


# --------------------------------------------------------------------------------------------------------------
# CRC-32C tables. The register update of CRC-32C is linear over GF(2), so a byte's contribution to a message's CRC
# is a table look-up that depends only on how many bytes follow it. The tables are derived from the C package's
# results (never from a second implementation of the polynomial) and cross-checked against it by the tests.


def _mask(crc: int) -> int:
    """TFRecord's masked CRC of a raw CRC-32C."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def _mask_array(crc: np.ndarray) -> np.ndarray:
    crc = crc.astype(np.uint32, copy=False)
    return ((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(_MASK_DELTA)


class _CrcTables:
    """Look-up tables for CRC-32C contributions and record headers, built once per process on first use (~25 ms)."""

    def __init__(self) -> None:
        zero = crc32c.crc32c(b"\0")
        self.t0 = np.array([crc32c.crc32c(bytes([b])) ^ zero for b in range(256)], dtype=np.uint32)
        byte_tables = [self.t0]  # byte_tables[m][b]: contribution of byte b followed by m zero bytes
        for _ in range(15):
            byte_tables.append(self._zero_step(byte_tables[-1]))
        lo = np.arange(65536) & 0xFF
        hi = np.arange(65536) >> 8
        # pair[m][v]: contribution of the little-endian uint16 v whose low byte is followed by m zero bytes
        self.pair = {m: byte_tables[m][lo] ^ byte_tables[m - 1][hi] for m in range(1, 16, 2)}
        lanes = np.arange(256, dtype=np.uint32)[None, :] << (8 * np.arange(4, dtype=np.uint32))[:, None]
        self.shift = lanes.reshape(1, 1024)  # shift[d]: each byte lane of a register pushed through d zero bytes
        packed = [struct.pack("<Q", length) for length in range(_HEADER_TABLE_SIZE)]
        self.header = _mask_array(np.fromiter(map(crc32c.crc32c, packed), dtype=np.uint32, count=len(packed)))

    def _zero_step(self, reg: np.ndarray) -> np.ndarray:
        return self.t0[reg & 0xFF] ^ (reg >> 8)

    def shifted(self, reg: np.ndarray, distance: np.ndarray) -> np.ndarray:
        """Each register pushed through ``distance`` zero bytes (distances below ``_MAX_SHIFT``)."""
        need = int(distance.max(initial=0)) + 1
        if need > self.shift.shape[0]:
            rows = [self.shift]
            last = self.shift[-1]
            for _ in range(need - self.shift.shape[0]):
                last = self._zero_step(last)
                rows.append(last[None, :])
            self.shift = np.concatenate(rows)
        flat = self.shift.ravel()
        base = distance.astype(np.intp) * 1024
        out = flat[base + (reg & 0xFF)]
        out ^= flat[base + 256 + ((reg >> 8) & 0xFF)]
        out ^= flat[base + 512 + ((reg >> 16) & 0xFF)]
        out ^= flat[base + 768 + (reg >> 24)]
        return out


_TABLES: _CrcTables | None = None


def _tables() -> _CrcTables:
    global _TABLES
    if _TABLES is None:
        _TABLES = _CrcTables()
    return _TABLES


# --------------------------------------------------------------------------------------------------------------
# Framing


def _valid_headers(at: np.ndarray, u64: np.ndarray, u32: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Which offsets start a complete record header with a matching CRC (lengths below 2**16), and the lengths."""
    inside = at + 12 <= n
    safe = np.where(inside, at, 0)
    raw = u64[safe]
    small = raw < _HEADER_TABLE_SIZE
    length = np.where(small, raw, 0).astype(np.int64)
    return inside & small & (u32[safe + 8] == _tables().header[length]), length


def _frame(buf: bytearray, n: int, u64: np.ndarray, u32: np.ndarray) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Start and data length of every record with a valid header, in file order, plus the problem that ended it.

    Equivalent to the sequential walk (read a header, check its CRC, jump over the record), which takes over wherever
    the vectorised chain breaks; on a clean file the walk never runs.
    """
    # Header candidates: an aligned zero uint32 inside the header's zero run, the run ending at byte p + 7.
    words = np.frombuffer(buf, dtype=np.uint32, count=n // 4 + 1)
    hit = np.flatnonzero(words[:-1] == 0)
    after = words[hit + 1]
    hit, after = hit[after != 0], after[after != 0]
    shift = (after & 0xFF == 0).astype(np.int64) + (after & 0xFFFF == 0) + (after & 0xFFFFFF == 0)
    start = 4 * hit - 4 + shift
    data = np.frombuffer(buf, dtype=np.uint8)
    heads = start[(start >= 0) & ((shift > 0) | (data[np.maximum(4 * hit - 1, 0)] == 0))]
    valid, length = _valid_headers(heads, u64, u32, n)
    heads, ends = heads[valid], heads[valid] + length[valid] + 16
    # Headers the zero-run test missed (a CRC starting with a zero byte, a length of 256 or more) sit exactly where
    # a chained record ends: add those with a valid header, a few rounds, before walking.
    for _ in range(8):
        gaps = ends[:-1][ends[:-1] != heads[1:]]
        if not heads.size or heads[0] != 0:
            gaps = np.concatenate([[0], gaps])
        gaps = np.unique(gaps[gaps < n])
        if not gaps.size:
            break
        place = np.searchsorted(heads, gaps)
        known = heads[np.minimum(place, heads.size - 1)] == gaps if heads.size else np.zeros(gaps.size, dtype=bool)
        valid, length = _valid_headers(gaps, u64, u32, n)
        new = ~known & valid
        if not new.any():
            break
        heads = np.insert(heads, place[new], gaps[new])
        ends = np.insert(ends, place[new], gaps[new] + length[new] + 16)
    breaks = np.flatnonzero(ends[:-1] != heads[1:])
    pieces: list[np.ndarray] = []
    walked: list[int] = []
    problem = None
    pos = 0
    unpack = struct.Struct("<QI").unpack_from
    while pos < n:
        i = int(np.searchsorted(heads, pos))
        if i < heads.size and heads[i] == pos:
            k = int(np.searchsorted(breaks, i))
            j = int(breaks[k]) if k < breaks.size else heads.size - 1
            if walked:
                pieces.append(np.array(walked, dtype=np.int64))
                walked = []
            pieces.append(heads[i : j + 1])
            pos = int(ends[j])
            continue
        if n - pos < 12:
            problem = f"truncated record header at byte {pos}"
            break
        size, stored = unpack(buf, pos)
        if _mask(crc32c.crc32c(bytes(buf[pos : pos + 8]))) != stored:
            problem = f"CRC mismatch in the record header at byte {pos}"
            break
        walked.append(pos)
        pos += size + 16
    if walked:
        pieces.append(np.array(walked, dtype=np.int64))
    if len(pieces) == 1 and pieces[0].size == heads.size:
        starts, lengths = heads, ends - heads - 16  # the whole file in one chain: the common case
    else:
        starts = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
        lengths = u64[starts].astype(np.int64)
    if pos > n:  # the last record runs past the end of the file
        problem = f"truncated record at byte {int(starts[-1])} (file cut mid-record)"
        starts, lengths = starts[:-1], lengths[:-1]
    return starts, lengths, problem


# --------------------------------------------------------------------------------------------------------------
# Templates: the wire-format layout of one record, shared by every record of equal length and equal fixed bytes.


class _Unusual(Exception):
    """A record the fast path does not decode (tensorboard's protobuf classes will)."""


def _varint(rec: bytes, i: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= end or shift > 63:
            raise _Unusual
        byte = rec[i]
        value |= (byte & 0x7F) << shift
        i += 1
        if byte < 0x80:
            return value, i
        shift += 7


def _fields(rec: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, payload start, payload end) of each field in ``rec[start:end]``, in order."""
    i = start
    while i < end:
        key, i = _varint(rec, i, end)
        number, wire = key >> 3, key & 7
        if wire == 0:
            after = _varint(rec, i, end)[1]
        elif wire == 1:
            after = i + 8
        elif wire == 2:
            size, i = _varint(rec, i, end)
            after = i + size
        elif wire == 5:
            after = i + 4
        else:
            raise _Unusual
        if after > end:
            raise _Unusual
        yield number, wire, i, after
        i = after


def _ordered(rec: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """Like :func:`_fields`, insisting on canonical order without repeats (what every writer produces)."""
    last = 0
    for item in _fields(rec, start, end):
        if item[0] <= last:
            raise _Unusual
        last = item[0]
        yield item


@dataclass
class _Template:
    """How to decode, and CRC-check, every record that equals ``ref`` in the bits ``fixed_int`` marks."""

    length: int
    fixed_int: int  # bits that must equal ref's: structure, tag, varint continuation bits
    ref_int: int  # ref's bits under fixed_int
    tag: str
    is_tensor: bool
    plugin: str | None
    wall_at: int  # -1: no wall_time field (0.0)
    step_at: int  # -1: no step field (0)
    step_len: int
    value_end: int  # the value is the value_len bytes before value_end
    value_len: int
    value_kind: str  # numpy dtype of the value's bytes, or "varint" / "half_varint"
    crc_base: int  # crc(ref) ^ crc0(ref's varying bits): a record's CRC is this ^ crc0(its varying bits)
    mask_words: np.ndarray  # fixed_int as uint64 words
    ref_words: np.ndarray
    head_mask: tuple[int, int]  # bits of bytes 0..15 that vary (wall time, step), as two uint64
    value_mask: int  # bits of the 8 bytes ending at value_end that vary (the value)


def _build_template(rec: bytes) -> _Template:
    """Parse one record's wire format into a template; raises _Unusual for anything off the common shapes."""
    length = len(rec)
    if length < 16 or length > _MAX_SHIFT:
        raise _Unusual
    vary = bytearray(length)
    wall_at = step_at = -1
    step_len = 0
    summary = None
    for number, wire, start, end in _ordered(rec, 0, length):
        if number == 1 and wire == 1:
            wall_at = start
            vary[start:end] = b"\xff" * 8
        elif number == 2 and wire == 0:
            step_at, step_len = start, end - start
            vary[start:end] = b"\x7f" * step_len
        elif number == 5 and wire == 2:
            summary = (start, end)
        else:
            raise _Unusual
    if summary is None:
        raise _Unusual
    values = list(_fields(rec, *summary))
    if len(values) != 1 or values[0][:2] != (1, 2):
        raise _Unusual
    tag = ""
    plugin = None
    spec = None  # (value_end, value_len, kind)
    is_tensor = False
    for number, wire, start, end in _ordered(rec, values[0][2], values[0][3]):
        if number == 1 and wire == 2:
            try:
                tag = rec[start:end].decode("utf-8")
            except UnicodeDecodeError as error:
                raise _Unusual from error
        elif number == 2 and wire == 5:
            spec = (end, 4, "<f4")
            vary[start:end] = b"\xff" * 4
        elif number == 7 and wire == 2:
            continue  # node_name: fixed bytes
        elif number == 8 and wire == 2:
            spec = _tensor_spec(rec, start, end, vary)
            is_tensor = True
        elif number == 9 and wire == 2:
            plugin = _plugin_name(rec, start, end)
        else:
            raise _Unusual
    if spec is None:
        raise _Unusual
    value_end, value_len, kind = spec
    if value_end < 8 or (wall_at >= 0 and wall_at + 8 > 16) or (step_at >= 0 and step_at + step_len > 16):
        raise _Unusual  # the CRC look-ups take wall time and step from the first 16 bytes
    if step_len > 8:
        raise _Unusual  # a negative or huge step: its varint does not fit one uint64 read
    head_vary = bytearray(16)
    for at, size in ((wall_at, 8), (step_at, step_len)):
        if at >= 0:
            head_vary[at : at + size] = vary[at : at + size]
    value_vary = bytes(8 - value_len) + bytes(vary[value_end - value_len : value_end])
    fixed = bytes(0xFF ^ b for b in vary)
    pad = bytes(-length % 8)
    fixed_int = int.from_bytes(fixed, "little")
    return _Template(
        length=length,
        fixed_int=fixed_int,
        ref_int=int.from_bytes(rec, "little") & fixed_int,
        tag=tag,
        is_tensor=is_tensor,
        plugin=plugin,
        wall_at=wall_at,
        step_at=step_at,
        step_len=step_len,
        value_end=value_end,
        value_len=value_len,
        value_kind=kind,
        # crc0(v) = crc(v) ^ crc(zeros) is linear, and a record x equals ref outside the varying bits V, so
        # crc(x) = crc(ref) ^ crc0(x ^ ref) = [crc(ref) ^ crc0(ref & V)] ^ crc0(x & V).
        crc_base=crc32c.crc32c(rec)
        ^ crc32c.crc32c(bytes(r & v for r, v in zip(rec, vary, strict=True)))
        ^ crc32c.crc32c(bytes(length)),
        mask_words=np.frombuffer(fixed + pad, dtype="<u8").copy(),
        ref_words=np.frombuffer(rec + pad, dtype="<u8").copy(),
        head_mask=(int.from_bytes(head_vary[:8], "little"), int.from_bytes(head_vary[8:], "little")),
        value_mask=int.from_bytes(value_vary, "little"),
    )


def _tensor_spec(rec: bytes, start: int, end: int, vary: bytearray) -> tuple[int, int, str]:
    """Where the single number of a scalar TensorProto lies (marking its bytes as varying)."""
    dtype = 0
    spec = None
    for number, wire, a, b in _ordered(rec, start, end):
        if number == 1 and wire == 0:
            dtype = _varint(rec, a, b)[0]
        elif number == 2 and wire == 2:  # tensor_shape: rank 0, or every dimension of size 1
            for dim_field, dim_wire, c, d in _fields(rec, a, b):
                if dim_field != 2 or dim_wire != 2:
                    raise _Unusual  # unknown_rank, or anything else
                for size_field, size_wire, e, f in _fields(rec, c, d):
                    if size_field == 1 and (size_wire != 0 or _varint(rec, e, f)[0] != 1):
                        raise _Unusual
        elif number == 3 and wire == 0:
            continue  # version_number
        elif number == 4 and wire == 2:  # tensor_content: raw little-endian bytes
            spec = (b, b - a, "content")
            vary[a:b] = b"\xff" * (b - a)
        elif number in (5, 6) and wire in (1, 2, 5):  # float_val / double_val, packed or not
            size = b - a
            if size != (4 if number == 5 else 8):
                raise _Unusual
            spec = (b, size, "<f4" if number == 5 else "<f8")
            vary[a:b] = b"\xff" * size
        elif number in (7, 10, 13) and wire in (0, 2):  # int_val / int64_val / half_val: varints
            if _varint(rec, a, b)[1] != b:
                raise _Unusual  # more than one element
            spec = (b, b - a, "half_varint" if number == 13 else "varint")
            vary[a:b] = b"\x7f" * (b - a)
        else:
            raise _Unusual
    if spec is None or dtype not in _SCALAR_DTYPES:
        raise _Unusual
    value_end, size, kind = spec
    if kind == "content":
        kind = _SCALAR_DTYPES[dtype]
        if size != np.dtype(kind).itemsize:
            raise _Unusual
    elif kind != {1: "<f4", 2: "<f8", 3: "varint", 9: "varint", 19: "half_varint"}[dtype]:
        raise _Unusual
    if size > 8:
        raise _Unusual
    return value_end, size, kind


def _plugin_name(rec: bytes, start: int, end: int) -> str:
    """SummaryMetadata.plugin_data.plugin_name from the wire format ('' when absent)."""
    for number, wire, a, b in _fields(rec, start, end):
        if number == 1 and wire == 2:
            for inner, inner_wire, c, d in _fields(rec, a, b):
                if inner == 1 and inner_wire == 2:
                    try:
                        return rec[c:d].decode("utf-8")
                    except UnicodeDecodeError as error:
                        raise _Unusual from error
    return ""


_TEMPLATE_CACHE: dict[int, list[_Template]] = {}
_TEMPLATE_COUNT = [0]


def _template_for(rec: bytes) -> _Template | None:
    """The cached template ``rec`` fits, else one parsed from it; None for records off the fast path.

    The cache spans files: the runs of a sweep write the same tags, so their templates are parsed once.
    """
    candidates = _TEMPLATE_CACHE.setdefault(len(rec), [])
    value = int.from_bytes(rec, "little")
    for template in candidates:
        if value & template.fixed_int == template.ref_int:
            return template
    try:
        template = _build_template(rec)
    except _Unusual:
        return None
    if _TEMPLATE_COUNT[0] >= _TEMPLATE_CACHE_LIMIT:
        _TEMPLATE_CACHE.clear()
        _TEMPLATE_COUNT[0] = 0
        candidates = _TEMPLATE_CACHE.setdefault(len(rec), [])
    candidates.append(template)
    _TEMPLATE_COUNT[0] += 1
    return template


# --------------------------------------------------------------------------------------------------------------
# Decoding


def _assign_templates(
    buf: bytearray, data_at: np.ndarray, lengths: np.ndarray, u64: np.ndarray
) -> tuple[np.ndarray, list[_Template]]:
    """Template number of each record (-1: off the fast path), and the templates used.

    Records are grouped by length. Within a group, each round takes a probe record's template, compares every
    pending row with it, and keys the others by a hash under the same mask (rows of one tag and layout hash alike);
    each key's first row names its template and its rows are compared with that template exactly, so a hash
    collision costs time, never correctness. Rows of another layout wait for a round of their own.
    """
    tid = np.full(data_at.size, -1, dtype=np.int64)
    used: list[_Template] = []
    index: dict[int, int] = {}
    candidates = np.flatnonzero((lengths >= 16) & (lengths <= _MAX_SHIFT))
    if not candidates.size:
        return tid, used
    order = candidates[np.argsort(lengths[candidates].astype(np.uint16), kind="stable")]
    for rows in _split(order, lengths[order]):
        length = int(lengths[rows[0]])
        at = data_at[rows]
        if rows.size <= _FEW:
            _match_each(buf, at, length, rows, np.arange(rows.size), tid, used, index)
        else:
            columns = [u64[at + 8 * j] for j in range((length + 7) // 8)]
            _match_group(buf, at, length, columns, rows, tid, used, index)
    return tid, used


def _match_group(
    buf: bytearray,
    at: np.ndarray,
    length: int,
    columns: list[np.ndarray],
    rows: np.ndarray,
    tid: np.ndarray,
    used: list[_Template],
    index: dict[int, int],
) -> None:
    """Rounds of template matching over the records of one length (see :func:`_assign_templates`)."""
    pending = np.arange(rows.size)
    probe = rows.size - 1  # the last record: past any first-step oddity (a missing step field)
    for _ in range(_TEMPLATES_PER_GROUP):
        if pending.size <= _FEW:
            _match_each(buf, at, length, rows, pending, tid, used, index)
            return
        template = _template_for(bytes(buf[at[probe] : at[probe] + length]))
        if template is None:
            pending = pending[pending != probe]
        else:
            sub = columns if pending.size == rows.size else [column[pending] for column in columns]
            pending, next_probe = _match_round(buf, at, length, template, sub, pending, tid, rows, used, index)
            if next_probe is not None:
                probe = next_probe
                continue
        if not pending.size:
            return
        probe = int(pending[-1])


def _match_each(
    buf: bytearray,
    at: np.ndarray,
    length: int,
    rows: np.ndarray,
    pending: np.ndarray,
    tid: np.ndarray,
    used: list[_Template],
    index: dict[int, int],
) -> None:
    """Template of each of a few records, one by one: the template look-up itself is the exact comparison."""
    for row in pending.tolist():
        start = int(at[row])
        template = _template_for(bytes(buf[start : start + length]))
        if template is not None:
            tid[rows[row]] = _number(template, used, index)


def _match_round(
    buf: bytearray,
    at: np.ndarray,
    length: int,
    template: _Template,
    sub: list[np.ndarray],
    pending: np.ndarray,
    tid: np.ndarray,
    rows: np.ndarray,
    used: list[_Template],
    index: dict[int, int],
) -> tuple[np.ndarray, int | None]:
    """One round of template matching: the rows still pending after it, and the next probe if one is due.

    First every row is compared with the probe's template (often all match: one tag of this length). The rest are
    keyed by a hash under the same mask, each key's first row names its template, and rows are compared with it.
    """
    mask = template.mask_words
    ref = template.ref_words
    diff = (sub[0] ^ ref[0]) & mask[0]
    for j in range(1, len(sub)):
        diff |= (sub[j] ^ ref[j]) & mask[j]
    match = diff == 0
    tid[rows[pending[match]]] = _number(template, used, index)
    rest = np.flatnonzero(~match)
    if rest.size <= _FEW:
        _match_each(buf, at, length, rows, pending[rest], tid, used, index)
        return pending[:0], None
    columns = [column[rest] for column in sub]
    hashed = (columns[0] & mask[0]) * _HASH[0]
    for j in range(1, len(columns)):
        hashed += (columns[j] & mask[j]) * _HASH[j]
    by_key = np.argsort(hashed)
    sorted_key = hashed[by_key]
    edges = [0, *(np.flatnonzero(sorted_key[1:] != sorted_key[:-1]) + 1).tolist(), rest.size]
    local = np.full(len(edges) - 1, -1, dtype=np.int64)
    dropped: list[int] = []
    round_templates: list[_Template] = []
    next_probe = None
    for k in range(len(edges) - 1):
        first = int(by_key[edges[k]])
        start = int(at[pending[rest[first]]])
        own = _template_for(bytes(buf[start : start + length]))
        if own is None:
            dropped.append(first)
        elif np.array_equal(own.mask_words, mask):
            if own not in round_templates:
                round_templates.append(own)
            local[k] = round_templates.index(own)
        else:  # another layout: this key and every key after it wait for a round probed by this row
            next_probe = int(pending[rest[first]])
            break
    keep = np.ones(rest.size, dtype=bool)
    if round_templates:
        row_local = np.empty(rest.size, dtype=np.int64)
        row_local[by_key] = np.repeat(local, np.diff(edges))
        safe = np.maximum(row_local, 0)
        diff = np.zeros(rest.size, dtype=np.uint64)
        for j, column in enumerate(columns):
            refs = np.array([tp.ref_words[j] for tp in round_templates], dtype=np.uint64)
            expected = refs[0] if (refs == refs[0]).all() else refs[safe]  # tags differ in few words
            diff |= (column ^ expected) & mask[j]
        match = (row_local >= 0) & (diff == 0)
        numbers = np.array([_number(tp, used, index) for tp in round_templates])
        tid[rows[pending[rest[match]]]] = numbers[row_local[match]]
        keep &= ~match
    if dropped:
        keep[dropped] = False
    return pending[rest[keep]], next_probe


def _number(template: _Template, used: list[_Template], index: dict[int, int]) -> int:
    """The file-local number of a template, adding it to ``used`` on first sight."""
    number = index.get(id(template))
    if number is None:
        number = index[id(template)] = len(used)
        used.append(template)
    return number


def _split(order: np.ndarray, sorted_key: np.ndarray) -> list[np.ndarray]:
    """``order`` cut where ``sorted_key`` (its keys, in its order) changes: one index array per key."""
    edges = [0, *(np.flatnonzero(sorted_key[1:] != sorted_key[:-1]) + 1).tolist(), order.size]
    return [order[a:b] for a, b in itertools.pairwise(edges)]


def _per_row(values: Sequence[int], t: np.ndarray, dtype: type = np.uint64) -> np.ndarray | np.generic:
    """A per-template attribute for each row: one scalar when every template agrees (the common case)."""
    array = np.array(values, dtype=dtype)
    return array[0] if (array == array[0]).all() else array[t]


def _varint_words(words: np.ndarray, size: np.ndarray | np.generic) -> np.ndarray:
    """Little-endian varints of ``size`` bytes (at most 8) held in the low bytes of each uint64."""
    x = words & _VARINT_MASKS[size] & _U64(0x7F7F7F7F7F7F7F7F)
    out = x & _U64(0x7F)
    for k in range(1, int(np.max(size))):
        out |= (x >> _U64(k)) & _U64(0x7F << (7 * k))
    return out


def _head_bytes(head0: np.ndarray, head1: np.ndarray, offset: int) -> np.ndarray:
    """The 8 bytes at ``offset`` (0..15) of the first 16, zero-filled past byte 15."""
    if offset == 0:
        return head0
    if offset == 8:
        return head1
    if offset < 8:
        return (head0 >> _U64(8 * offset)) | (head1 << _U64(64 - 8 * offset))
    return head1 >> _U64(8 * (offset - 8))


def _fast(
    data_at: np.ndarray, lengths: np.ndarray, t: np.ndarray, templates: list[_Template], u64: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CRC check and decoding of template records: (crc ok, step, value, wall time), all at once.

    The CRC is exact (see the module docstring): ``crc_base`` of the template, xor the CRC-0 of the record's varying
    bits, which lie in its first 16 bytes (wall time, step) and in the 8 bytes ending at its value. Each part is a sum
    of table look-ups per uint16, pushed through the zero bytes that follow it.
    """
    tables = _tables()
    head0, head1 = u64[data_at], u64[data_at + 8]
    window = u64[data_at + _per_row([tp.value_end - 8 for tp in templates], t, np.int64)]
    reg = np.zeros(t.size, dtype=np.uint32)
    for words, half, top in ((head0, 0, 15), (head1, 1, 7)):
        masks = [tp.head_mask[half] for tp in templates]
        used = int(np.bitwise_or.reduce(np.array(masks, dtype=np.uint64)))
        if used:
            pairs = (words & _per_row(masks, t)).view(np.uint16).reshape(-1, 4)
            for c in range(4):
                if (used >> (16 * c)) & 0xFFFF:
                    reg ^= tables.pair[top - 2 * c][pairs[:, c]]
    reg = tables.shifted(reg, lengths - 16)
    masks = [tp.value_mask for tp in templates]
    used = int(np.bitwise_or.reduce(np.array(masks, dtype=np.uint64)))
    pairs = (window & _per_row(masks, t)).view(np.uint16).reshape(-1, 4)
    value_reg = np.zeros(t.size, dtype=np.uint32)
    for c in range(4):
        if (used >> (16 * c)) & 0xFFFF:
            value_reg ^= tables.pair[7 - 2 * c][pairs[:, c]]
    tail = lengths - _per_row([tp.value_end for tp in templates], t, np.int64)
    later = np.flatnonzero(tail)
    if later.size:
        value_reg[later] = tables.shifted(value_reg[later], tail[later])
    crc = _per_row([tp.crc_base for tp in templates], t, np.uint32) ^ reg ^ value_reg
    ok = _mask_array(crc) == (u64[data_at + lengths] & _U64(0xFFFFFFFF)).astype(np.uint32)

    wall = np.zeros(t.size, dtype=np.float64)
    step_word = np.zeros(t.size, dtype=np.uint64)
    for name, target in (("wall_at", wall), ("step_at", step_word)):
        offsets = np.array([getattr(tp, name) for tp in templates], dtype=np.int64)
        for offset in np.unique(offsets).tolist():
            if offset < 0:
                continue
            chosen = slice(None) if (offsets == offset).all() else np.flatnonzero(offsets[t] == offset)
            word = _head_bytes(head0[chosen], head1[chosen], offset)
            target[chosen] = word.view(np.float64) if name == "wall_at" else word
    step = _varint_words(step_word, _per_row([tp.step_len for tp in templates], t, np.int64)).view(np.int64)
    kinds = sorted({tp.value_kind for tp in templates})
    kind_of = np.array([kinds.index(tp.value_kind) for tp in templates])
    value = np.empty(t.size, dtype=np.float64)
    for k, kind in enumerate(kinds):
        chosen = slice(None) if len(kinds) == 1 else np.flatnonzero(kind_of[t] == k)
        w = window[chosen]
        if kind in ("varint", "half_varint"):
            size = np.array([tp.value_len for tp in templates], dtype=np.int64)[t[chosen]]
            raw = _varint_words(w >> (_U64(8) * (8 - size).astype(np.uint64)), size)
            value[chosen] = raw.view(np.int64) if kind == "varint" else raw.astype(np.uint16).view(np.float16)
        else:
            width = np.dtype(kind).itemsize
            raw = w >> _U64(8 * (8 - width)) if width < 8 else w
            value[chosen] = raw.astype(f"<u{width}").view(kind)
    return ok, step, value, wall


def _decode_slow(record: bytes) -> tuple[list[tuple[str, int, float, float, bool]], list[tuple[str, str]]]:
    """One record through tensorboard's protobuf classes: its scalar points and the plugin names it declares."""
    from tensorboard.compat.proto import event_pb2

    event = event_pb2.Event.FromString(record)
    points: list[tuple[str, int, float, float, bool]] = []
    plugins: list[tuple[str, str]] = []
    if not event.HasField("summary"):
        return points, plugins
    for value in event.summary.value:
        if value.HasField("metadata"):
            plugins.append((value.tag, value.metadata.plugin_data.plugin_name))
        kind = value.WhichOneof("value")
        if kind == "simple_value":
            points.append((value.tag, event.step, float(value.simple_value), event.wall_time, False))
        elif kind == "tensor":
            scalar = _tensor_scalar(value.tensor)
            if scalar is not None:
                points.append((value.tag, event.step, scalar, event.wall_time, True))
    return points, plugins


def _tensor_scalar(tensor: Any) -> float | None:
    """The single number of a one-element numeric TensorProto, else None."""
    if tensor.tensor_shape.unknown_rank or any(d.size != 1 for d in tensor.tensor_shape.dim):
        return None
    dtype = _SCALAR_DTYPES.get(tensor.dtype)
    if dtype is None:
        return None
    if tensor.tensor_content:
        if len(tensor.tensor_content) != np.dtype(dtype).itemsize:
            return None
        return float(np.frombuffer(tensor.tensor_content, dtype=dtype)[0])
    for name in ("float_val", "double_val", "int_val", "int64_val"):
        values = getattr(tensor, name)
        if len(values) == 1:
            return float(values[0])
    if len(tensor.half_val) == 1:
        return float(np.array([tensor.half_val[0]], dtype=np.uint16).view(np.float16)[0])
    return None


def _has_summary(record: bytes) -> bool:
    """Whether an Event record carries a summary; records without one (file_version, graphs) skip protobuf."""
    try:
        return any(number == 5 for number, _, _, _ in _fields(record, 0, len(record)))
    except _Unusual:
        return True  # let protobuf judge it


def _read_buffer(path: Path) -> tuple[bytearray, int]:
    """The file's bytes followed by ``_PAD`` zero bytes, read straight into one buffer."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        buf = bytearray(size + _PAD)
        view = memoryview(buf)
        got = 0
        while got < size:
            chunk = handle.readinto(view[got:size])
            if not chunk:
                break
            got += chunk
        del view
    if got < size:  # the file shrank while being read
        del buf[got:size]
    return buf, got


def read_event_file(path: Path, tags: Collection[str] | None = None) -> EventReadResult:
    """Every scalar point of one event file (only ``tags`` when given), per tag in step order."""
    name = str(path)
    try:
        buf, n = _read_buffer(Path(path))
    except OSError as error:
        return EventReadResult(warnings=[f"{name}: unreadable ({error.strerror or error}); skipped"])
    if n == 0:
        return EventReadResult(warnings=[f"{name}: empty file (no records)"])
    wanted = None if tags is None else set(tags)
    u64 = np.ndarray(shape=(n + _PAD - 7,), dtype="<u8", buffer=buf, strides=(1,))
    u32 = np.ndarray(shape=(n + _PAD - 3,), dtype="<u4", buffer=buf, strides=(1,))
    starts, lengths, problem = _frame(buf, n, u64, u32)
    data_at = starts + 12
    tid, templates = _assign_templates(buf, data_at, lengths, u64)
    fast = np.flatnonzero(tid >= 0)
    slow = np.flatnonzero(tid < 0)
    crc_ok = np.ones(starts.size, dtype=bool)
    if fast.size:
        crc_ok[fast], step, value, wall = _fast(data_at[fast], lengths[fast], tid[fast], templates, u64)
    for index in slow.tolist():
        at, size = int(data_at[index]), int(lengths[index])
        crc_ok[index] = _mask(crc32c.crc32c(bytes(buf[at : at + size]))) == int(u32[at + size])
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
        if not _has_summary(record):
            continue
        try:
            points, declared = _decode_slow(record)
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
    templates: list[_Template],
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


def _read_dir(job: tuple[Path, frozenset[str] | None]) -> EventReadResult:
    run_dir, tags = job
    return read_event_files(iter_event_files(run_dir), tags)


def read_many(
    run_dirs: Sequence[Path], tags: Collection[str] | None = None, workers: int | None = None
) -> dict[Path, EventReadResult]:
    """The event files of many run directories (each merged as by :func:`read_event_files`), read in parallel.

    Reading is CPU-bound, so a sweep's runs are split across ``workers`` processes (default: the CPU count); a
    handful of runs stays in this process, where starting workers would cost more than it saves.
    """
    dirs = [Path(d) for d in run_dirs]
    workers = workers or os.cpu_count() or 1
    jobs = [(d, None if tags is None else frozenset(tags)) for d in dirs]
    if workers <= 1 or len(dirs) < 4:
        return {d: _read_dir(job) for d, job in zip(dirs, jobs, strict=True)}
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=min(workers, len(dirs))) as pool:
        return dict(zip(dirs, pool.map(_read_dir, jobs, chunksize=max(1, len(dirs) // (4 * workers))), strict=True))
