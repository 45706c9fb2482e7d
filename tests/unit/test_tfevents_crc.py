"""CRC-32C: the tables and the linearity check against the C ``crc32c`` package, and damaged records found exactly.

The tables are derived from the C package's results; these tests check each kind of table entry against it, and the
linearity check of template records against a plain ``crc32c`` of every record, damaged or not.
"""

from __future__ import annotations

import struct
from pathlib import Path

import crc32c
import numpy as np
from torch.utils.tensorboard import SummaryWriter

from hpc_sweep.collect.tfevents import iter_event_files, read_event_file
from hpc_sweep.collect.tfevents.crc import mask, mask_array, tables
from hpc_sweep.collect.tfevents.decode import assign_templates, decode_fast
from hpc_sweep.collect.tfevents.framing import frame, read_buffer, word_views
from tests.unit.tfevents_support import assert_same_as_reference, masked, reference, walk_records


def _crc0(data: bytes) -> int:
    """CRC-32C without its initial value and final xor: linear in the message bits."""
    return crc32c.crc32c(data) ^ crc32c.crc32c(bytes(len(data)))


def test_mask_is_tfrecords_masked_crc() -> None:
    rng = np.random.default_rng(3)
    messages = [bytes(rng.integers(0, 256, size=int(size), dtype=np.uint8)) for size in rng.integers(0, 64, 200)]
    raw = [crc32c.crc32c(message) for message in messages]
    assert [mask(crc) for crc in raw] == [masked(message) for message in messages]
    assert mask_array(np.array(raw, dtype=np.uint32)).tolist() == [mask(crc) for crc in raw]


def test_header_table_is_the_masked_crc_of_every_length_header() -> None:
    header = tables().header
    assert header.size == 1 << 16
    for length in [0, 1, 2, 255, 256, 4095, 4096, 65535, *np.random.default_rng(4).integers(0, 65536, 200).tolist()]:
        assert int(header[length]) == masked(struct.pack("<Q", length)), length


def test_pair_tables_are_the_contribution_of_two_bytes_followed_by_zeros() -> None:
    pair = tables().pair
    rng = np.random.default_rng(5)
    for m in range(1, 16, 2):
        for v in [0, 1, 255, 256, 65535, *rng.integers(0, 65536, 20).tolist()]:
            assert int(pair[m][v]) == _crc0(struct.pack("<H", v) + bytes(m - 1)), (m, v)


def test_shifted_pushes_registers_through_zero_bytes() -> None:
    rng = np.random.default_rng(6)
    messages = [bytes(rng.integers(0, 256, size=8, dtype=np.uint8)) for _ in range(64)]
    distance = np.array([0, 1, 2, 7, 16, 255, 1000, 4095, *rng.integers(0, 4096, 56).tolist()], dtype=np.int64)
    reg = np.array([_crc0(message) for message in messages], dtype=np.uint32)
    got = tables().shifted(reg, distance)
    assert got.tolist() == [_crc0(m + bytes(int(d))) for m, d in zip(messages, distance, strict=True)]


def test_linearity_check_equals_crc32c_of_every_template_record(tmp_path: Path) -> None:
    """Damage in the bytes a template lets vary (wall time, step, value; simple and tensor scalars, the value last
    in the record or followed by metadata) keeps the record on the fast path, where only the CRC can catch it."""
    writer = SummaryWriter(str(tmp_path))
    for step in range(400):
        writer.add_scalar("a", step * 0.25, step)
        writer.add_scalar("t", step / 3.0, step, new_style=True)
        writer.add_scalar("d", step / 7.0, step, new_style=True, double_precision=True)
    writer.close()
    path = iter_event_files(tmp_path)[0]
    buf, n = read_buffer(path)
    u64, u32 = word_views(buf, n)
    starts, lengths, _ = frame(buf, n, u64, u32)
    data_at = starts + 12
    tid, templates = assign_templates(buf, data_at, lengths, u64)
    fast = np.flatnonzero(tid >= 0)
    assert fast.size >= 1200 and {tp.is_tensor for tp in templates} == {False, True}
    rng = np.random.default_rng(8)
    for index in rng.choice(fast, size=300, replace=False).tolist():
        template, at = templates[tid[index]], int(data_at[index])
        varying = [template.value_end - 1 - k for k in range(template.value_len)]
        varying += [template.wall_at + k for k in range(8) if template.wall_at >= 0]
        position = at + int(rng.choice(varying))
        buf[position] ^= 1 << int(rng.integers(0, 8))
    ok = decode_fast(data_at[fast], lengths[fast], tid[fast], templates, u64)[0]
    exact = [
        mask(crc32c.crc32c(bytes(buf[a : a + size]))) == int(u32[a + size])
        for a, size in zip(data_at[fast].tolist(), lengths[fast].tolist(), strict=True)
    ]
    assert ok.tolist() == exact
    assert 250 <= exact.count(False) <= 300  # a few records were hit twice, and two flips of one bit cancel


def test_flipped_bits_stop_reading_at_the_damaged_record(torch_run: Path) -> None:
    path = iter_event_files(torch_run)[0]
    clean = path.read_bytes()
    records = walk_records(clean)
    rng = np.random.default_rng(7)
    # Anywhere in a record: header, header CRC, wall time, step, tag, value, data CRC.
    for position in [*rng.integers(0, len(clean), size=12).tolist(), len(clean) // 2, 0, 8, len(clean) - 1]:
        data = bytearray(clean)
        data[position] ^= 1 << int(rng.integers(0, 8))
        path.write_bytes(bytes(data))
        damaged = next(i for i, (start, payload) in enumerate(records) if position < start + len(payload) + 16)
        result = read_event_file(path)
        assert len(result.warnings) == 1 and "CRC mismatch" in result.warnings[0], (position, result.warnings)
        assert f"at byte {records[damaged][0]}" in result.warnings[0]
        kept = sum(series.step.size for series in result.scalars.values())
        expected = reference(bytes(data[: records[damaged][0]]))
        assert kept == sum(len(steps) for steps, _, _ in expected.values())
        assert_same_as_reference(path)  # the reference stops at the same record
