"""Record framing: the file's bytes in one buffer, and where each TFRecord starts, checked like a sequential reader.

A record is ``uint64 length``, ``uint32 masked crc32c(length)``, ``data``, ``uint32 masked crc32c(data)``. Headers
are found with numpy (a length below 2**24 leaves a run of zero bytes), checked against their CRC and chained (each
record must start where the one before ends); wherever the chain breaks (a header not found, a damaged or truncated
record) a plain sequential walk takes over, so the records found are exactly those a sequential reader visits.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import crc32c
import numpy as np

from hpc_sweep.collect.tfevents.crc import HEADER_TABLE_SIZE, mask, tables

PAD = 16  # zero bytes after the file's bytes, so fixed-width numpy reads near the end stay inside the buffer


def read_buffer(path: Path, start: int = 0) -> tuple[bytearray, int]:
    """The file's bytes from ``start`` on followed by ``PAD`` zero bytes, read straight into one buffer."""
    with open(path, "rb") as handle:
        return read_handle(handle, start)


def read_handle(handle: BinaryIO, start: int = 0) -> tuple[bytearray, int]:
    """:func:`read_buffer` on a file already open: its bytes from ``start`` to the end it has now, then ``PAD`` zeros.

    Taking an open file lets a caller check the file (``fstat``, a hash of the bytes before ``start``) and read its
    new bytes through one handle, so a file replaced in between cannot mix two files' bytes.
    """
    size = max(os.fstat(handle.fileno()).st_size - start, 0)
    handle.seek(start)
    buf = bytearray(size + PAD)
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


def word_views(buf: bytearray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Little-endian uint64 and uint32 views of ``buf`` starting at every byte offset (``n`` file bytes + ``PAD``)."""
    u64 = np.ndarray(shape=(n + PAD - 7,), dtype="<u8", buffer=buf, strides=(1,))
    u32 = np.ndarray(shape=(n + PAD - 3,), dtype="<u4", buffer=buf, strides=(1,))
    return u64, u32


def _valid_headers(at: np.ndarray, u64: np.ndarray, u32: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Which offsets start a complete record header with a matching CRC (lengths below 2**16), and the lengths."""
    inside = at + 12 <= n
    safe = np.where(inside, at, 0)
    raw = u64[safe]
    small = raw < HEADER_TABLE_SIZE
    length = np.where(small, raw, 0).astype(np.int64)
    return inside & small & (u32[safe + 8] == tables().header[length]), length


@dataclass
class Framing:
    """Where the records of a buffer are, and what ended the walk through them.

    ``problem`` names byte offsets in the file (the buffer's offsets plus the ``base`` it was read from); ``damaged``
    tells a CRC mismatch in a record header (the bytes are wrong) from a truncated record (a writer mid-write, whose
    record a later read completes).
    """

    starts: np.ndarray  # int64 offsets in the buffer
    lengths: np.ndarray  # int64 data lengths
    problem: str | None
    damaged: bool


def frame(buf: bytearray, n: int, u64: np.ndarray, u32: np.ndarray) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Start and data length of every record with a valid header, in file order, plus the problem that ended it."""
    found = frame_records(buf, n, u64, u32)
    return found.starts, found.lengths, found.problem


def frame_records(buf: bytearray, n: int, u64: np.ndarray, u32: np.ndarray, base: int = 0) -> Framing:
    """Every record with a valid header in the buffer's ``n`` bytes, which start at file offset ``base``.

    Equivalent to the sequential walk (read a header, check its CRC, jump over the record), which takes over wherever
    the vectorised chain breaks; on a clean file the walk never runs. The buffer must start at a record boundary.
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
    damaged = False
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
            problem = f"truncated record header at byte {base + pos}"
            break
        size, stored = unpack(buf, pos)
        if mask(crc32c.crc32c(bytes(buf[pos : pos + 8]))) != stored:
            problem = f"CRC mismatch in the record header at byte {base + pos}"
            damaged = True
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
        problem = f"truncated record at byte {base + int(starts[-1])} (file cut mid-record)"
        starts, lengths = starts[:-1], lengths[:-1]
    return Framing(starts, lengths, problem, damaged)
