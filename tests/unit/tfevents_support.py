"""Helpers shared by the ``test_tfevents_*`` tests: reference readers, a TFRecord framer, fixture writers.

Expected values come from ``EventAccumulator`` (every point kept) or from a reference reader that walks the records
sequentially and decodes each with tensorboard's protobuf classes. Fixture files are written by PyTorch's
``SummaryWriter`` (default and ``new_style`` scalars), by tensorboard's ``EventFileWriter`` with hand-built protos
(TF2-style tensor scalars), and by a plain TFRecord framer for fuzzing.
"""

from __future__ import annotations

import struct
from pathlib import Path

import crc32c
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2
from torch.utils.tensorboard import SummaryWriter

from hpc_sweep.collect.tfevents import read_event_file

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rsl_rl_logs"


def accumulated(path: Path) -> dict[str, tuple[list[int], np.ndarray, np.ndarray]]:
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


def assert_same_as_accumulator(result_scalars: dict, path: Path) -> None:
    """Equal values, with EventAccumulator's repeated steps reduced by our rule (the latest wall time wins).

    RSL-RL's ``*/time`` tags use whole seconds of training as the step, so several iterations share one step.
    """
    expected = accumulated(path)
    assert set(result_scalars) == set(expected)
    for tag, (all_steps, all_values, all_walls) in expected.items():
        keep = {step: k for k, step in sorted(enumerate(all_steps), key=lambda item: (all_walls[item[0]], item[0]))}
        steps = sorted(keep)
        values, walls = all_values[[keep[s] for s in steps]], all_walls[[keep[s] for s in steps]]
        series = result_scalars[tag]
        assert series.step.tolist() == steps, tag
        np.testing.assert_array_equal(series.value.astype(np.float32), values.astype(np.float32))
        np.testing.assert_array_equal(series.wall_time, walls)


def walk_records(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, payload) of each record, walked sequentially with every CRC checked (the reference framing)."""
    out, pos = [], 0
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        if masked(data[pos : pos + 8]) != struct.unpack_from("<I", data, pos + 8)[0]:
            break
        end = pos + 12 + length
        if end + 4 > len(data) or masked(data[pos + 12 : end]) != struct.unpack_from("<I", data, end)[0]:
            break
        out.append((pos, data[pos + 12 : end]))
        pos = end + 4
    return out


def reference(data: bytes) -> dict[str, tuple[list[int], list[float], list[float]]]:
    """Every scalar point, decoded record by record with protobuf; same merge rule (latest wall time wins)."""
    points: dict[str, list[tuple[int, float, float, int]]] = {}
    tensors: dict[str, list[tuple[int, float, float, int]]] = {}
    scalar_tags: set[str] = set()  # tags some record declares as the scalars plugin's
    for index, (_, payload) in enumerate(walk_records(data)):
        event = event_pb2.Event.FromString(payload)
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == "scalars":
                scalar_tags.add(value.tag)
            if value.WhichOneof("value") == "simple_value":
                points.setdefault(value.tag, []).append((event.step, value.simple_value, event.wall_time, index))
            elif value.WhichOneof("value") == "tensor":
                number = tensor_number(value.tensor)
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


def tensor_number(tensor: tensor_pb2.TensorProto) -> float | None:
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


def assert_same_as_reference(path: Path) -> None:
    result = read_event_file(path)
    expected = reference(path.read_bytes())
    assert set(result.scalars) == set(expected)
    for tag, (steps, values, walls) in expected.items():
        series = result.scalars[tag]
        assert series.step.tolist() == steps, tag
        np.testing.assert_array_equal(series.value, np.array(values, dtype=np.float64), err_msg=tag)
        np.testing.assert_array_equal(series.wall_time, np.array(walls, dtype=np.float64), err_msg=tag)


def masked(data: bytes) -> int:
    crc = crc32c.crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def frame_record(payload: bytes) -> bytes:
    header = struct.pack("<Q", len(payload))
    return header + struct.pack("<I", masked(header)) + payload + struct.pack("<I", masked(payload))


def tensor_value(tag: str, tensor: tensor_pb2.TensorProto, plugin: str | None = "scalars") -> summary_pb2.Summary.Value:
    value = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
    if plugin is not None:
        value.metadata.plugin_data.plugin_name = plugin
    return value


def write_torch_run(run: Path) -> Path:
    """A run dir written by PyTorch's SummaryWriter: two simple_value tags (12,000 and 3,000 points) and two
    ``new_style`` tensor tags (float and double, 300 points each)."""
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


_TORCH_RUNS: dict[Path, Path] = {}


def shared_torch_run(factory: pytest.TempPathFactory) -> Path:
    """:func:`write_torch_run` once per test session (the test modules share it; none may change it)."""
    base = factory.getbasetemp()
    if base not in _TORCH_RUNS:
        _TORCH_RUNS[base] = write_torch_run(factory.mktemp("torch") / "run")
    return _TORCH_RUNS[base]


def random_event(rng: np.random.Generator, tags: list[str]) -> event_pb2.Event:
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
        event.summary.value.add().CopyFrom(tensor_value(tag + "/t", tensor_pb2.TensorProto(dtype=1, float_val=[value])))
    elif kind == 8:
        content = np.float64(value).tobytes()
        event.summary.value.add().CopyFrom(
            tensor_value(tag + "/d", tensor_pb2.TensorProto(dtype=2, tensor_content=content))
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
