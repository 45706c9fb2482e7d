"""Failure signs and progress read from job logs, as RSL-RL and PyTorch print them."""

from __future__ import annotations

from pathlib import Path

from hpc_sweep.logs.console import LogScan, parse_console_metrics, parse_summaries, scan_log

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
