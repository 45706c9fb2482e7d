"""Run states: how an attempt's end is classified, and how Slurm's word is overlaid on a run's own record."""

from __future__ import annotations

import json
import signal

import pytest

from hpc_sweep.runstate import (
    EXCLUDED_FROM_STATS,
    FINISHED,
    RunState,
    classify_exit,
    end_without_scheduler,
    overlay_scheduler,
    parse_state,
)


def test_a_clean_exit_with_a_run_dir_is_completed() -> None:
    assert classify_exit(0) == (RunState.COMPLETED, None)


def test_a_traceback_fails_a_run_even_when_it_exited_0() -> None:
    state, reason = classify_exit(0, log_failure="Python exception: ValueError: bad cfg")
    assert state is RunState.FAILED and reason == "Python exception: ValueError: bad cfg (the process exited 0)"


def test_a_non_zero_exit_names_its_code_and_the_logs_reason() -> None:
    assert classify_exit(3, log_failure="CUDA out of memory") == (RunState.FAILED, "exit code 3; CUDA out of memory")


def test_a_killed_training_names_the_signal() -> None:
    assert classify_exit(-signal.SIGKILL) == (RunState.FAILED, "killed by signal SIGKILL")
    assert classify_exit(-99)[1] == "killed by signal 99"


def test_no_run_directory_is_a_failure_with_that_reason() -> None:
    state, reason = classify_exit(0, log_dir_found=False)
    assert state is RunState.FAILED and "no log directory" in reason


def test_a_start_error_wins_over_everything() -> None:
    assert classify_exit(None, start_error="could not start: ENOENT") == (RunState.FAILED, "could not start: ENOENT")


def test_ctrl_c_cancels_and_other_stop_signals_interrupt() -> None:
    assert classify_exit(-2, stopped_by="SIGINT")[0] is RunState.CANCELLED
    assert classify_exit(-15, stopped_by="SIGTERM")[0] is RunState.INTERRUPTED


def test_an_interruption_is_final_where_no_scheduler_requeues() -> None:
    assert end_without_scheduler(RunState.INTERRUPTED) is RunState.CANCELLED
    assert end_without_scheduler(RunState.COMPLETED) is RunState.COMPLETED


@pytest.mark.parametrize(
    ("slurm", "state"),
    [
        ("TIMEOUT", RunState.FAILED),
        ("OUT_OF_MEMORY", RunState.FAILED),
        ("NODE_FAIL", RunState.FAILED),
        ("CANCELLED", RunState.CANCELLED),
        ("PENDING", RunState.PENDING),
        ("RUNNING", RunState.RUNNING),
    ],
)
def test_slurm_decides_for_runs_that_could_not_record_their_end(slurm: str, state: RunState) -> None:
    assert overlay_scheduler(RunState.QUEUED, slurm, None)[0] is state


def test_the_scheduler_state_becomes_the_reason_only_when_the_run_has_none() -> None:
    assert overlay_scheduler(RunState.RUNNING, "OUT_OF_MEMORY", None)[1] == "Slurm state OUT_OF_MEMORY"
    assert overlay_scheduler(RunState.RUNNING, "FAILED", "exit code 1")[1] == "exit code 1"


def test_a_finished_record_beats_the_scheduler() -> None:
    for state in FINISHED:
        assert overlay_scheduler(state, "CANCELLED", "own reason") == (state, "own reason")


def test_a_requeue_that_never_came_fails_the_run_and_says_why() -> None:
    state, reason = overlay_scheduler(RunState.REQUEUED, "TIMEOUT", None)
    assert state is RunState.FAILED and "--max_requeues" in reason
    assert overlay_scheduler(RunState.REQUEUED, "CANCELLED", None)[0] is RunState.CANCELLED
    assert overlay_scheduler(RunState.REQUEUED, "PENDING", "r") == (RunState.PENDING, "r")
    # sacct lags behind a job that started and said so in its record: the record is believed
    assert overlay_scheduler(RunState.RUNNING, "PENDING", None) == (RunState.RUNNING, None)
    assert overlay_scheduler(RunState.QUEUED, "PENDING", None) == (RunState.PENDING, None)


def test_only_completed_and_unknown_runs_enter_statistics() -> None:
    assert set(RunState) - EXCLUDED_FROM_STATS == {RunState.COMPLETED, RunState.UNKNOWN}


def test_states_are_plain_words_in_json_and_unknown_words_read_as_pending() -> None:
    assert json.loads(json.dumps({"state": RunState.REQUEUED})) == {"state": "requeued"}
    assert parse_state("completed") is RunState.COMPLETED and parse_state("timeout") is RunState.PENDING
    assert parse_state(None) is RunState.PENDING


def test_a_stop_signal_after_the_last_iteration_with_exit_0_is_completed() -> None:
    """Ctrl-C (or a scheduler's signal) that came a moment after the training finished stopped nothing."""
    for signame in ("SIGINT", "SIGTERM", "SIGUSR2"):
        assert classify_exit(0, stopped_by=signame, finished_all_iterations=True) == (RunState.COMPLETED, None)


def test_a_stop_signal_that_cut_the_training_short_still_cancels_or_interrupts() -> None:
    assert classify_exit(0, stopped_by="SIGINT")[0] is RunState.CANCELLED  # exit 0 but iterations missing
    assert classify_exit(-2, stopped_by="SIGINT", finished_all_iterations=True)[0] is RunState.CANCELLED
    assert classify_exit(1, stopped_by="SIGTERM", finished_all_iterations=True)[0] is RunState.INTERRUPTED


def test_a_finished_run_stopped_late_is_still_judged_by_its_log_and_run_dir() -> None:
    state, reason = classify_exit(0, stopped_by="SIGINT", finished_all_iterations=True, log_failure="Python exception")
    assert state is RunState.FAILED and reason == "Python exception (the process exited 0)"
    state, reason = classify_exit(0, stopped_by="SIGINT", finished_all_iterations=True, log_dir_found=False)
    assert state is RunState.FAILED and "no log directory" in reason
