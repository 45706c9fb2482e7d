"""Decoding records: templates matched to records, every template record decoded at once, the rest via protobuf.

Records of one byte length whose structural bytes (field keys, lengths, tag) equal a reference record share a
template (:mod:`.templates`); every record of a template is decoded at once with numpy (wall time, step varint,
value) and CRC-checked by linearity (:mod:`.crc`). Anything else (several values in one event, histograms, images,
unusual encodings) goes through tensorboard's own protobuf classes, imported on first use.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from hpc_sweep.collect.tfevents.crc import template_crc_ok
from hpc_sweep.collect.tfevents.templates import (
    MAX_SHIFT,
    SCALAR_DTYPES,
    Template,
    Unusual,
    per_row,
    template_for,
    wire_fields,
)

_TEMPLATES_PER_GROUP = 1024  # beyond this many template rounds among records of one length, the rest go slow
_FEW = 16  # this few records of one length are matched one by one rather than with numpy
_U64 = np.uint64
_VARINT_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [2**64 - 1], dtype=np.uint64)
_HASH = np.random.default_rng(20240601).integers(1, 2**63, size=MAX_SHIFT // 8 + 1, dtype=np.uint64) | _U64(1)


def assign_templates(
    buf: bytearray, data_at: np.ndarray, lengths: np.ndarray, u64: np.ndarray
) -> tuple[np.ndarray, list[Template]]:
    """Template number of each record (-1: off the fast path), and the templates used.

    Records are grouped by length. Within a group, each round takes a probe record's template, compares every
    pending row with it, and keys the others by a hash under the same mask (rows of one tag and layout hash alike);
    each key's first row names its template and its rows are compared with that template exactly, so a hash
    collision costs time, never correctness. Rows of another layout wait for a round of their own.
    """
    tid = np.full(data_at.size, -1, dtype=np.int64)
    used: list[Template] = []
    index: dict[int, int] = {}
    candidates = np.flatnonzero((lengths >= 16) & (lengths <= MAX_SHIFT))
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
    used: list[Template],
    index: dict[int, int],
) -> None:
    """Rounds of template matching over the records of one length (see :func:`assign_templates`)."""
    pending = np.arange(rows.size)
    probe = rows.size - 1  # the last record: past any first-step oddity (a missing step field)
    for _ in range(_TEMPLATES_PER_GROUP):
        if pending.size <= _FEW:
            _match_each(buf, at, length, rows, pending, tid, used, index)
            return
        template = template_for(bytes(buf[at[probe] : at[probe] + length]))
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
    used: list[Template],
    index: dict[int, int],
) -> None:
    """Template of each of a few records, one by one: the template look-up itself is the exact comparison."""
    for row in pending.tolist():
        start = int(at[row])
        template = template_for(bytes(buf[start : start + length]))
        if template is not None:
            tid[rows[row]] = _number(template, used, index)


def _match_round(
    buf: bytearray,
    at: np.ndarray,
    length: int,
    template: Template,
    sub: list[np.ndarray],
    pending: np.ndarray,
    tid: np.ndarray,
    rows: np.ndarray,
    used: list[Template],
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
    round_templates: list[Template] = []
    next_probe = None
    for k in range(len(edges) - 1):
        first = int(by_key[edges[k]])
        start = int(at[pending[rest[first]]])
        own = template_for(bytes(buf[start : start + length]))
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


def _number(template: Template, used: list[Template], index: dict[int, int]) -> int:
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


def decode_fast(
    data_at: np.ndarray, lengths: np.ndarray, t: np.ndarray, templates: list[Template], u64: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CRC check and decoding of template records: (crc ok, step, value, wall time), all at once.

    ``t`` is each record's template number; the CRC is exact (see :func:`.crc.template_crc_ok`).
    """
    head0, head1 = u64[data_at], u64[data_at + 8]
    window = u64[data_at + per_row([tp.value_end - 8 for tp in templates], t, np.int64)]
    ok = template_crc_ok(templates, t, lengths, head0, head1, window, u64[data_at + lengths])

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
    step = _varint_words(step_word, per_row([tp.step_len for tp in templates], t, np.int64)).view(np.int64)
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


def decode_slow(record: bytes) -> tuple[list[tuple[str, int, float, float, bool]], list[tuple[str, str]]]:
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
    dtype = SCALAR_DTYPES.get(tensor.dtype)
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


def has_summary(record: bytes) -> bool:
    """Whether an Event record carries a summary; records without one (file_version, graphs) skip protobuf."""
    try:
        return any(number == 5 for number, _, _, _ in wire_fields(record, 0, len(record)))
    except Unusual:
        return True  # let protobuf judge it
