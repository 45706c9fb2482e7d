"""The Slurm executor: one ``sbatch`` job array per sweep (split at ``MaxArraySize``) through submitit.

Generic resource names (ours, shared by profiles and flags) map to submitit's Slurm parameters through one table;
values are validated here, before anything is submitted, with errors that name the fix.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

from hpc_sweep.errors import HpcSweepError, UsageError
from hpc_sweep.job import JobRequest

#: our resource name -> submitit SlurmExecutor parameter
PARAMETER_NAMES = {
    "partition": "partition",
    "account": "account",
    "qos": "qos",
    "time": "time",
    "gpus_per_node": "gpus_per_node",
    "cpus_per_task": "cpus_per_task",
    "mem_gb": "mem",
    "constraint": "constraint",
    "exclude": "exclude",
    "array_parallelism": "array_parallelism",
    "additional_parameters": "additional_parameters",
    "setup": "setup",
}
_COUNTS = ("gpus_per_node", "cpus_per_task", "array_parallelism")
_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")
DEFAULT_MAX_ARRAY_SIZE = 1001


def parse_time_minutes(text: str | int) -> int:
    """Minutes of a Slurm time limit: ``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS``."""
    if isinstance(text, int):
        if text <= 0:
            raise UsageError(f"--time {text}: give a positive number of minutes or HH:MM:SS")
        return text
    match = _TIME.match(str(text).strip())
    if not match:
        raise UsageError(f"--time {text!r} is not a Slurm time; use MM, HH:MM:SS or D-HH:MM:SS (e.g. 04:00:00)")
    days, first, second, third = match.groups()
    if days is not None:  # D-HH[:MM[:SS]]
        seconds = int(days) * 86400 + int(first) * 3600 + int(second or 0) * 60 + int(third or 0)
    elif third is not None:  # HH:MM:SS
        seconds = int(first) * 3600 + int(second) * 60 + int(third)
    elif second is not None:  # MM:SS
        seconds = int(first) * 60 + int(second)
    else:  # MM
        seconds = int(first) * 60
    if seconds <= 0:
        raise UsageError(f"--time {text!r} is zero; give a positive time limit")
    return max(1, -(-seconds // 60))


def slurm_parameters(resources: dict[str, Any]) -> dict[str, Any]:
    """Translate and validate our resource names into submitit SlurmExecutor parameters."""
    params: dict[str, Any] = {}
    for key, value in resources.items():
        if value is None or key == "python":
            continue
        if key not in PARAMETER_NAMES:
            raise UsageError(f"unknown Slurm resource {key!r}; valid: {', '.join(sorted(PARAMETER_NAMES))}")
        if key in _COUNTS and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise UsageError(f"--{key} {value!r} must be a non-negative integer")
        if key == "mem_gb":
            if not isinstance(value, (int, float)) or value <= 0:
                raise UsageError(f"--mem_gb {value!r} must be a positive number of GB")
            value = f"{int(value)}GB" if float(value).is_integer() else f"{int(value * 1024)}MB"
        if key == "time":
            value = parse_time_minutes(value)
        if key == "setup" and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise UsageError("slurm.setup must be a list of shell lines")
        if key == "additional_parameters" and not isinstance(value, dict):
            raise UsageError("slurm.additional_parameters must be a table of sbatch options")
        params[PARAMETER_NAMES[key]] = value
    if params.get("gpus_per_node") == 0:
        del params["gpus_per_node"]
    return params


def max_array_size() -> int:
    """The cluster's ``MaxArraySize`` (array indices must stay below it), from ``scontrol show config``."""
    try:
        output = subprocess.run(
            ["scontrol", "show", "config"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return DEFAULT_MAX_ARRAY_SIZE
    match = re.search(r"^MaxArraySize\s*=\s*(\d+)", output, re.MULTILINE)
    return int(match.group(1)) if match else DEFAULT_MAX_ARRAY_SIZE


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    """Split ``items`` into consecutive pieces of at most ``size`` (arrays of MaxArraySize, packs of runs_per_gpu)."""
    return [items[start : start + size] for start in range(0, len(items), size)]


def signal_delay_s(time_min: int | None) -> int:
    """Seconds before the time limit at which Slurm sends USR2 (checkpoint and requeue): 2 minutes, less for short
    limits (a quarter of the limit, at least 10 s) so that a short job still trains before it is signalled."""
    if not time_min:
        return 120
    return int(min(120, max(10, time_min * 60 // 4)))


def _executor(folder: str, params: dict[str, Any], python: str, max_requeues: int) -> Any:
    import submitit

    executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=max_requeues, python=python)
    delay = signal_delay_s(params.get("time"))
    executor.update_parameters(**{"job_name": "hpc_sweep", "signal_delay_s": delay, **params})
    return executor


def submit_arrays(
    requests: Sequence[JobRequest],
    folder: str,
    params: dict[str, Any],
    python: str,
    max_requeues: int = 3,
    runs_per_job: int = 1,
) -> list[str]:
    """Submit every request as Slurm array tasks (one ``sbatch`` per chunk); return each run's job id in order.

    With ``runs_per_job`` > 1 consecutive runs are packed into one array task (one :class:`PackedJob` sharing the
    job's GPU), so the runs of a pack share its job id.
    """
    if shutil.which("sbatch") is None:
        raise UsageError("--executor slurm: sbatch is not on PATH; run on a login node, or use --executor local")
    from hpc_sweep.job import PackedJob, TrainingJob

    executor = _executor(folder, params, shlex.quote(python), max_requeues)
    packs = chunks(requests, runs_per_job)
    job_ids: list[str] = []
    for chunk in chunks(packs, max_array_size()):
        try:
            with executor.batch():
                if runs_per_job == 1:
                    jobs = [executor.submit(TrainingJob(), pack[0]) for pack in chunk]
                else:
                    jobs = [executor.submit(PackedJob(), tuple(pack)) for pack in chunk]
        except Exception as error:  # submitit raises its own FailedJobError with sbatch's message
            raise HpcSweepError(f"sbatch failed: {str(error).strip().splitlines()[-1]}") from None
        job_ids += [job.job_id for job, pack in zip(jobs, chunk, strict=True) for _ in pack]
    return job_ids


def sbatch_script(folder: str, params: dict[str, Any], python: str, count: int) -> str:
    """The sbatch script submitit would submit for an array of ``count`` runs (for ``--dry_run``)."""
    from submitit.slurm.slurm import _make_sbatch_string

    command = " ".join([shlex.quote(python), "-u -m submitit.core._submit", shlex.quote(folder)])
    delay = signal_delay_s(params.get("time"))
    return _make_sbatch_string(
        command=command, folder=folder, job_name="hpc_sweep", signal_delay_s=delay, map_count=count, **params
    )
