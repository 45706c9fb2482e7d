"""Where runs go: ``slurm`` (submitit job arrays), ``local`` (GPU-aware pool on this machine), ``debug`` (foreground).

Every backend runs :class:`hpc_sweep.job.TrainingJob` through submitit, so the code on a cluster node is the code the
local tests exercise.
"""

from __future__ import annotations

EXECUTORS = ("slurm", "local", "debug")
