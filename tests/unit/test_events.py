"""The event reader against files written by the real writers, compared with tensorboard's own readers.

Fixtures are written by PyTorch's ``SummaryWriter`` (default and ``new_style`` scalars), by tensorboard's
``EventFileWriter`` with hand-built protos (TF2-style tensor scalars), and by a plain TFRecord framer for fuzzing;
expected values come from ``EventAccumulator`` (every point kept) or from a reference reader that decodes every record
with tensorboard's protobuf classes.
"""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import crc32c
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from torch.utils.tensorboard import SummaryWriter

from hpc_sweep.collect.events import iter_event_files, read_event_file, read_event_files, read_many

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rsl_rl_logs"


# ---------------------------------------------------------------------------------------------------------------
# Helpers: EventAccumulator, a reference reader, a TFRecord framer


def _accumulated(path: Path) -> dict[str, tuple[list[int], np.ndarray, np.ndarray]]:
    acc = EventAccumulator(str(path), size_guidance={"scalars": 0})
    acc.Reload()
    out = {}
    for tag in acc.Tags()["scalars"]:
        events = acc.Scalars(tag)
        out[tag] = (
            [e.step for e in events],
            np.array([e.value for e in events]),
            np.array([e.wall_time for e in events]),
        )
    return out


def _assert_same_as_accumulator(result_scalars: dict, path: Path) -> None:
    """Equal values, with EventAccumulator's repeated steps reduced by our rule (the latest wall time wins).

    RSL-RL's ``*/time`` tags use whole seconds of training as the step, so several iterations share one step.
    """
    expected = _accumulated(path)
    assert set(result_scalars) == set(expected)
    for tag, (all_steps, all_values, all_walls) in expected.items():
        keep = {step: k for k, step in sorted(enumerate(all_steps), key=lambda item: (all_walls[item[0]], item[0]))}
        steps = sorted(keep)
        values, walls = all_values[[keep[s] for s in steps]], all_walls[[keep[s] for s in steps]]
        series = result_scalars[tag]
        assert series.step.tolist() == steps, tag
        np.testing.assert_array_equal(series.value.astype(np.float32), values.astype(np.float32))
        np.testing.assert_array_equal(series.wall_time, walls)


def _records(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, payload) of each record, walked sequentially with every CRC checked (the reference framing)."""
    out, pos = [], 0
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        if _masked(data[pos : pos + 8]) != struct.unpack_from("<I", data, pos + 8)[0]:
            break
        end = pos + 12 + length
        if end + 4 > len(data) or _masked(data[pos + 12 : end]) != struct.unpack_from("<I", data, end)[0]:
            break
        out.append((pos, data[pos + 12 : end]))
        pos = end + 4
    return out


def _reference(data: bytes) -> dict[str, tuple[list[int], list[float], list[float]]]:
    """Every scalar point, decoded record by record with protobuf; same merge rule (latest wall time wins)."""
    points: dict[str, list[tuple[int, float, float, int]]] = {}
    tensors: dict[str, list[tuple[int, float, float, int]]] = {}
    scalar_tags: set[str] = set()  # tags some record declares as the scalars plugin's
    for index, (_, payload) in enumerate(_records(data)):
        event = event_pb2.Event.FromString(payload)
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == "scalars":
                scalar_tags.add(value.tag)
            if value.WhichOneof("value") == "simple_value":
                points.setdefault(value.tag, []).append((event.step, value.simple_value, event.wall_time, index))
            elif value.WhichOneof("value") == "tensor":
                number = _tensor_number(value.tensor)
                if number is not None:
                    tensors.setdefault(value.tag, []).append((event.step, number, event.wall_time, index))
    for tag, items in tensors.items():
        if tag in scalar_tags:
            points.setdefault(tag, []).extend(items)
    out = {}
    for tag, items in points.items():
        best: dict[int, tuple[float, int, float]] = {}
        for step, value, wall, index in items:
            if step not in best or (wall, index) >= (best[step][0], best[step][1]):
                best[step] = (wall, index, value)
        steps = sorted(best)
        out[tag] = (steps, [best[s][2] for s in steps], [best[s][0] for s in steps])
    return out


def _tensor_number(tensor: tensor_pb2.TensorProto) -> float | None:
    if any(d.size != 1 for d in tensor.tensor_shape.dim):
        return None
    dtype = {1: "<f4", 2: "<f8", 3: "<i4", 9: "<i8", 19: "<f2"}.get(tensor.dtype)
    if dtype is None:
        return None
    if tensor.tensor_content:
        return float(np.frombuffer(tensor.tensor_content, dtype=dtype)[0])
    for name in ("float_val", "double_val", "int_val", "int64_val"):
        if len(getattr(tensor, name)) == 1:
            return float(getattr(tensor, name)[0])
    if len(tensor.half_val) == 1:
        return float(np.array([tensor.half_val[0]], dtype=np.uint16).view(np.float16)[0])
    return None


def _assert_same_as_reference(path: Path) -> None:
    result = read_event_file(path)
    expected = _reference(path.read_bytes())
    assert set(result.scalars) == set(expected)
    for tag, (steps, values, walls) in expected.items():
        series = result.scalars[tag]
        assert series.step.tolist() == steps, tag
        np.testing.assert_array_equal(series.value, np.array(values, dtype=np.float64), err_msg=tag)
        np.testing.assert_array_equal(series.wall_time, np.array(walls, dtype=np.float64), err_msg=tag)


def _masked(data: bytes) -> int:
    crc = crc32c.crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _frame(payload: bytes) -> bytes:
    header = struct.pack("<Q", len(payload))
    return header + struct.pack("<I", _masked(header)) + payload + struct.pack("<I", _masked(payload))


def _tensor_value(
    tag: str, tensor: tensor_pb2.TensorProto, plugin: str | None = "scalars"
) -> summary_pb2.Summary.Value:
    value = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
    if plugin is not None:
        value.metadata.plugin_data.plugin_name = plugin
    return value


# ---------------------------------------------------------------------------------------------------------------
# Fixtures written by PyTorch's SummaryWriter


@pytest.fixture(scope="module")
def torch_run_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("torch") / "run"
    writer = SummaryWriter(str(run))
    for step in range(12_000):  # more than EventAccumulator's default 10,000 per tag
        writer.add_scalar("Train/mean_reward", np.sin(step / 100.0) * 10, step)
        if step % 4 == 0:
            writer.add_scalar("Perf/collection time", 1.0 / (step + 1), step)
    for step in range(300):
        writer.add_scalar("Loss/value", step * 0.5, step, new_style=True)
        writer.add_scalar("Loss/double", step / 3.0, step, new_style=True, double_precision=True)
    writer.close()
    return run


@pytest.fixture
def torch_run(torch_run_master: Path, tmp_path: Path) -> Path:
    """A private copy, for tests that damage the file."""
    return Path(shutil.copytree(torch_run_master, tmp_path / "run"))


def test_every_point_of_every_tag_equals_event_accumulator(torch_run: Path) -> None:
    files = iter_event_files(torch_run)
    result = read_event_files(files)
    assert result.warnings == []
    assert result.scalars["Train/mean_reward"].step.size == 12_000  # all points: no reservoir sampling
    assert result.scalars["Perf/collection time"].step.tolist() == list(range(0, 12_000, 4))
    simple = {tag: s for tag, s in result.scalars.items() if not tag.startswith("Loss/")}
    _assert_same_as_accumulator(simple, files[0])  # EventAccumulator's Scalars() holds simple_value tags only
    _assert_same_as_reference(files[0])


def test_result_arrays_have_the_promised_types(torch_run: Path) -> None:
    series = read_event_files(iter_event_files(torch_run)).scalars["Train/mean_reward"]
    assert series.step.dtype == np.int64 and series.value.dtype == np.float64 and series.wall_time.dtype == np.float64
    assert (np.diff(series.step) > 0).all()
    assert (series.wall_time > 1.5e9).all()


def test_new_style_tensor_scalars_float_and_double(torch_run: Path) -> None:
    scalars = read_event_files(iter_event_files(torch_run)).scalars
    assert scalars["Loss/value"].step.tolist() == list(range(300))
    assert scalars["Loss/value"].value.tolist() == [step * 0.5 for step in range(300)]
    assert scalars["Loss/double"].value.tolist() == [step / 3.0 for step in range(300)]  # double precision kept


def test_tag_filter_reads_only_the_asked_tags(torch_run: Path) -> None:
    files = iter_event_files(torch_run)
    full = read_event_files(files)
    result = read_event_files(files, tags={"Loss/value", "Perf/collection time", "absent"})
    assert set(result.scalars) == {"Loss/value", "Perf/collection time"}
    for tag in result.scalars:
        assert result.scalars[tag].step.tolist() == full.scalars[tag].step.tolist()
        assert result.scalars[tag].value.tolist() == full.scalars[tag].value.tolist()


def test_nan_and_inf_values_are_kept(tmp_path: Path) -> None:
    writer = SummaryWriter(str(tmp_path))
    for step, value in enumerate([1.0, float("nan"), float("inf"), float("-inf"), 2.0]):
        writer.add_scalar("v", value, step)
    writer.close()
    values = read_event_files(iter_event_files(tmp_path)).scalars["v"].value
    assert values[0] == 1.0 and np.isnan(values[1]) and values[2] == np.inf and values[3] == -np.inf
    assert values[4] == 2.0


def test_several_files_merge_in_step_order_latest_wall_time_wins(tmp_path: Path) -> None:
    first = SummaryWriter(str(tmp_path))
    for step in range(10):
        first.add_scalar("x", 1.0, step, walltime=100.0 + step)
    first.close()
    second = SummaryWriter(str(tmp_path), filename_suffix=".resumed")
    for step in range(5, 15):
        second.add_scalar("x", 2.0, step, walltime=200.0 + step)
    second.add_scalar("x", 3.0, 0, walltime=50.0)  # older than the first file's step 0: loses
    second.close()
    files = iter_event_files(tmp_path)
    assert len(files) == 2 and files == sorted(files)
    series = read_event_files(list(reversed(files))).scalars["x"]  # file order does not decide; wall time does
    assert series.step.tolist() == list(range(15))
    assert series.value.tolist() == [1.0] * 5 + [2.0] * 10
    assert series.wall_time.tolist() == [100.0 + s for s in range(5)] + [200.0 + s for s in range(5, 15)]


def test_iter_event_files_takes_only_event_files_directly_inside(tmp_path: Path) -> None:
    (tmp_path / "events.out.tfevents.2.host").write_bytes(b"")
    (tmp_path / "events.out.tfevents.1.host").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "events.out.tfevents.3.host").write_bytes(b"")
    assert [p.name for p in iter_event_files(tmp_path)] == ["events.out.tfevents.1.host", "events.out.tfevents.2.host"]
    assert iter_event_files(tmp_path / "missing") == []


def test_real_rsl_rl_logs_of_every_version_equal_event_accumulator() -> None:
    files = sorted(FIXTURES.glob("*/logs/rsl_rl/*/*/events.out.tfevents.*"))
    assert len(files) == 4
    for path in files:
        result = read_event_file(path)
        assert result.warnings == []
        assert len(result.scalars) > 5
        _assert_same_as_accumulator(result.scalars, path)


# ---------------------------------------------------------------------------------------------------------------
# TF2-style tensor scalars, without TensorFlow


def test_tf2_style_tensor_scalars_with_metadata_only_on_the_first_event(tmp_path: Path) -> None:
    writer = EventFileWriter(str(tmp_path))
    shape = tensor_shape_pb2.TensorShapeProto()
    for step in range(20):
        first = step == 0
        values = [
            _tensor_value(
                "eval/double_content",
                tensor_pb2.TensorProto(dtype=2, tensor_shape=shape, tensor_content=np.float64(step / 7).tobytes()),
                "scalars" if first else None,
            ),
            _tensor_value(
                "eval/float_content",
                tensor_pb2.TensorProto(dtype=1, tensor_shape=shape, tensor_content=np.float32(step / 7).tobytes()),
                "scalars" if first else None,
            ),
            _tensor_value(
                "eval/float_val", tensor_pb2.TensorProto(dtype=1, tensor_shape=shape, float_val=[step * 1.5])
            ),
            _tensor_value("eval/int64", tensor_pb2.TensorProto(dtype=9, int64_val=[step * 1000])),
            _tensor_value("eval/int32", tensor_pb2.TensorProto(dtype=3, int_val=[step - 5])),
            _tensor_value(
                "eval/half", tensor_pb2.TensorProto(dtype=19, half_val=[int(np.float16(step).view(np.uint16))])
            ),
            _tensor_value("text/not_a_scalar", tensor_pb2.TensorProto(dtype=1, float_val=[1.0]), "text"),
        ]
        for value in values:  # one value per event, as TF2's writer does
            writer.add_event(
                event_pb2.Event(step=step, wall_time=1e9 + step, summary=summary_pb2.Summary(value=[value]))
            )
    writer.close()
    scalars = read_event_files(iter_event_files(tmp_path)).scalars
    steps = list(range(20))
    assert "text/not_a_scalar" not in scalars  # a one-number tensor of another plugin is no scalar
    assert scalars["eval/double_content"].value.tolist() == [s / 7 for s in steps]  # double precision kept
    assert scalars["eval/float_content"].value.tolist() == [float(np.float32(s / 7)) for s in steps]
    assert scalars["eval/float_val"].value.tolist() == [s * 1.5 for s in steps]
    assert scalars["eval/int64"].value.tolist() == [s * 1000.0 for s in steps]
    assert scalars["eval/int32"].value.tolist() == [s - 5.0 for s in steps]
    assert scalars["eval/half"].value.tolist() == [float(s) for s in steps]
    for series in scalars.values():
        assert series.step.tolist() == steps
        assert series.wall_time.tolist() == [1e9 + s for s in steps]
    _assert_same_as_reference(iter_event_files(tmp_path)[0])


# ---------------------------------------------------------------------------------------------------------------
# Damaged, foreign, empty and unreadable files


@pytest.mark.parametrize("cut", [1, 3, 4, 5, 12, 20, 30])
def test_truncated_file_keeps_every_complete_record_with_a_warning(torch_run: Path, cut: int) -> None:
    path = iter_event_files(torch_run)[0]
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    records = _records(data[:-cut])
    result = read_event_file(path)
    assert len(result.warnings) == 1, result.warnings
    assert "truncated" in result.warnings[0] and str(path) in result.warnings[0]
    assert f"kept the {len(records)} records" in result.warnings[0]
    assert len(records) == len(_records(data)) - 1  # exactly the last record lost
    _assert_same_as_reference(path)


def test_flipped_bits_stop_reading_at_the_damaged_record(torch_run: Path) -> None:
    path = iter_event_files(torch_run)[0]
    clean = path.read_bytes()
    records = _records(clean)
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
        expected = _reference(bytes(data[: records[damaged][0]]))
        assert kept == sum(len(steps) for steps, _, _ in expected.values())
        _assert_same_as_reference(path)  # the reference stops at the same record


def test_damaged_length_field_mid_file_keeps_the_records_before_it(torch_run: Path) -> None:
    path = iter_event_files(torch_run)[0]
    data = bytearray(path.read_bytes())
    start = _records(bytes(data))[1000][0]
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
    path.write_bytes(_frame(b""))
    path.chmod(0)
    result = read_event_file(path)
    assert result.scalars == {} and "unreadable" in result.warnings[0]


def test_a_framed_record_that_is_not_an_event_is_skipped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "events.out.tfevents.1.host"
    good = event_pb2.Event(step=1, wall_time=5.0, summary=summary_pb2.Summary(value=[{"tag": "a", "simple_value": 2}]))
    path.write_bytes(_frame(good.SerializeToString()) + _frame(b"\xff\xff\xff") + _frame(good.SerializeToString()))
    result = read_event_file(path)
    assert result.scalars["a"].value.tolist() == [2.0]
    assert len(result.warnings) == 1 and "undecodable record" in result.warnings[0]


# ---------------------------------------------------------------------------------------------------------------
# Fuzzing the fast path against the reference reader


def _random_event(rng: np.random.Generator, tags: list[str]) -> event_pb2.Event:
    kind = rng.integers(0, 12)
    wall = [0.0, 1.7e9 + float(rng.random()) * 1e6, float(rng.integers(0, 10**6))][int(rng.integers(0, 3))]
    step = int(
        [0, rng.integers(0, 200), rng.integers(0, 2**20), rng.integers(0, 2**50), -rng.integers(1, 9)][
            int(rng.integers(0, 5))
        ]
    )
    tag = tags[int(rng.integers(0, len(tags)))]
    event = event_pb2.Event(step=step, wall_time=wall)
    value = float(rng.normal() * 10.0 ** int(rng.integers(-3, 6)))
    if kind <= 5:
        event.summary.value.add(tag=tag, simple_value=value)
    elif kind == 6:
        event.summary.value.add(tag=tag, simple_value=value)
        event.summary.value.add(tag=tag + "/second", simple_value=-value)  # two values in one event
    elif kind == 7:
        event.summary.value.add().CopyFrom(
            _tensor_value(tag + "/t", tensor_pb2.TensorProto(dtype=1, float_val=[value]))
        )
    elif kind == 8:
        content = np.float64(value).tobytes()
        event.summary.value.add().CopyFrom(
            _tensor_value(tag + "/d", tensor_pb2.TensorProto(dtype=2, tensor_content=content))
        )
    elif kind == 9:
        event.summary.value.add(tag=tag + "/h").histo.CopyFrom(
            summary_pb2.HistogramProto(min=value, max=value + 1, num=3)
        )
    elif kind == 10:
        event.file_version = "brain.Event:2"
    else:
        event.summary.value.add(tag=tag, simple_value=value).metadata.display_name = "shown"
    return event


@pytest.mark.parametrize("seed", range(6))
def test_fuzzed_files_equal_the_reference_reader(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    tags = ["a", "Train/mean_reward", "Perf/collection time", "Ünïcode/ß", "x" * 300, "y" * 5000, "Loss/value_function"]
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(b"".join(_frame(_random_event(rng, tags).SerializeToString()) for _ in range(600)))
    result = read_event_file(path)
    assert result.warnings == []
    _assert_same_as_reference(path)


def test_repeated_steps_in_one_file_latest_wall_time_then_later_record_wins(tmp_path: Path) -> None:
    path = tmp_path / "events.out.tfevents.1.host"
    records = []
    for step, wall, value in [
        (1, 10.0, 1.0),
        (2, 11.0, 2.0),
        (1, 12.0, 3.0),
        (2, 5.0, 4.0),
        (3, 7.0, 5.0),
        (3, 7.0, 6.0),
    ]:
        event = event_pb2.Event(step=step, wall_time=wall)
        event.summary.value.add(tag="r", simple_value=value)
        records.append(_frame(event.SerializeToString()))
    path.write_bytes(b"".join(records))
    series = read_event_file(path).scalars["r"]
    assert series.step.tolist() == [1, 2, 3]
    assert series.value.tolist() == [3.0, 2.0, 6.0]
    _assert_same_as_reference(path)


def test_read_many_equals_reading_each_run(torch_run_master: Path, tmp_path: Path) -> None:
    runs = []
    for k in range(5):
        run = tmp_path / f"run{k}"
        writer = SummaryWriter(str(run))
        for step in range(50):
            writer.add_scalar("Train/mean_reward", step * k, step)
        writer.close()
        runs.append(run)
    runs.append(torch_run_master)
    results = read_many(runs, workers=2)
    assert list(results) == runs
    for run in runs:
        alone = read_event_files(iter_event_files(run))
        assert set(results[run].scalars) == set(alone.scalars)
        for tag, series in alone.scalars.items():
            assert results[run].scalars[tag].value.tolist() == series.value.tolist()
    only = read_many(runs, tags=["Train/mean_reward"], workers=1)
    assert all(set(result.scalars) == {"Train/mean_reward"} for result in only.values())
