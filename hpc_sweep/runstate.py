"""The one definition of a run's state: the states, their sets, and the pure rules that decide them.

Every module that decides or shows a state uses this one: the job wrapper classifies how its training ended
(:func:`classify_exit`), a launcher overlays the scheduler's word on runs that could not record their own end
(:func:`overlay_scheduler`), and ``status``, ``collect``, ``compare`` and ``resubmit`` read the sets below. Standard
library only: the job wrapper on every compute node imports it.

Life of a run::

    pending -> queued -> running -> completed | failed | cancelled
                            |-> requeued -> running ...       (time limit or preemption; Slurm requeues)
                            |-> interrupted                    (stopped by a signal; local runs become cancelled)

``unknown`` is the state of a run found in a foreign log tree, before its logs say more.
"""

from __future__ import annotations

import enum
import signal


class RunState(str, enum.Enum):
    """A run's state; a ``str`` so records and JSON files hold the plain word."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    REQUEUED = "requeued"
    INTERRUPTED = "interrupted"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return self.value


#: States after which nothing more happens to a run unless the user resubmits it.
FINISHED = frozenset({RunState.COMPLETED, RunState.FAILED, RunState.CANCELLED})
#: States that ``resubmit --failed`` picks: runs that ended badly or were stopped.
ENDED_BADLY = frozenset({RunState.FAILED, RunState.CANCELLED, RunState.INTERRUPTED})
#: States whose job is still alive (queued, running, or waiting to be requeued): resubmit leaves them to it.
IN_FLIGHT = frozenset({RunState.QUEUED, RunState.RUNNING, RunState.REQUEUED})
#: States whose last value is not a final score: such runs never enter group statistics.
EXCLUDED_FROM_STATS = frozenset(RunState) - {RunState.COMPLETED, RunState.UNKNOWN}

#: The colour each state is shown in (rich style names), for every table that shows states.
STYLE = {
    RunState.COMPLETED: "green",
    RunState.FAILED: "red",
    RunState.CANCELLED: "yellow",
    RunState.RUNNING: "cyan",
    RunState.QUEUED: "blue",
    RunState.REQUEUED: "magenta",
    RunState.INTERRUPTED: "yellow",
    RunState.PENDING: "dim",
}

#: Slurm states that end a job, and the run state each means when the job could not record its own end.
SLURM_TERMINAL = {
    "COMPLETED": RunState.COMPLETED,
    "FAILED": RunState.FAILED,
    "TIMEOUT": RunState.FAILED,
    "PREEMPTED": RunState.FAILED,
    "OUT_OF_MEMORY": RunState.FAILED,
    "NODE_FAIL": RunState.FAILED,
    "BOOT_FAIL": RunState.FAILED,
    "DEADLINE": RunState.FAILED,
    "CANCELLED": RunState.CANCELLED,
    "REVOKED": RunState.CANCELLED,
}
_SLURM_RUNNING = frozenset({"RUNNING", "COMPLETING", "CONFIGURING"})


def awaits_rerun(state: RunState, has_job: bool) -> bool:
    """Whether ``resubmit``/``--resume`` may start a run again: it did not complete, and no job of it is still
    queued, running or waiting to be requeued (a pending run with a job id is waiting in the scheduler's queue)."""
    return state is not RunState.COMPLETED and state not in IN_FLIGHT and not (state is RunState.PENDING and has_job)


def parse_state(value: object) -> RunState:
    """The state a record or manifest holds; a missing or unknown word is ``pending`` (nothing recorded yet)."""
    try:
        return RunState(value)
    except ValueError:
        return RunState.PENDING


def style(state: object) -> str:
    """The rich style of a state word (plain white for words that are not states)."""
    try:
        return STYLE.get(RunState(state), "white")
    except ValueError:
        return "white"


def classify_exit(
    returncode: int | None,
    *,
    start_error: str | None = None,
    stopped_by: str | None = None,
    log_failure: str | None = None,
    log_dir_found: bool = True,
    finished_all_iterations: bool = False,
) -> tuple[RunState, str | None]:
    """Decide how one attempt of a training ended, with a one-line reason.

    Args:
        returncode: the training process's exit status (negative: killed by that signal); None if it never ran.
        start_error: why the process could not be started, if it could not.
        stopped_by: the signal name that made the wrapper stop the training (SIGINT, SIGTERM, ...), if any.
        log_failure: a failure the log shows (a traceback, CUDA out of memory), even after exit 0.
        log_dir_found: whether the training left a run directory.
        finished_all_iterations: whether the training reached the last of its planned iterations.

    A traceback in the log fails a run that exited 0: training scripts that catch and print exceptions exist.
    A stop signal that came after the training had finished all its iterations and exited 0 (Ctrl-C or a
    scheduler's signal a moment too late) stopped nothing: such an attempt is judged as if no signal had come.
    """
    if start_error:
        return RunState.FAILED, start_error
    if stopped_by and returncode == 0 and finished_all_iterations:
        stopped_by = None  # it finished before the signal could stop it
    if stopped_by == "SIGINT":
        return RunState.CANCELLED, f"stopped by SIGINT (Ctrl-C), exit code {returncode}"
    if stopped_by:
        reason = f"stopped by {stopped_by} (cancelled, preempted or requeued), exit code {returncode}"
        return RunState.INTERRUPTED, reason
    detail = f"; {log_failure}" if log_failure else ""
    if returncode is not None and returncode < 0:
        known = -returncode in signal.Signals._value2member_map_
        name = signal.Signals(-returncode).name if known else str(-returncode)
        return RunState.FAILED, f"killed by signal {name}{detail}"
    if returncode != 0:
        return RunState.FAILED, f"exit code {returncode}{detail}"
    if log_failure:
        return RunState.FAILED, f"{log_failure} (the process exited 0)"
    if not log_dir_found:
        return RunState.FAILED, "no log directory created (the training printed no log dir and none was found)"
    return RunState.COMPLETED, None


def end_without_scheduler(state: RunState) -> RunState:
    """A local or debug run's state once its job ended: no scheduler requeues it, so an interruption is final."""
    return RunState.CANCELLED if state is RunState.INTERRUPTED else state


def overlay_scheduler(state: RunState, slurm_state: str | None, reason: str | None) -> tuple[RunState, str | None]:
    """The run's state once Slurm's word is heard, for a run that has not recorded an end of its own.

    A job killed by the scheduler (time limit without requeue, out of memory, node failure, cancelled before it
    started) cannot write its record: its Slurm state becomes its state and reason. A finished record always wins,
    and so does a run's own word that it is running over sacct's PENDING: sacct reads the accounting database, which
    a busy cluster's slurmdbd updates late (a minute behind on the test cluster under load), while the record is
    written by the job as it starts.
    """
    if slurm_state is None or state in FINISHED:
        return state, reason
    if slurm_state in SLURM_TERMINAL and state is RunState.REQUEUED:
        # The attempt stopped for a requeue that never came: --max_requeues was used up (submitit then ends the
        # job), or the job was cancelled while it waited to start again.
        ended = SLURM_TERMINAL[slurm_state]
        return (RunState.CANCELLED if ended is RunState.CANCELLED else RunState.FAILED), (
            f"stopped at the time limit or by preemption and not requeued again (Slurm state {slurm_state}; "
            "requeues used up? see --max_requeues); resubmit resumes it from its checkpoint"
        )
    if slurm_state in SLURM_TERMINAL:
        return SLURM_TERMINAL[slurm_state], reason or f"Slurm state {slurm_state}"
    if slurm_state == "PENDING":
        return (RunState.RUNNING if state is RunState.RUNNING else RunState.PENDING), reason
    if slurm_state in _SLURM_RUNNING:
        return RunState.RUNNING, reason
    return state, reason
