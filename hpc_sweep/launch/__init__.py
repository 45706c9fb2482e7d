"""Where runs go: ``slurm`` (submitit job arrays), ``local`` (GPU-aware pool on this machine), ``debug`` (foreground).

The interface and the table of backends are in :mod:`hpc_sweep.launch.base`.
"""
