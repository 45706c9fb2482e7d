"""Framing: truncated, damaged, foreign, empty and unreadable files, and record starts equal to a sequential walk.

Damaged files keep every record before the damage, with one warning naming the file; files that are no event files
give a warning and no data, never an exception.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from hpc_sweep.collect.tfevents import iter_event_files, read_event_file, read_event_files
from hpc_sweep.collect.tfevents.framing import frame, read_buffer, word_views
from tests.unit.tfevents_support import (
    assert_same_as_reference,
    frame_record,
    random_event,
    walk_records,
)


@pytest.mark.parametrize("cut", [1, 3, 4, 5, 12, 20, 30])
def test_truncated_file_keeps_every_complete_record_with_a_warning(torch_run: Path, cut: int) -> None:
    path = iter_event_files(torch_run)[0]
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    records = walk_records(data[:-cut])
    result = read_event_file(path)
    assert len(result.warnings) == 1, result.warnings
    assert "truncated" in result.warnings[0] and str(path) in result.warnings[0]
    assert f"kept the {len(records)} records" in result.warnings[0]
    assert len(records) == len(walk_records(data)) - 1  # exactly the last record lost
    assert_same_as_reference(path)


def test_damaged_length_field_mid_file_keeps_the_records_before_it(torch_run: Path) -> None:
    path = iter_event_files(torch_run)[0]
    data = bytearray(path.read_bytes())
    start = walk_records(bytes(data))[1000][0]
    data[start + 2] ^= 0x01  # a length of 65,000+ bytes: must not be followed
    path.write_bytes(bytes(data))
    result = read_event_file(path)
    assert result.warnings == [
        f"{path}: CRC mismatch in the record header at byte {start}; kept the 1000 records before it"
    ]


def test_foreign_empty_and_unreadable_files_warn_and_give_no_data(tmp_path: Path) -> None:
    foreign = tmp_path / "events.out.tfevents.1.host"
    foreign.write_bytes(np.random.default_rng(1).integers(0, 256, size=5000, dtype=np.uint8).tobytes())
    text = tmp_path / "events.out.tfevents.2.host"
    text.write_text("this is not an event file\n" * 100)
    short = tmp_path / "events.out.tfevents.3.host"
    short.write_bytes(b"\x01\x02\x03")
    empty = tmp_path / "events.out.tfevents.4.host"
    empty.write_bytes(b"")
    directory = tmp_path / "events.out.tfevents.5.host"
    directory.mkdir()
    missing = tmp_path / "events.out.tfevents.6.host"
    paths = [foreign, text, short, empty, directory, missing]
    result = read_event_files(paths)
    assert result.scalars == {}
    assert len(result.warnings) == len(paths)
    for path, warning in zip(paths, result.warnings, strict=True):
        assert warning.startswith(f"{path}: ")
    assert "not an event file" in result.warnings[0] and "not an event file" in result.warnings[1]
    assert "truncated" in result.warnings[2]
    assert "empty" in result.warnings[3]
    assert "unreadable" in result.warnings[4] and "unreadable" in result.warnings[5]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_permission_denied_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(frame_record(b""))
    path.chmod(0)
    result = read_event_file(path)
    assert result.scalars == {} and "unreadable" in result.warnings[0]


@pytest.mark.parametrize("seed", range(3))
def test_record_starts_are_those_of_a_sequential_walk(tmp_path: Path, seed: int) -> None:
    """Records of every size (long tags: lengths of 256 bytes and more, headers without a zero run) and a cut end."""
    rng = np.random.default_rng(100 + seed)
    tags = ["a", "x" * 300, "y" * 5000, "Train/mean_reward"]
    data = b"".join(frame_record(random_event(rng, tags).SerializeToString()) for _ in range(400))
    path = tmp_path / "events.out.tfevents.1.host"
    for cut in (0, 7):
        path.write_bytes(data[: len(data) - cut])
        buf, n = read_buffer(path)
        starts, lengths, problem = frame(buf, n, *word_views(buf, n))
        expected = walk_records(data[: len(data) - cut])
        assert starts.tolist() == [start for start, _ in expected]
        assert lengths.tolist() == [len(payload) for _, payload in expected]
        assert (problem is None) == (cut == 0)
