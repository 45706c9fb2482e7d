"""Nothing silently lost in collection: attempts judged apart, gaps in TensorBoard data filled from the console log
(never overwriting an event point), and every run left out of group statistics listed with its reason and warned
about. Real rsl-rl-lib 5.5.1 logs (tests/fixtures/rsl_rl_logs) stand in for a run whose event file lost points."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2

from hpc_sweep.collect.discover import RunSource
from hpc_sweep.collect.results import Collection, collect, read_run, read_runs
from hpc_sweep.collect.tfevents import read_event_file
from hpc_sweep.logs.console import parse_console_metrics
from tests.conftest import write_collection
from tests.unit.tfevents_support import FIXTURES, walk_records

VERSION, SEED, ITERATIONS = "5.5.1", 55, 15


def _copy_run(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The 5.5.1 run copied: (the tree's root, its event file, its job log)."""
    root = tmp_path / VERSION
    shutil.copytree(FIXTURES / VERSION, root)
    (event,) = root.glob("logs/rsl_rl/legacy/*/events.out.tfevents.*")
    return root, event, root / f"job_v{VERSION}_seed{SEED}.out"


def _keep_iterations(event: Path, kept: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Cut the event file before the first record of iteration ``kept`` (what an unflushed writer leaves); return
    the event data before the cut."""
    data = event.read_bytes()
    before = {tag: (s.step, s.value) for tag, s in read_event_file(event).scalars.items()}
    for offset, payload in walk_records(data):
        record = event_pb2.Event.FromString(payload)
        if any(not v.tag.endswith("/time") for v in record.summary.value) and record.step >= kept:
            event.write_bytes(data[:offset])
            return before
    raise AssertionError("the event file has no record of that iteration")


@pytest.mark.parametrize("kept", [1, ITERATIONS - 1])
def test_iterations_missing_from_tensorboard_come_from_the_console(tmp_path: Path, kept: int) -> None:
    """One surviving event point, or the last iteration never flushed (rsl-rl 5): every iteration is collected."""
    root, event, _ = _copy_run(tmp_path)
    _keep_iterations(event, kept)
    collection = collect(root)
    (run,) = collection.runs
    steps, _ = run.metric("mean_reward")
    assert steps.tolist() == list(range(ITERATIONS))
    assert run.data_source == "tensorboard+console_log"
    for metric in ("value_function", "noise_std", "entropy", "episode_length"):
        assert run.metric(metric)[0].tolist() == list(range(ITERATIONS)), metric
    (warning,) = [w for w in collection.warnings if "filled" in w]
    assert run.source.run_id in warning and f"{ITERATIONS - kept} iteration(s)" in warning
    assert run.console_filled["Train/mean_reward"] == ITERATIONS - kept
    assert run.source.status == "completed"  # the curve now reaches params/agent.yaml's max_iterations


def test_tensorboard_points_are_never_replaced_by_console_values(tmp_path: Path) -> None:
    root, event, job_log = _copy_run(tmp_path)
    original = _keep_iterations(event, 10)
    text = job_log.read_text()
    job_log.write_text(re.sub(r"(Mean reward:\s*)[-\d.]+", r"\g<1>999.00", text))  # the console disagrees everywhere
    (run,) = collect(root).runs
    steps, values = run.metric("mean_reward")
    tb_steps, tb_values = original["Train/mean_reward"]
    assert tb_steps[:10].tolist() == list(range(10))
    np.testing.assert_array_equal(values[:10], tb_values[:10])  # exactly the event values, not the rounded text
    assert (values[10:] == 999.0).all() and steps.tolist() == list(range(ITERATIONS))
    assert np.isfinite(run.scalars["Train/mean_reward"][2][:10]).all()  # event points keep their wall time
    assert np.isnan(run.scalars["Train/mean_reward"][2][10:]).all()  # filled points have none


def test_filled_values_are_the_consoles(tmp_path: Path) -> None:
    root, event, job_log = _copy_run(tmp_path)
    _keep_iterations(event, 3)
    (run,) = collect(root).runs
    console = dict(parse_console_metrics(job_log)["Policy/mean_std"])  # rsl-rl 5 names it so in both places
    steps, values = run.metric("noise_std")
    assert steps.tolist() == list(range(ITERATIONS))
    assert [float(v) for v in values[3:]] == [console[s] for s in range(3, ITERATIONS)]


def test_a_live_run_is_filled_without_a_warning(tmp_path: Path) -> None:
    """A running training's event file lags its console (the writer flushes every two minutes): expected, no news."""
    _, event, job_log = _copy_run(tmp_path)
    _keep_iterations(event, 5)
    source = RunSource(run_id="0007", seed=SEED, group="g", log_dirs=[event.parent], console_logs=[job_log])
    source.status = "running"
    run = read_run(source)
    assert run.data_source == "tensorboard+console_log" and run.metric("mean_reward")[0].size == ITERATIONS
    assert run.warnings == []


def test_complete_event_data_are_read_alone(tmp_path: Path) -> None:
    root, _, _ = _copy_run(tmp_path)
    collection = collect(root)
    assert collection.runs[0].data_source == "tensorboard" and collection.warnings == []


def _source(tmp_path: Path, status: str, log_text: str | None, error: str | None = None) -> RunSource:
    logs = []
    if log_text is not None:
        logs = [tmp_path / "train.log"]
        logs[0].write_text(log_text)
    return RunSource(run_id="0003", seed=3, group="g", console_logs=logs, status=status, error=error)


def test_a_completed_run_whose_logs_are_gone_is_excluded_with_its_reason_and_a_warning(tmp_path: Path) -> None:
    gone = _source(tmp_path, "completed", None)  # its record says completed; its log dir and train.log are gone
    (tmp_path / "0004.log").write_text(_attempt(1, ITERS))
    kept = RunSource(run_id="0004", seed=4, group="g", console_logs=[tmp_path / "0004.log"], status="completed")
    runs = read_runs([gone, kept])
    assert (runs[0].data_source, runs[1].data_source) == ("none", "console_log")
    collection = Collection(tmp_path, runs, [w for run in runs for w in run.warnings])
    (warning,) = collection.warnings
    assert warning.startswith("run 0003 (seed 3) is completed but no reward data found (logs gone?)")
    results = write_collection(collection, tmp_path / "out").results
    (group,) = results["groups"]
    assert group["n"] == 1 and group["excluded_runs"] == ["0003"]
    assert group["excluded"] == [
        {"run_id": "0003", "seed": 3, "state": "completed", "reason": "no reward data found (logs gone?)"}
    ]
    assert results["warnings"] == [warning]


def _attempt(n: int, body: str) -> str:
    return f"=== hpc_sweep run 0003 attempt {n} on node at 2026-01-01T00:00:0{n}\n{body}"


ITERS = "".join(f"Learning iteration {it}/3\n{'Mean reward:':>40} {it}.00\n" for it in range(3))
CRASH = 'Traceback (most recent call last):\n  File "train.py", line 3\nKeyboardInterrupt\n'


def test_a_traceback_in_an_earlier_attempt_never_fails_a_completed_run(tmp_path: Path) -> None:
    run = read_run(_source(tmp_path, "completed", _attempt(1, ITERS[:30] + CRASH) + _attempt(2, ITERS)))
    assert run.source.status == "completed" and run.source.error is None and run.warnings == []


def test_the_record_of_a_sweep_run_is_trusted_over_its_log(tmp_path: Path) -> None:
    """The job wrapper classified the attempt from this same output: exit 0 with a traceback is failed there, so a
    completed record means it saw none (a traceback printed and handled by the training, say)."""
    run = read_run(_source(tmp_path, "completed", _attempt(1, ITERS + CRASH)))
    assert run.source.status == "completed"


def test_a_failed_record_without_a_reason_takes_its_last_attempts(tmp_path: Path) -> None:
    text = _attempt(1, CRASH.replace("KeyboardInterrupt", "ValueError: old")) + _attempt(2, CRASH)
    run = read_run(_source(tmp_path, "failed", text))
    assert run.source.error == "Python exception: KeyboardInterrupt"
    run = read_run(_source(tmp_path, "failed", text, error="exit code 3"))
    assert run.source.error == "exit code 3"


def test_a_foreign_run_is_failed_by_its_last_attempt_only(tmp_path: Path) -> None:
    assert read_run(_source(tmp_path, "unknown", _attempt(1, CRASH) + _attempt(2, ITERS))).source.status != "failed"
    run = read_run(_source(tmp_path, "unknown", _attempt(1, ITERS) + _attempt(2, CRASH)))
    assert run.source.status == "failed" and run.source.error == "Python exception: KeyboardInterrupt"
    run = read_run(_source(tmp_path, "unknown", ITERS + CRASH))  # no headers: one attempt
    assert run.source.status == "failed"


def test_an_earlier_job_logs_traceback_does_not_fail_a_foreign_run_its_later_attempt_completed(tmp_path: Path) -> None:
    """Job logs of a foreign tree are a run's attempts: only the newest one says how the run ended."""
    first, second = tmp_path / "slurm-1_0.out", tmp_path / "slurm-2_0.out"
    first.write_text("Learning iteration 0/10\nTraceback (most recent call last):\nRuntimeError: node died\n")
    second.write_text("".join(f"Learning iteration {i}/10\n Mean reward: {i}.0\n" for i in range(10)))
    os.utime(first, (1_000_000, 1_000_000))  # the failed attempt is the older log
    source = RunSource(run_id="r", seed=1, group="g", console_logs=[second, first])
    run = read_run(source)
    assert run.source.status != "failed" and run.source.error is None
    first.write_text(first.read_text())  # now the traceback is the newest word on the run
    assert read_run(RunSource(run_id="r", seed=1, group="g", console_logs=[second, first])).source.status == "failed"
