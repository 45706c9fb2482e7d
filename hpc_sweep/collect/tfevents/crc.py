"""CRC-32C for TFRecords: the masked CRC, look-up tables, and the exact CRC of template records by linearity.

A TFRecord stores ``mask(crc32c(bytes))`` of its length header and of its data. Single headers and records off the
fast path are checked with the C-accelerated ``crc32c`` package directly; records decoded by a template are checked
all at once by :func:`template_crc_ok`, which uses CRC-32C's linearity over GF(2).
"""

from __future__ import annotations

import struct

import crc32c
import numpy as np

from hpc_sweep.collect.tfevents.templates import Template, per_row

_MASK_DELTA = 0xA282EAD8
HEADER_TABLE_SIZE = 1 << 16  # masked CRCs of every length header below this are one table
_U64 = np.uint64

# The register update of CRC-32C is linear over GF(2), so a byte's contribution to a message's CRC
# is a table look-up that depends only on how many bytes follow it. The tables are derived from the C package's
# results (never from a second implementation of the polynomial) and cross-checked against it by the tests.


def mask(crc: int) -> int:
    """TFRecord's masked CRC of a raw CRC-32C."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def mask_array(crc: np.ndarray) -> np.ndarray:
    """:func:`mask` of each raw CRC-32C in an array."""
    crc = crc.astype(np.uint32, copy=False)
    return ((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(_MASK_DELTA)


class CrcTables:
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
        packed = [struct.pack("<Q", length) for length in range(HEADER_TABLE_SIZE)]
        self.header = mask_array(np.fromiter(map(crc32c.crc32c, packed), dtype=np.uint32, count=len(packed)))

    def _zero_step(self, reg: np.ndarray) -> np.ndarray:
        return self.t0[reg & 0xFF] ^ (reg >> 8)

    def shifted(self, reg: np.ndarray, distance: np.ndarray) -> np.ndarray:
        """Each register pushed through ``distance`` zero bytes (distances below ``templates.MAX_SHIFT``)."""
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


_TABLES: CrcTables | None = None


def tables() -> CrcTables:
    """The process's CRC tables, built on first use."""
    global _TABLES
    if _TABLES is None:
        _TABLES = CrcTables()
    return _TABLES


def template_crc_ok(
    templates: list[Template],
    t: np.ndarray,
    lengths: np.ndarray,
    head0: np.ndarray,
    head1: np.ndarray,
    window: np.ndarray,
    stored: np.ndarray,
) -> np.ndarray:
    """Whether each template record's data CRC matches: exact, through CRC-32C's linearity.

    For records of equal length ``crc(x) = crc(ref) ^ crc0(x ^ ref)``, and ``x ^ ref`` is non-zero only in the bits
    that may vary, so a record's CRC is ``crc_base`` of its template (number ``t``) xor the CRC-0 of its varying bits,
    which lie in its first 16 bytes (``head0``, ``head1``: wall time, step) and in the 8 bytes ending at its value
    (``window``). Each part is a sum of table look-ups per uint16, pushed through the zero bytes that follow it.
    ``stored`` holds the uint64 read at each record's stored CRC (its low 32 bits).
    """
    table = tables()
    reg = np.zeros(t.size, dtype=np.uint32)
    for words, half, top in ((head0, 0, 15), (head1, 1, 7)):
        masks = [tp.head_mask[half] for tp in templates]
        used = int(np.bitwise_or.reduce(np.array(masks, dtype=np.uint64)))
        if used:
            pairs = (words & per_row(masks, t)).view(np.uint16).reshape(-1, 4)
            for c in range(4):
                if (used >> (16 * c)) & 0xFFFF:
                    reg ^= table.pair[top - 2 * c][pairs[:, c]]
    reg = table.shifted(reg, lengths - 16)
    masks = [tp.value_mask for tp in templates]
    used = int(np.bitwise_or.reduce(np.array(masks, dtype=np.uint64)))
    pairs = (window & per_row(masks, t)).view(np.uint16).reshape(-1, 4)
    value_reg = np.zeros(t.size, dtype=np.uint32)
    for c in range(4):
        if (used >> (16 * c)) & 0xFFFF:
            value_reg ^= table.pair[7 - 2 * c][pairs[:, c]]
    tail = lengths - per_row([tp.value_end for tp in templates], t, np.int64)
    later = np.flatnonzero(tail)
    if later.size:
        value_reg[later] = table.shifted(value_reg[later], tail[later])
    crc = per_row([tp.crc_base for tp in templates], t, np.uint32) ^ reg ^ value_reg
    return mask_array(crc) == (stored & _U64(0xFFFFFFFF)).astype(np.uint32)
