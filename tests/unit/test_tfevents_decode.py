"""Decoding: simple_value and tensor scalars of every encoding, NaN and inf, foreign records, and fuzzed files.

Every file is compared with the reference reader of ``tfevents_support`` (records decoded one by one with protobuf),
so the vectorised template path and the protobuf slow path must agree with it point for point.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from torch.utils.tensorboard import SummaryWriter

from hpc_sweep.collect.tfevents import iter_event_files, read_event_file, read_event_files
from tests.unit.tfevents_support import (
    assert_same_as_reference,
    frame_record,
    random_event,
    tensor_value,
)


def test_new_style_tensor_scalars_float_and_double(torch_run: Path) -> None:
    scalars = read_event_files(iter_event_files(torch_run)).scalars
    assert scalars["Loss/value"].step.tolist() == list(range(300))
    assert scalars["Loss/value"].value.tolist() == [step * 0.5 for step in range(300)]
    assert scalars["Loss/double"].value.tolist() == [step / 3.0 for step in range(300)]  # double precision kept


def test_nan_and_inf_values_are_kept(tmp_path: Path) -> None:
    writer = SummaryWriter(str(tmp_path))
    for step, value in enumerate([1.0, float("nan"), float("inf"), float("-inf"), 2.0]):
        writer.add_scalar("v", value, step)
    writer.close()
    values = read_event_files(iter_event_files(tmp_path)).scalars["v"].value
    assert values[0] == 1.0 and np.isnan(values[1]) and values[2] == np.inf and values[3] == -np.inf
    assert values[4] == 2.0


# ---------------------------------------------------------------------------------------------------------------
# TF2-style tensor scalars, without TensorFlow


def test_tf2_style_tensor_scalars_with_metadata_only_on_the_first_event(tmp_path: Path) -> None:
    writer = EventFileWriter(str(tmp_path))
    shape = tensor_shape_pb2.TensorShapeProto()
    for step in range(20):
        first = step == 0
        values = [
            tensor_value(
                "eval/double_content",
                tensor_pb2.TensorProto(dtype=2, tensor_shape=shape, tensor_content=np.float64(step / 7).tobytes()),
                "scalars" if first else None,
            ),
            tensor_value(
                "eval/float_content",
                tensor_pb2.TensorProto(dtype=1, tensor_shape=shape, tensor_content=np.float32(step / 7).tobytes()),
                "scalars" if first else None,
            ),
            tensor_value("eval/float_val", tensor_pb2.TensorProto(dtype=1, tensor_shape=shape, float_val=[step * 1.5])),
            tensor_value("eval/int64", tensor_pb2.TensorProto(dtype=9, int64_val=[step * 1000])),
            tensor_value("eval/int32", tensor_pb2.TensorProto(dtype=3, int_val=[step - 5])),
            tensor_value(
                "eval/half", tensor_pb2.TensorProto(dtype=19, half_val=[int(np.float16(step).view(np.uint16))])
            ),
            tensor_value("text/not_a_scalar", tensor_pb2.TensorProto(dtype=1, float_val=[1.0]), "text"),
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
    assert_same_as_reference(iter_event_files(tmp_path)[0])


# ---------------------------------------------------------------------------------------------------------------
# Records that are not events, and fuzzing the fast path against the reference reader


def test_a_framed_record_that_is_not_an_event_is_skipped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "events.out.tfevents.1.host"
    good = event_pb2.Event(step=1, wall_time=5.0, summary=summary_pb2.Summary(value=[{"tag": "a", "simple_value": 2}]))
    path.write_bytes(
        frame_record(good.SerializeToString()) + frame_record(b"\xff\xff\xff") + frame_record(good.SerializeToString())
    )
    result = read_event_file(path)
    assert result.scalars["a"].value.tolist() == [2.0]
    assert len(result.warnings) == 1 and "undecodable record" in result.warnings[0]


@pytest.mark.parametrize("seed", range(6))
def test_fuzzed_files_equal_the_reference_reader(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    tags = ["a", "Train/mean_reward", "Perf/collection time", "Ünïcode/ß", "x" * 300, "y" * 5000, "Loss/value_function"]
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(b"".join(frame_record(random_event(rng, tags).SerializeToString()) for _ in range(600)))
    result = read_event_file(path)
    assert result.warnings == []
    assert_same_as_reference(path)
