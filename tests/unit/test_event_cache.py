"""The incremental event reader: a cached read always equals a fresh :func:`read_event_files`, and reads only what
a file gained (nothing of an unchanged file); whatever looks odd (shrunk, replaced, rewritten, corrupt cache entry,
skewed clocks) means a reread from byte 0, never a wrong value."""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tensorboard.compat.proto import event_pb2, tensor_pb2
from torch.utils.tensorboard import SummaryWriter

from hpc_sweep.collect.event_cache import MAGIC, EventCache, FileKey, decode_entry, file_key
from hpc_sweep.collect.tfevents import EventReadResult, iter_event_files, read_event_files
from hpc_sweep.collect.tfevents.reader import read_event_chunk
from tests.unit.tfevents_support import frame_record, random_event, tensor_value


def assert_same(got: EventReadResult, expected: EventReadResult) -> None:
    """Same tags, dtypes and bits (NaN payloads and -0.0 included), same warnings in the same order."""
    assert got.warnings == expected.warnings
    assert set(got.scalars) == set(expected.scalars)
    for tag, series in expected.scalars.items():
        for name in ("step", "value", "wall_time"):
            a, b = getattr(got.scalars[tag], name), getattr(series, name)
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), (tag, name)


def check(cache: EventCache, paths: list[Path]) -> int:
    """Read through the cache, compare with a fresh read, and return the bytes this read took."""
    before = cache.bytes_read
    assert_same(cache.read(paths), read_event_files(paths))
    return cache.bytes_read - before


def event(step: int, value: float, tag: str = "x", wall: float | None = None) -> bytes:
    """One framed simple_value record."""
    record = event_pb2.Event(step=step, wall_time=1.7e9 + step if wall is None else wall)
    record.summary.value.add(tag=tag, simple_value=value)
    return frame_record(record.SerializeToString())


def events(steps: range, tag: str = "x", offset: float = 0.0) -> bytes:
    return b"".join(event(step, step * 0.5 + offset, tag) for step in steps)


def test_a_chunk_from_a_record_boundary_reports_where_the_next_read_begins(tmp_path: Path) -> None:
    path = tmp_path / "events.out.tfevents.1.host"
    data = bytearray(events(range(20)))
    path.write_bytes(bytes(data[:-3]))  # the last record cut mid-write
    chunk = read_event_chunk(path, start=len(events(range(10))), records_before=10)
    last = len(events(range(19)))
    assert (chunk.end, chunk.records, chunk.damaged, chunk.bytes_read) == (last, 19, False, len(data) - 3 - chunk.start)
    assert chunk.problem == f"truncated record at byte {last} (file cut mid-record); kept the 19 records before it"
    data[last + 20] ^= 1
    path.write_bytes(bytes(data))
    chunk = read_event_chunk(path, start=len(events(range(10))), records_before=10)
    assert (chunk.end, chunk.records, chunk.damaged) == (last, 19, True)
    assert chunk.problem == f"CRC mismatch in the record data at byte {last}; kept the 19 records before it"
    assert read_event_files([path]).warnings == [f"{path}: {chunk.problem}"]


@pytest.fixture
def cache(tmp_path: Path) -> EventCache:
    return EventCache(tmp_path / "cache")


def test_a_growing_file_costs_only_its_new_bytes(tmp_path: Path, cache: EventCache) -> None:
    writer = SummaryWriter(str(tmp_path / "run"))
    for step in range(500):
        writer.add_scalar("Train/mean_reward", np.sin(step), step)
        writer.add_scalar("Loss/value", step / 3.0, step, new_style=True, double_precision=True)
    writer.flush()
    files = iter_event_files(tmp_path / "run")
    first = files[0].stat().st_size
    assert check(cache, files) == first
    assert check(cache, files) == 0  # unchanged: no event read
    for step in range(500, 800):  # the writer still open
        writer.add_scalar("Train/mean_reward", np.cos(step), step)
    writer.flush()
    assert check(cache, files) == files[0].stat().st_size - first
    later = EventCache(tmp_path / "cache")  # the next collect: a new object, the same directory
    assert check(later, files) == 0
    writer.close()
    size = files[0].stat().st_size
    with open(files[0], "ab") as handle:  # another writer appending to the same file
        handle.write(events(range(800, 900), "Train/mean_reward"))
    assert check(later, files) == files[0].stat().st_size - size
    assert later.read(files).scalars["Train/mean_reward"].step.size == 900


def test_a_record_cut_mid_write_is_read_again_from_its_start(tmp_path: Path, cache: EventCache) -> None:
    path = tmp_path / "events.out.tfevents.1.host"
    data = events(range(100))
    path.write_bytes(data[: len(data) - 7])
    check(cache, [path])
    warning = cache.read([path]).warnings
    assert len(warning) == 1 and "truncated record" in warning[0] and "kept the 99 records" in warning[0]
    record = len(event(99, 49.5))
    with open(path, "ab") as handle:
        handle.write(data[len(data) - 7 :])
    assert check(cache, [path]) == record  # the cut record again, from its first byte
    assert cache.read([path]).warnings == []


def test_an_empty_file_then_written(tmp_path: Path, cache: EventCache) -> None:
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(b"")
    assert check(cache, [path]) == 0
    path.write_bytes(events(range(10)))
    assert check(cache, [path]) == path.stat().st_size


def test_a_shrunk_file_is_read_again_from_the_start(tmp_path: Path, cache: EventCache) -> None:
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(events(range(100)))
    check(cache, [path])
    path.write_bytes(events(range(50), offset=1.0))  # same inode, fewer bytes
    assert check(cache, [path]) == path.stat().st_size


def test_a_replaced_file_is_read_again_even_with_the_same_size_and_mtime(tmp_path: Path, cache: EventCache) -> None:
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(events(range(100)))
    check(cache, [path])
    old = path.stat()
    new = tmp_path / "new"
    new.write_bytes(events(range(100), offset=1.0))
    os.utime(new, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(new, path)
    assert path.stat().st_ino != old.st_ino
    assert check(cache, [path]) == old.st_size


def test_a_rewrite_in_place_within_one_mtime_tick_is_caught_by_the_tail_hash(tmp_path: Path, cache: EventCache) -> None:
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(events(range(300)))
    check(cache, [path])
    old = path.stat()
    with open(path, "r+b") as handle:  # same inode, same size, new last values
        handle.write(events(range(300), offset=2.0))
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))
    assert FileKey(*file_key(path)) == FileKey(old.st_size, old.st_mtime_ns, old.st_ino, old.st_dev)
    assert check(cache, [path]) == old.st_size
    assert cache.read([path]).scalars["x"].value[-1] == 299 * 0.5 + 2.0


@pytest.mark.parametrize("skew_s", [-86_400, -1, 1, 86_400])
def test_skewed_clocks_never_give_a_wrong_value(tmp_path: Path, cache: EventCache, skew_s: int) -> None:
    """mtimes are compared for equality only: backwards or forwards, a change of content is read."""
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(events(range(300)))
    check(cache, [path])
    mtime = path.stat().st_mtime_ns
    with open(path, "r+b") as handle:  # an early value changed, outside the tail hash: only the mtime tells
        handle.write(event(0, 7.0))
    os.utime(path, ns=(mtime, mtime + skew_s * 10**9))
    assert check(cache, [path]) == path.stat().st_size
    assert cache.read([path]).scalars["x"].value[0] == 7.0
    with open(path, "ab") as handle:  # then appended, the clock going the other way
        handle.write(events(range(300, 310)))
    os.utime(path, ns=(mtime, mtime - skew_s * 10**9))
    assert check(cache, [path]) == len(events(range(300, 310)))


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"garbage" * 100,
        lambda data: b"",
        lambda data: data[: len(data) // 2],
        lambda data: data[:-1],
        lambda data: data + b"\0",
        lambda data: MAGIC + b"\x02\0\0\0" + data[len(MAGIC) + 4 :],  # a format version this code does not know
        lambda data: data.replace(b'"end": ', b'"end": "x', 1),
    ],
    ids=["garbage", "empty", "half", "one-byte-short", "one-byte-long", "version", "bad-header"],
)
def test_a_corrupt_cache_entry_is_a_miss_and_is_rewritten(tmp_path: Path, cache: EventCache, damage) -> None:
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(events(range(200)))
    check(cache, [path])
    (entry,) = (tmp_path / "cache").iterdir()
    assert decode_entry(entry.read_bytes()) is not None
    entry.write_bytes(damage(entry.read_bytes()))
    assert check(cache, [path]) == path.stat().st_size
    assert decode_entry(entry.read_bytes()) is not None  # rewritten
    assert check(cache, [path]) == 0


def test_a_damaged_record_keeps_its_warning_on_every_read(tmp_path: Path, cache: EventCache) -> None:
    path = tmp_path / "events.out.tfevents.1.host"
    data = bytearray(events(range(100)))
    data[len(events(range(40))) + 20] ^= 0xFF  # inside record 40's data
    path.write_bytes(bytes(data))
    check(cache, [path])
    warnings = cache.read([path]).warnings
    assert len(warnings) == 1 and "CRC mismatch" in warnings[0] and "kept the 40 records" in warnings[0]
    assert check(cache, [path]) == 0  # unchanged: cached, warning included
    with open(path, "ab") as handle:
        handle.write(events(range(100, 120)))
    check(cache, [path])  # grown: read again from the damage, which still ends the file
    assert cache.read([path]).warnings == warnings
    assert cache.read([path]).scalars["x"].step.size == 40


def test_a_damaged_record_header_ends_the_file_likewise(tmp_path: Path, cache: EventCache) -> None:
    path = tmp_path / "events.out.tfevents.1.host"
    data = bytearray(events(range(100)))
    data[len(events(range(60))) + 3] ^= 0x01  # record 60's length
    path.write_bytes(bytes(data))
    check(cache, [path])
    assert "kept the 60 records" in cache.read([path]).warnings[0]


def test_several_files_of_one_run_merge_as_a_fresh_read(tmp_path: Path, cache: EventCache) -> None:
    first, second = tmp_path / "events.out.tfevents.1.a", tmp_path / "events.out.tfevents.2.b"
    first.write_bytes(events(range(100)))
    second.write_bytes(b"".join(event(step, -1.0, wall=1.7e9 + 1000 + step) for step in range(50, 80)))
    files = [first, second]
    check(cache, files)
    with open(first, "ab") as handle:
        handle.write(events(range(100, 130)))
    with open(second, "ab") as handle:
        handle.write(event(120, -2.0, wall=1.0))  # older: loses to the first file's step 120
    assert check(cache, files) == len(events(range(100, 130))) + len(event(120, -2.0, wall=1.0))
    series = cache.read(files).scalars["x"]
    assert series.value[series.step == 60][0] == -1.0 and series.value[series.step == 120][0] == 60.0


def test_in_memory_mode_reads_incrementally_and_pickles(tmp_path: Path) -> None:
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(events(range(100)))
    cache = EventCache(None)
    check(cache, [path])
    copy = pickle.loads(pickle.dumps(cache))
    assert check(copy, [path]) == 0
    with open(path, "ab") as handle:
        handle.write(events(range(100, 110)))
    assert check(copy, [path]) == len(events(range(100, 110)))
    assert not any(tmp_path.glob("*.evc"))


def test_exact_values_whatever_their_width(tmp_path: Path, cache: EventCache) -> None:
    """Doubles that float32 cannot hold, NaN payloads, -0.0, inf and steps beyond int32 come back bit for bit."""
    path = tmp_path / "events.out.tfevents.1.host"
    records = [event(2**40, float("nan")), event(3, -0.0), event(4, float("inf")), event(-5, 1.5)]
    for step, number in enumerate([1 / 3, np.float64(np.frombuffer(b"\x01\0\0\0\0\0\xf8\x7f", "<f8")[0])]):
        record = event_pb2.Event(step=10 + step, wall_time=1.7e9 + 1 / 7)
        tensor = tensor_pb2.TensorProto(dtype=2, tensor_content=np.float64(number).tobytes())
        record.summary.value.add().CopyFrom(tensor_value("d", tensor))
        records.append(frame_record(record.SerializeToString()))
    path.write_bytes(b"".join(records))
    assert check(cache, [path]) == path.stat().st_size
    assert check(EventCache(tmp_path / "cache"), [path]) == 0  # from the entry file


def tensor(step: int, plugin: str | None, tag: str = "t", wall: float = 1.7e9) -> bytes:
    """One framed tensor-typed scalar record, declaring its tag the scalars plugin's or not."""
    record = event_pb2.Event(step=step, wall_time=wall)
    value = tensor_pb2.TensorProto(dtype=1, float_val=[step])
    record.summary.value.add().CopyFrom(tensor_value(tag, value, plugin))
    return frame_record(record.SerializeToString())


def test_a_tensor_tag_declared_only_in_a_later_chunk(tmp_path: Path, cache: EventCache) -> None:
    """Tensor points count once some record declares the tag a scalar, even in bytes read later."""
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(tensor(0, None) + tensor(1, None))
    check(cache, [path])
    assert "t" not in cache.read([path]).scalars
    more = tensor(2, "scalars") + tensor(3, None)
    with open(path, "ab") as handle:
        handle.write(more)
    assert check(cache, [path]) == len(more)
    assert cache.read([path]).scalars["t"].step.tolist() == [0, 1, 2, 3]


def test_a_tag_with_simple_and_undeclared_tensor_points_declared_later(tmp_path: Path, cache: EventCache) -> None:
    """Their merge order needs record numbers the cache does not keep: the file is read again from 0, exactly."""
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(tensor(0, None, "mixed") + event(0, 5.0, "mixed", wall=1.7e9) + event(7, 1.0, "mixed"))
    check(cache, [path])
    with open(path, "ab") as handle:
        handle.write(tensor(1, "scalars", "mixed"))
    assert check(cache, [path]) == len(tensor(1, "scalars", "mixed")) + path.stat().st_size  # new bytes, then all
    series = cache.read([path]).scalars["mixed"]
    assert series.step.tolist() == [0, 1, 7] and series.value[0] == 5.0  # the later record wins the tie


def test_a_record_that_is_not_an_event_in_new_bytes(tmp_path: Path, cache: EventCache) -> None:
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(events(range(10)) + frame_record(b"\xff\xff\xff"))
    check(cache, [path])
    with open(path, "ab") as handle:
        handle.write(events(range(10, 20)) + frame_record(b"\xff\xff\xff") + events(range(20, 30)))
    check(cache, [path])
    warnings = cache.read([path]).warnings
    assert len(warnings) == 2 and all("undecodable record" in line for line in warnings)


def test_a_tag_filter_and_an_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(events(range(10), "a") + events(range(10), "b"))
    cache = EventCache(tmp_path / "cache", tags={"a"})
    assert_same(cache.read([path]), read_event_files([path], tags={"a"}))
    missing = tmp_path / "events.out.tfevents.2.gone"
    assert_same(cache.read([path, missing]), read_event_files([path, missing], tags={"a"}))
    assert file_key(missing) is None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    count=st.integers(1, 120),
    cuts=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=6),
    on_boundaries=st.booleans(),
    damage=st.one_of(st.none(), st.floats(0.0, 1.0)),
    reopen=st.booleans(),
)
def test_any_sequence_of_appends_reads_as_a_fresh_read(
    seed: int, count: int, cuts: list[float], on_boundaries: bool, damage: float | None, reopen: bool
) -> None:
    """A file growing by random pieces (cut at record boundaries or anywhere, maybe with a damaged byte): after every
    piece the cached read equals the fresh read of the whole file."""
    rng = np.random.default_rng(seed)
    records = [_random_record(rng) for _ in range(count)]
    data = bytearray(b"".join(records))
    if damage is not None:
        data[int(damage * (len(data) - 1))] ^= 0x10
    bounds = np.cumsum([0] + [len(r) for r in records])
    points = sorted(int(bounds[int(c * count)]) if on_boundaries else int(c * len(data)) for c in [*cuts, 1.0])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.out.tfevents.1.host"
        cache = EventCache(Path(tmp) / "cache")
        written = 0
        for point in points:
            with open(path, "ab") as handle:
                handle.write(bytes(data[written:point]))
            written = max(written, point)
            if reopen:
                cache = EventCache(Path(tmp) / "cache")
            check(cache, [path])


def _random_record(rng: np.random.Generator) -> bytes:
    """Mostly the decoder fuzzer's events; some undeclared or declaring tensor scalars and some foreign records."""
    kind = int(rng.integers(0, 10))
    if kind == 0:
        return tensor(int(rng.integers(0, 4)), None if rng.random() < 0.7 else "scalars", str(rng.choice(["a", "t"])))
    if kind == 1 and rng.random() < 0.3:
        return frame_record(b"\xff\xff\xff")
    return frame_record(random_event(rng, ["a", "b/c"]).SerializeToString())
