"""What an attempt's training process gets from its job: the planned environment, and the scheduler's job id.

Standard library only: the job wrapper (:mod:`hpc_sweep.job`) imports it on the node.
"""

from __future__ import annotations

import os

#: Planned variables a user's own export keeps: a W&B group chosen on purpose (several sweeps in one group). The run's
#: W&B identity (WANDB_RUN_ID, WANDB_NAME, WANDB_RESUME) is always its own: one exported value for every run would
#: merge all seeds into one W&B run.
_USER_MAY_KEEP = frozenset({"WANDB_RUN_GROUP"})


def apply_planned_env(env: dict[str, str], planned: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Add the run's planned variables (its W&B identity, see :func:`hpc_sweep.plan.wandb_env`) to ``env``, the
    training's environment; a variable the user exported wins only where :data:`_USER_MAY_KEEP` says so."""
    for key, value in planned:
        if not (key in _USER_MAY_KEEP and env.get(key)):
            env[key] = value
    return env


def job_id() -> str | None:
    """The scheduler's id of this job (Slurm array task id form when in an array), if any."""
    array_job, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array_job and task:
        return f"{array_job}_{task}"
    return (
        os.environ.get("SLURM_JOB_ID")
        or os.environ.get("SUBMITIT_LOCAL_JOB_ID")
        or os.environ.get("SUBMITIT_DEBUG_JOB_ID")
    )
