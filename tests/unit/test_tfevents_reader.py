"""The public reader against tensorboard's own readers: every point, step order, merging, and many runs at once.

Expected values come from ``EventAccumulator`` (every point kept) or from the reference reader of
``tfevents_support``; reading many runs in parallel is :func:`hpc_sweep.collect.results.read_runs`, the one driver.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tensorboard.compat.proto import event_pb2
from torch.utils.tensorboard import SummaryWriter

from hpc_sweep.collect.discover import RunSource
from hpc_sweep.collect.results import read_runs
from hpc_sweep.collect.tfevents import iter_event_files, read_event_file, read_event_files
from tests.unit.tfevents_support import (
    FIXTURES,
    assert_same_as_accumulator,
    assert_same_as_reference,
    frame_record,
)


def test_every_point_of_every_tag_equals_event_accumulator(torch_run: Path) -> None:
    files = iter_event_files(torch_run)
    result = read_event_files(files)
    assert result.warnings == []
    assert result.scalars["Train/mean_reward"].step.size == 12_000  # all points: no reservoir sampling
    assert result.scalars["Perf/collection time"].step.tolist() == list(range(0, 12_000, 4))
    simple = {tag: s for tag, s in result.scalars.items() if not tag.startswith("Loss/")}
    assert_same_as_accumulator(simple, files[0])  # EventAccumulator's Scalars() holds simple_value tags only
    assert_same_as_reference(files[0])


def test_result_arrays_have_the_promised_types(torch_run: Path) -> None:
    series = read_event_files(iter_event_files(torch_run)).scalars["Train/mean_reward"]
    assert series.step.dtype == np.int64 and series.value.dtype == np.float64 and series.wall_time.dtype == np.float64
    assert (np.diff(series.step) > 0).all()
    assert (series.wall_time > 1.5e9).all()


def test_tag_filter_reads_only_the_asked_tags(torch_run: Path) -> None:
    files = iter_event_files(torch_run)
    full = read_event_files(files)
    result = read_event_files(files, tags={"Loss/value", "Perf/collection time", "absent"})
    assert set(result.scalars) == {"Loss/value", "Perf/collection time"}
    for tag in result.scalars:
        assert result.scalars[tag].step.tolist() == full.scalars[tag].step.tolist()
        assert result.scalars[tag].value.tolist() == full.scalars[tag].value.tolist()


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
        assert_same_as_accumulator(result.scalars, path)


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
        records.append(frame_record(event.SerializeToString()))
    path.write_bytes(b"".join(records))
    series = read_event_file(path).scalars["r"]
    assert series.step.tolist() == [1, 2, 3]
    assert series.value.tolist() == [3.0, 2.0, 6.0]
    assert_same_as_reference(path)


def _sources(runs: list[Path]) -> list[RunSource]:
    return [RunSource(run_id=f"run{k}", seed=None, group="g", log_dirs=[run]) for k, run in enumerate(runs)]


def test_read_runs_equals_reading_each_run_with_one_and_two_workers(torch_run_master: Path, tmp_path: Path) -> None:
    runs = []
    for k in range(7):  # with the master, 8 runs: enough for read_runs to start its process pool
        run = tmp_path / f"run{k}"
        writer = SummaryWriter(str(run))
        for step in range(50):
            writer.add_scalar("Train/mean_reward", step * k, step)
        writer.close()
        runs.append(run)
    runs.append(torch_run_master)
    by_workers = {workers: read_runs(_sources(runs), workers=workers) for workers in (1, 2)}
    for results in by_workers.values():
        assert [result.source.run_id for result in results] == [f"run{k}" for k in range(len(runs))]
        assert [result.source.log_dirs for result in results] == [[run] for run in runs]
        for run, result in zip(runs, results, strict=True):
            alone = read_event_files(iter_event_files(run))
            assert result.data_source == "tensorboard" and result.warnings == []
            assert set(result.scalars) == set(alone.scalars)
            for tag, series in alone.scalars.items():
                steps, values, walls = result.scalars[tag]
                assert steps.tolist() == series.step.tolist()
                assert values.tolist() == series.value.tolist()
                assert walls.tolist() == series.wall_time.tolist()
    for one, two in zip(by_workers[1], by_workers[2], strict=True):
        assert set(one.scalars) == set(two.scalars)
        for tag, arrays in one.scalars.items():
            for a, b in zip(arrays, two.scalars[tag], strict=True):
                np.testing.assert_array_equal(a, b)
    for run in runs:  # the tag filter, on the same runs
        only = read_event_files(iter_event_files(run), tags=["Train/mean_reward"])
        assert set(only.scalars) == {"Train/mean_reward"}
