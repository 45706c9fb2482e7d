"""Wire-format templates: the layout of one Event record, shared by every record of equal length and fixed bytes.

A template is found by parsing one reference record's protobuf wire format in Python. It marks which bits may vary
from record to record (wall time, step, value) and which must equal the reference (field keys, lengths, tag, plugin);
every record that matches it under that mask is decoded the same way (:mod:`.decode`) and CRC-checked by linearity
(:mod:`.crc`). Records of any other shape raise :class:`Unusual` here and take tensorboard's protobuf path.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import crc32c
import numpy as np

MAX_SHIFT = 4096  # longest record (bytes) the fast path takes; longer ones take the crc32c + protobuf path
SCALAR_DTYPES = {1: "<f4", 2: "<f8", 3: "<i4", 9: "<i8", 19: "<f2"}  # TF DataType enum -> value encoding
_TEMPLATE_CACHE_LIMIT = 4096


class Unusual(Exception):
    """A record the fast path does not decode (tensorboard's protobuf classes will)."""


def _varint(rec: bytes, i: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= end or shift > 63:
            raise Unusual
        byte = rec[i]
        value |= (byte & 0x7F) << shift
        i += 1
        if byte < 0x80:
            return value, i
        shift += 7


def wire_fields(rec: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
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
            raise Unusual
        if after > end:
            raise Unusual
        yield number, wire, i, after
        i = after


def _ordered(rec: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """Like :func:`wire_fields`, insisting on canonical order without repeats (what every writer produces)."""
    last = 0
    for item in wire_fields(rec, start, end):
        if item[0] <= last:
            raise Unusual
        last = item[0]
        yield item


@dataclass
class Template:
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


def _build_template(rec: bytes) -> Template:
    """Parse one record's wire format into a template; raises Unusual for anything off the common shapes."""
    length = len(rec)
    if length < 16 or length > MAX_SHIFT:
        raise Unusual
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
            raise Unusual
    if summary is None:
        raise Unusual
    values = list(wire_fields(rec, *summary))
    if len(values) != 1 or values[0][:2] != (1, 2):
        raise Unusual
    tag = ""
    plugin = None
    spec = None  # (value_end, value_len, kind)
    is_tensor = False
    for number, wire, start, end in _ordered(rec, values[0][2], values[0][3]):
        if number == 1 and wire == 2:
            try:
                tag = rec[start:end].decode("utf-8")
            except UnicodeDecodeError as error:
                raise Unusual from error
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
            raise Unusual
    if spec is None:
        raise Unusual
    value_end, value_len, kind = spec
    if value_end < 8 or (wall_at >= 0 and wall_at + 8 > 16) or (step_at >= 0 and step_at + step_len > 16):
        raise Unusual  # the CRC look-ups take wall time and step from the first 16 bytes
    if step_len > 8:
        raise Unusual  # a negative or huge step: its varint does not fit one uint64 read
    head_vary = bytearray(16)
    for at, size in ((wall_at, 8), (step_at, step_len)):
        if at >= 0:
            head_vary[at : at + size] = vary[at : at + size]
    value_vary = bytes(8 - value_len) + bytes(vary[value_end - value_len : value_end])
    fixed = bytes(0xFF ^ b for b in vary)
    pad = bytes(-length % 8)
    fixed_int = int.from_bytes(fixed, "little")
    return Template(
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
            for dim_field, dim_wire, c, d in wire_fields(rec, a, b):
                if dim_field != 2 or dim_wire != 2:
                    raise Unusual  # unknown_rank, or anything else
                for size_field, size_wire, e, f in wire_fields(rec, c, d):
                    if size_field == 1 and (size_wire != 0 or _varint(rec, e, f)[0] != 1):
                        raise Unusual
        elif number == 3 and wire == 0:
            continue  # version_number
        elif number == 4 and wire == 2:  # tensor_content: raw little-endian bytes
            spec = (b, b - a, "content")
            vary[a:b] = b"\xff" * (b - a)
        elif number in (5, 6) and wire in (1, 2, 5):  # float_val / double_val, packed or not
            size = b - a
            if size != (4 if number == 5 else 8):
                raise Unusual
            spec = (b, size, "<f4" if number == 5 else "<f8")
            vary[a:b] = b"\xff" * size
        elif number in (7, 10, 13) and wire in (0, 2):  # int_val / int64_val / half_val: varints
            if _varint(rec, a, b)[1] != b:
                raise Unusual  # more than one element
            spec = (b, b - a, "half_varint" if number == 13 else "varint")
            vary[a:b] = b"\x7f" * (b - a)
        else:
            raise Unusual
    if spec is None or dtype not in SCALAR_DTYPES:
        raise Unusual
    value_end, size, kind = spec
    if kind == "content":
        kind = SCALAR_DTYPES[dtype]
        if size != np.dtype(kind).itemsize:
            raise Unusual
    elif kind != {1: "<f4", 2: "<f8", 3: "varint", 9: "varint", 19: "half_varint"}[dtype]:
        raise Unusual
    if size > 8:
        raise Unusual
    return value_end, size, kind


def _plugin_name(rec: bytes, start: int, end: int) -> str:
    """SummaryMetadata.plugin_data.plugin_name from the wire format ('' when absent)."""
    for number, wire, a, b in wire_fields(rec, start, end):
        if number == 1 and wire == 2:
            for inner, inner_wire, c, d in wire_fields(rec, a, b):
                if inner == 1 and inner_wire == 2:
                    try:
                        return rec[c:d].decode("utf-8")
                    except UnicodeDecodeError as error:
                        raise Unusual from error
    return ""


_TEMPLATE_CACHE: dict[int, list[Template]] = {}
_TEMPLATE_COUNT = [0]


def template_for(rec: bytes) -> Template | None:
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
    except Unusual:
        return None
    if _TEMPLATE_COUNT[0] >= _TEMPLATE_CACHE_LIMIT:
        _TEMPLATE_CACHE.clear()
        _TEMPLATE_COUNT[0] = 0
        candidates = _TEMPLATE_CACHE.setdefault(len(rec), [])
    candidates.append(template)
    _TEMPLATE_COUNT[0] += 1
    return template


def per_row(values: Sequence[int], t: np.ndarray, dtype: type = np.uint64) -> np.ndarray | np.generic:
    """A per-template attribute for each row: one scalar when every template agrees (the common case)."""
    array = np.array(values, dtype=dtype)
    return array[0] if (array == array[0]).all() else array[t]
