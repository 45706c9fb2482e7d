"""Failure signs and progress read from job logs, as RSL-RL and PyTorch print them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from hpc_sweep.logs.console import (
    LogScan,
    _last_attempt_offset,
    last_attempt_offset,
    parse_console_metrics,
    parse_summaries,
    scan_log,
)

CUDA_OOM = """\
Traceback (most recent call last):
  File "scripts/reinforcement_learning/rsl_rl/train.py", line 212, in main
    runner.learn(num_learning_iterations=agent_cfg.max_iterations, init_at_random_ep_len=True)
torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.19 GiB
"""


def _scan(text: str) -> LogScan:
    scan = LogScan()
    for line in text.splitlines(keepends=True):
        scan.feed(line)
    return scan


def test_cuda_out_of_memory_is_named() -> None:
    reason = _scan(CUDA_OOM).failure_reason()
    assert reason.startswith("CUDA out of memory") and "torch.OutOfMemoryError" in reason


def test_python_exception_line_is_the_reason() -> None:
    text = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: bad env.episode_length\n'
    assert _scan(text).failure_reason() == "Python exception: ValueError: bad env.episode_length"


def test_clean_log_has_no_failure_and_tracks_progress() -> None:
    text = "\x1b[1m Learning iteration 41/100 \x1b[0m\n                     Mean reward: -3.25\n"
    scan = _scan(text)
    assert scan.failure_reason() is None
    assert (scan.iteration, scan.total_iterations, scan.last_mean_reward) == (41, 100, -3.25)


def test_log_dir_lines_of_isaac_lab_are_read() -> None:
    text = (
        "[INFO] Logging experiment in directory: /ws/IsaacLab/logs/rsl_rl/anymal_c_rough\n"
        "Exact experiment name requested from command line: 2026-01-02_03-04-05\n"
    )
    scan = _scan(text)
    assert scan.log_root == "/ws/IsaacLab/logs/rsl_rl/anymal_c_rough" and scan.exact_name == "2026-01-02_03-04-05"


def test_rsl_rl_2x_console_block(tmp_path: Path) -> None:
    block = (
        "################################################################################\n"
        "\x1b[1m                      Learning iteration 7/1500                       \x1b[0m \n\n"
        "                       Computation: 41533 steps/s (collection: 2.128s, learning 0.239s)\n"
        "               Value function loss: 0.0123\n"
        "                    Surrogate loss: -0.0045\n"
        "             Mean action noise std: 0.98\n"
        "                       Mean reward: 1.52\n"
        "               Mean episode length: 31.20\n"
        "  Episode_Reward/track_lin_vel_xy_exp: 0.0412\n"
        "--------------------------------------------------------------------------------\n"
        "                   Total timesteps: 786432\n"
    )
    log = tmp_path / "slurm-1.out"
    log.write_text(block)
    metrics = parse_console_metrics(log)
    assert metrics["Loss/value_function"] == [(7, 0.0123)]
    assert metrics["Loss/surrogate"] == [(7, -0.0045)]
    assert metrics["Policy/mean_noise_std"] == [(7, 0.98)]
    assert metrics["Train/mean_reward"] == [(7, 1.52)]
    assert metrics["Episode_Reward/track_lin_vel_xy_exp"] == [(7, 0.0412)]
    assert "Computation" not in " ".join(metrics)


def test_summaries_txt_with_a_damaged_line(tmp_path: Path) -> None:
    path = tmp_path / "summaries.txt"
    path.write_text(
        "Iteration\tReward/mean\tReward/std\tEpisode Length/mean\n0\t1.0\t0.1\t10\nbroken\n1\t2.0\t0.2\t12\n"
    )
    series, warnings = parse_summaries(path)
    assert series["Train/mean_reward"] == [(0, 1.0), (1, 2.0)] and len(warnings) == 1


def test_scan_of_a_missing_log_is_empty(tmp_path: Path) -> None:
    assert scan_log(tmp_path / "nope.log").iteration is None


def test_rsl_rl_2x_block_before_any_episode_ended_and_timings(tmp_path: Path) -> None:
    block = (
        "\x1b[1m Learning iteration 0/1500 \x1b[0m \n"
        "                       Computation: 2428 steps/s (collection: 0.011s, learning 0.042s)\n"
        "             Mean action noise std: 1.03\n"
        "                    value_function: 0.0934\n"
        "                         surrogate: 0.0008\n"
        "                           entropy: 1.4250\n"
        "\x1b[1m Learning iteration 1/1500 \x1b[0m \n"
        "                                   Collection time: 0.017s \n"
        "                                     Learning time: 0.040s \n"
        "                                  Steps per second: 9800 \n"
    )
    log = tmp_path / "job.out"
    log.write_text(block)
    metrics = parse_console_metrics(log)
    assert metrics["Loss/value_function"] == [(0, 0.0934)] and metrics["Loss/entropy"] == [(0, 1.425)]
    assert metrics["Perf/total_fps"] == [(0, 2428.0), (1, 9800.0)]
    assert metrics["Perf/collection time"] == [(0, 0.011)] and metrics["Perf/collection_time"] == [(1, 0.017)]
    assert metrics["Perf/learning_time"] == [(0, 0.042), (1, 0.04)]


# --- attempts: the job wrapper appends each attempt of a run to one train.log, each after a header line ---------


def _header(attempt: int) -> str:
    return f"=== hpc_sweep run 0003 attempt {attempt} on node7 at 2026-01-0{attempt}T00:00:00+00:00\n=== cwd: /w\n"


def _iterations(first: int, last: int, total: int, reward: float = 0.0) -> str:
    return "".join(
        f"\x1b[1m Learning iteration {it}/{total} \x1b[0m\n{'Mean reward:':>40} {reward + it:.2f}\n"
        for it in range(first, last + 1)
    )


INTERRUPTED = 'Traceback (most recent call last):\n  File "train.py", line 9, in <module>\nKeyboardInterrupt\n'


def test_only_the_last_attempt_decides_failure_and_progress(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    log.write_text(_header(1) + _iterations(0, 4, 20) + INTERRUPTED + _header(2) + _iterations(0, 19, 20))
    assert scan_log(log).failure_reason() == "Python exception: KeyboardInterrupt"  # the whole file
    last = scan_log(log, last_attempt=True)
    assert last.failure_reason() is None
    assert (last.iteration, last.iterations_seen, last.first_mean_reward) == (19, 20, 0.0)


def test_a_failure_in_the_last_attempt_is_seen(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    log.write_text(_header(1) + _iterations(0, 19, 20) + _header(2) + _iterations(15, 17, 20) + INTERRUPTED)
    scan = scan_log(log, last_attempt=True)
    assert scan.failure_reason() == "Python exception: KeyboardInterrupt" and scan.iterations_seen == 3


def test_a_foreign_log_without_headers_is_one_attempt(tmp_path: Path) -> None:
    log = tmp_path / "slurm-42.out"
    log.write_text(_iterations(0, 3, 10) + INTERRUPTED + _iterations(4, 9, 10))
    assert last_attempt_offset(log) == 0
    scan = scan_log(log, last_attempt=True)
    assert scan.failure_reason() == "Python exception: KeyboardInterrupt" and scan.iterations_seen == 10


def test_a_line_that_only_looks_like_a_header_does_not_split_attempts(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    text = _header(1) + INTERRUPTED + "=== hpc_sweep run of the night, printed by a script\n" + _iterations(0, 1, 2)
    log.write_text(text)
    assert last_attempt_offset(log) == 0
    assert scan_log(log, last_attempt=True).failure_reason() == "Python exception: KeyboardInterrupt"


class _CountingReader(io.BufferedReader):
    """A file opened for reading that counts the bytes read through it."""

    def __init__(self, path: Path) -> None:
        super().__init__(io.FileIO(path, "rb"))
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        data = super().readline(size)
        self.bytes_read += len(data)
        return data


def test_the_last_attempt_of_a_big_log_is_found_from_its_end(tmp_path: Path) -> None:
    """Three attempts, the first two of 8 MB each: finding the last reads about its own size, not the file's."""
    log = tmp_path / "train.log"
    bulk = _iterations(0, 99_999, 100_000)[: 8 << 20]
    last_part = _header(3) + _iterations(40, 59, 60, reward=5.0)
    log.write_text(_header(1) + bulk + INTERRUPTED + _header(2) + bulk + INTERRUPTED + last_part)
    size = log.stat().st_size
    assert last_attempt_offset(log) == size - len(last_part.encode())
    with _CountingReader(log) as handle:
        assert _last_attempt_offset(handle, size) == size - len(last_part.encode())
        assert handle.bytes_read < 3 * (64 << 10)
    scan = scan_log(log, last_attempt=True)
    assert scan.failure_reason() is None and (scan.iteration, scan.iterations_seen) == (59, 20)


@pytest.mark.parametrize("shift", [-40, -19, -18, -1, 0, 1, 8, 16, 17, 18, 30])
def test_a_header_across_a_block_border_is_found(tmp_path: Path, shift: int) -> None:
    """The backwards search reads 64 KiB blocks; a header line may start anywhere around a border."""
    tail = _header(2) + _iterations(0, 1, 2)
    size_after_header_start = 3 * 65536 + shift  # the header starts this many bytes before the end
    filler_lines = "x" * 99 + "\n"
    body = _header(1) + INTERRUPTED
    padding = size_after_header_start - len(tail.encode())
    assert padding > 0
    log = tmp_path / "train.log"
    log.write_text(body + filler_lines * 2000 + tail + filler_lines * (padding // 100) + "y" * (padding % 100))
    expected = log.stat().st_size - size_after_header_start
    assert last_attempt_offset(log) == expected
    assert scan_log(log, last_attempt=True).failure_reason() is None


def test_each_attempt_replaces_the_curve_from_its_first_iteration_on(tmp_path: Path) -> None:
    """A resumed attempt redoes from its checkpoint (10) on; what the earlier attempt did after it is dropped."""
    log = tmp_path / "train.log"
    log.write_text(
        _header(1) + _iterations(0, 14, 30) + INTERRUPTED + _header(2) + _iterations(10, 12, 30, reward=100.0)
    )
    rewards = parse_console_metrics(log)["Train/mean_reward"]
    assert rewards == [(it, float(it)) for it in range(10)] + [(it, 100.0 + it) for it in (10, 11, 12)]


def test_a_fresh_restart_replaces_the_whole_curve(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    log.write_text(_header(1) + _iterations(0, 14, 30) + _header(2) + _iterations(0, 5, 30, reward=50.0))
    assert parse_console_metrics(log)["Train/mean_reward"] == [(it, 50.0 + it) for it in range(6)]


def test_a_worker_exception_under_torch_distributed_run_is_the_reason_not_the_wrappers() -> None:
    """torch.distributed.run prefixes its workers' lines with [rankN]: and ends with its own ChildFailedError."""
    scan = LogScan()
    for line in [
        "[rank1]: Traceback (most recent call last):",
        '[rank1]:   File "train.py", line 3, in <module>',
        "[rank1]: RuntimeError: injected failure on rank 1 at iteration 5",
        "E1203 12:00:00.000 1 torch/distributed/elastic/multiprocessing/api.py:874] failed (exitcode: 1)",
        "Traceback (most recent call last):",
        '  File "torch/distributed/run.py", line 9, in <module>',
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ",
    ]:
        scan.feed(line + "\n")
    assert scan.failure_reason() == "Python exception: RuntimeError: injected failure on rank 1 at iteration 5"
    alone = LogScan()
    for line in [
        "Traceback (most recent call last):",
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError:",
    ]:
        alone.feed(line + "\n")
    assert (
        alone.failure_reason() == "Python exception: torch.distributed.elastic.multiprocessing.errors.ChildFailedError:"
    )
