"""The event reader against files written by the real writers, compared with tensorboard's own EventAccumulator."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from torch.utils.tensorboard import SummaryWriter

from hpc_sweep.collect.events import iter_event_files, read_event_file, read_event_files


def _accumulated(path: Path, tag: str) -> tuple[list[int], np.ndarray]:
    acc = EventAccumulator(str(path), size_guidance={"scalars": 0})
    acc.Reload()
    events = acc.Scalars(tag)
    return [e.step for e in events], np.array([e.value for e in events], dtype=np.float32)


@pytest.fixture
def torch_run(tmp_path: Path) -> Path:
    writer = SummaryWriter(str(tmp_path / "run"))
    for step in range(12_000):  # more than EventAccumulator's default 10,000 per tag
        writer.add_scalar("Train/mean_reward", np.sin(step / 100.0) * 10, step)
        writer.add_scalar("Perf/collection time", 1.0 / (step + 1), step)
    for step in range(50):
        writer.add_scalar("Loss/value", step * 0.5, step, new_style=True)
    writer.close()
    return tmp_path / "run"


def test_every_point_of_every_tag_equals_event_accumulator(torch_run: Path) -> None:
    result = read_event_files(iter_event_files(torch_run))
    assert result.warnings == []
    for tag in ("Train/mean_reward", "Perf/collection time"):
        steps, values = _accumulated(torch_run, tag)
        assert len(steps) == 12_000
        assert result.scalars[tag].step.tolist() == steps
        np.testing.assert_array_equal(result.scalars[tag].value.astype(np.float32), values)  # exact float32


def test_new_style_tensor_scalars_are_read(torch_run: Path) -> None:
    series = read_event_files(iter_event_files(torch_run)).scalars["Loss/value"]
    assert series.step.tolist() == list(range(50))
    assert series.value.tolist() == [step * 0.5 for step in range(50)]


def test_tf2_style_double_tensor_content_scalars(tmp_path: Path) -> None:
    writer = EventFileWriter(str(tmp_path))
    for step in range(5):
        tensor = tensor_pb2.TensorProto(
            dtype=2,  # DT_DOUBLE
            tensor_shape=tensor_shape_pb2.TensorShapeProto(),
            tensor_content=np.array([step / 3.0], dtype="<f8").tobytes(),
        )
        metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
        )
        value = summary_pb2.Summary.Value(tag="eval/return", tensor=tensor, metadata=metadata)
        writer.add_event(event_pb2.Event(step=step, wall_time=1.0 + step, summary=summary_pb2.Summary(value=[value])))
    writer.close()
    series = read_event_files(iter_event_files(tmp_path)).scalars["eval/return"]
    assert series.value.tolist() == [step / 3.0 for step in range(5)]  # double precision kept


def test_several_files_merge_in_step_order_latest_wall_time_wins(tmp_path: Path) -> None:
    first = SummaryWriter(str(tmp_path))
    for step in range(10):
        first.add_scalar("x", 1.0, step, walltime=100.0 + step)
    first.close()
    second = SummaryWriter(str(tmp_path), filename_suffix=".resumed")
    for step in range(5, 15):
        second.add_scalar("x", 2.0, step, walltime=200.0 + step)
    second.close()
    files = iter_event_files(tmp_path)
    assert len(files) == 2
    series = read_event_files(files).scalars["x"]
    assert series.step.tolist() == list(range(15))
    assert series.value.tolist() == [1.0] * 5 + [2.0] * 10


def test_truncated_file_keeps_complete_records_with_a_warning(torch_run: Path) -> None:
    path = iter_event_files(torch_run)[0]
    data = path.read_bytes()
    path.write_bytes(data[:-30])
    result = read_event_file(path)
    assert len(result.warnings) == 1 and "truncated" in result.warnings[0] and str(path) in result.warnings[0]
    assert result.scalars["Train/mean_reward"].step.size == 12_000  # the cut fell in the last tensor record
    assert result.scalars["Loss/value"].step.size == 49


def test_flipped_bit_stops_at_that_record_instead_of_a_silent_nan(torch_run: Path) -> None:
    path = iter_event_files(torch_run)[0]
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle] ^= 0x10
    path.write_bytes(bytes(data))
    result = read_event_file(path)
    assert any("CRC mismatch" in warning for warning in result.warnings)
    series = result.scalars["Train/mean_reward"]
    assert 0 < series.step.size < 12_000
    assert np.isfinite(series.value).all()


def test_foreign_and_empty_files_warn_and_give_no_data(tmp_path: Path) -> None:
    foreign = tmp_path / "events.out.tfevents.123.host"
    foreign.write_bytes(os.urandom(500))
    empty = tmp_path / "events.out.tfevents.124.host"
    empty.write_bytes(b"")
    result = read_event_files([foreign, empty, tmp_path / "events.out.tfevents.missing"])
    assert result.scalars == {}
    assert any(str(foreign) in w for w in result.warnings)
    assert any("unreadable" in w for w in result.warnings)


def test_tag_filter_reads_only_the_asked_tags(torch_run: Path) -> None:
    result = read_event_files(iter_event_files(torch_run), tags={"Loss/value"})
    assert set(result.scalars) == {"Loss/value"}


def test_nan_values_are_kept(tmp_path: Path) -> None:
    writer = SummaryWriter(str(tmp_path))
    for step, value in enumerate([1.0, float("nan"), float("inf"), 2.0]):
        writer.add_scalar("v", value, step)
    writer.close()
    values = read_event_files(iter_event_files(tmp_path)).scalars["v"].value
    assert values[0] == 1.0 and np.isnan(values[1]) and np.isinf(values[2]) and values[3] == 2.0


def test_vectorised_crc_equals_the_c_implementation() -> None:
    import crc32c

    from hpc_sweep.collect.events import masked_crc32c_many

    rng = np.random.default_rng(0)
    buf = rng.integers(0, 256, size=5000, dtype=np.uint8).tobytes()
    starts = rng.integers(0, 4000, size=300)
    lengths = rng.integers(0, 900, size=300)
    ours = masked_crc32c_many(buf, starts, lengths)
    for start, length, value in zip(starts, lengths, ours, strict=True):
        crc = crc32c.crc32c(buf[start : start + length])
        assert value == ((((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def test_damaged_length_mid_file_keeps_the_records_before_it(torch_run: Path) -> None:
    path = iter_event_files(torch_run)[0]
    data = bytearray(path.read_bytes())
    records = 0
    pos = 0
    while records < 1000:  # walk to the 1000th record and break its length field
        pos += int.from_bytes(data[pos : pos + 8], "little") + 16
        records += 1
    data[pos + 2] ^= 0x01
    path.write_bytes(bytes(data))
    result = read_event_file(path)
    assert any("byte" in w for w in result.warnings)
    kept = sum(series.step.size for series in result.scalars.values())
    assert 990 <= kept < 1000  # the file_version record and per-tag metadata records carry no new points
