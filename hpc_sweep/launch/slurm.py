"""The Slurm executor: one ``sbatch`` job array per sweep (split at ``MaxArraySize``) through submitit.

Our resource names (shared by profiles and flags) map to submitit's Slurm parameters through the one table in
:mod:`hpc_sweep.resources`, whose rules check every value before anything is submitted (errors name the fix); the
final values are checked once more just before an sbatch script is written, since a resubmit reads them back from
the manifest.
The scheduler's view (one ``sacct`` call per sweep) is overlaid on the runs' own records by :meth:`refresh`.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import time as _time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpc_sweep.command import JobRequest
from hpc_sweep.errors import HpcSweepError, UsageError
from hpc_sweep.launch.base import ObserverFactory
from hpc_sweep.launch.followup import cancel_followups, live_followup_ids, record_followup_states
from hpc_sweep.launch.sacct import cancel_jobs, job_report, job_states
from hpc_sweep.manifest import Sweep, load_sweep, refresh_manifest
from hpc_sweep.names import check_one_line, shown
from hpc_sweep.records import now_iso, read_record, write_record
from hpc_sweep.resources import BY_NAME, node_python, parse_time_minutes, resource_value
from hpc_sweep.runstate import FINISHED, SLURM_TERMINAL, RunState, overlay_scheduler, parse_state

if TYPE_CHECKING:
    from rich.console import Console

DEFAULT_MAX_ARRAY_SIZE = 1001
#: Requeues on time limit or preemption before a run is failed with that reason (``--max_requeues``).
DEFAULT_MAX_REQUEUES = 3
_MEM = re.compile(r"[0-9]+[GM]B")


def slurm_parameters(resources: dict[str, Any]) -> dict[str, Any]:
    """Translate and validate our resource names into submitit SlurmExecutor parameters.

    Each value is checked against its rule in :mod:`hpc_sweep.resources` (names, ranges, one-line text, the
    ``--sbatch`` options hpc-sweep owns); a bad one is a :class:`UsageError` naming its flag. ``python`` is not a
    submitit parameter (see :func:`node_python`); ``gpus_per_node = 0`` asks for no GPU line at all.
    """
    params: dict[str, Any] = {}
    for key, value in resources.items():
        if value is None:
            continue
        translated = resource_value(key, value)
        target = BY_NAME[key].submitit
        if target is None:
            continue
        if target in params:
            other = next(r.option for r in BY_NAME.values() if r.submitit == target and r.name != key)
            raise UsageError(f"{BY_NAME[key].option} and {other} set the same thing ({target}); give only one")
        params[target] = translated
    extra = {k.partition(".")[2]: params.pop(k) for k in list(params) if k.startswith("additional_parameters.")}
    if extra:  # sbatch options submitit has no parameter for, written as --KEY=VALUE (with --sbatch's options)
        params["additional_parameters"] = {**params.get("additional_parameters", {}), **extra}
    if params.get("gpus_per_node") == 0:
        del params["gpus_per_node"]
    return params


def check_script_inputs(folder: str, params: dict[str, Any], python: str) -> None:
    """The last check before an sbatch script is written: every value that lands in it is one line of known shape.

    ``params`` may come from a manifest written earlier (``resubmit``), so they are checked again here rather than
    trusted; ``folder`` (the sweep's submitit folder) and ``python`` (the node's interpreter) must be absolute,
    one-line paths without ``%`` in the folder (sbatch expands ``%`` patterns in log file names). submitit quotes
    both in the ``srun`` line and in ``#SBATCH --output/--error``.
    """
    check_one_line("the sweep's submitit folder", folder)
    if not Path(folder).is_absolute():
        raise UsageError(f"the sweep's submitit folder {shown(folder)} must be an absolute path")
    if "%" in folder.removesuffix("%j"):
        raise UsageError(
            f"--output_dir {shown(folder)} holds '%', which sbatch expands in log file names; choose a path without it"
        )
    if node_python(python) != python:
        raise UsageError(f"the node's Python {shown(python)} must be an absolute path or a command name")
    by_submitit = {resource.submitit: name for name, resource in BY_NAME.items() if resource.submitit}
    for key, value in params.items():
        if key == "time":
            parse_time_minutes(value)
        elif key == "mem":
            if not isinstance(value, str) or not _MEM.fullmatch(value) or int(value[:-2]) <= 0:
                raise UsageError(f"--mem_gb: the recorded memory {shown(value)} is not a positive amount")
        elif key == "additional_parameters" and isinstance(value, dict):
            ours = {k: v for k, v in value.items() if f"additional_parameters.{k}" in by_submitit}  # --reservation
            for name, option in ours.items():
                resource_value(by_submitit[f"additional_parameters.{name}"], option)
            resource_value("additional_parameters", {k: v for k, v in value.items() if k not in ours})
        elif key in ("nodes", "ntasks_per_node"):  # a multi-node run's shape (--nodes), set by hpc-sweep itself
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UsageError(f"the recorded {key} {shown(value)} is not a positive integer; start a new sweep")
        elif key in by_submitit:
            resource_value(by_submitit[key], value)
        else:
            raise UsageError(f"unknown Slurm setting {key!r} in the sweep's manifest; start a new sweep to change it")


def check_partition_nodes(nodes: int, partition: str | None) -> None:
    """Refuse ``--nodes`` beyond what the partition (the default one when None) has, when ``sinfo`` can say."""
    try:
        output = subprocess.run(
            ["sinfo", "-h", "-o", "%P %D"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return
    sizes: dict[str, int] = {}
    default = None
    for line in output.splitlines():
        name, _, count = line.strip().partition(" ")
        if not count.strip().isdigit():
            continue
        if name.endswith("*"):
            name = default = name[:-1]
        sizes[name] = sizes.get(name, 0) + int(count)
    chosen = partition or default
    if chosen in sizes and nodes > sizes[chosen]:
        raise UsageError(
            f"--nodes {nodes}: partition {chosen} has {sizes[chosen]} node(s); give at most that, or another "
            "--partition"
        )


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
    max_requeues: int = DEFAULT_MAX_REQUEUES,
    runs_per_job: int = 1,
) -> list[str]:
    """Submit every request as Slurm array tasks (one ``sbatch`` per chunk); return each run's job id in order.

    With ``runs_per_job`` > 1 consecutive runs are packed into one array task (one :class:`PackedJob` sharing the
    job's GPU), so the runs of a pack share its job id.
    """
    if shutil.which("sbatch") is None:
        raise UsageError("--executor slurm: sbatch is not on PATH; run on a login node, or use --executor local")
    from hpc_sweep.job import PackedJob, TrainingJob  # the node-side job functions, pickled by submitit

    check_script_inputs(folder, params, python)
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

    check_script_inputs(folder, params, python)
    command = " ".join([shlex.quote(python), "-u -m submitit.core._submit", shlex.quote(folder)])
    delay = signal_delay_s(params.get("time"))
    return _make_sbatch_string(
        command=command, folder=folder, signal_delay_s=delay, map_count=count, **{"job_name": "hpc_sweep", **params}
    )


class SlurmLauncher:
    """Job arrays through submitit; the login-node command returns once they are queued."""

    name = "slurm"
    runs_here = False

    def __init__(
        self, parameters: dict[str, Any], python: str, max_requeues: int = DEFAULT_MAX_REQUEUES, runs_per_job: int = 1
    ) -> None:
        self.parameters = parameters
        self.python = python
        self.max_requeues = max_requeues
        self.runs_per_job = runs_per_job

    @classmethod
    def from_settings(cls, settings: dict[str, Any], observe: ObserverFactory | None = None) -> SlurmLauncher:
        return cls(
            settings["slurm_parameters"],
            settings["slurm_python"],
            int(settings.get("max_requeues", DEFAULT_MAX_REQUEUES)),
            int(settings.get("runs_per_job", 1)),
        )

    def settings(self) -> dict[str, Any]:
        return {
            "slurm_parameters": self.parameters,
            "slurm_python": self.python,
            "max_requeues": self.max_requeues,
            "runs_per_job": self.runs_per_job,
        }

    def describe(self, sweep_dir: Path, requests: list[JobRequest], console: Console) -> None:
        """The sbatch script of the sweep's array (one array task per ``runs_per_job`` runs)."""
        folder = str(sweep_dir / "submitit" / "%j")
        console.print("[bold]sbatch script[/bold] (one array per sweep):", highlight=False)
        packs = -(-len(requests) // self.runs_per_job)
        script = sbatch_script(folder, self.parameters, self.python, packs)
        console.print(script, highlight=False, markup=False, soft_wrap=True)

    def launch(self, sweep: Sweep, requests: list[JobRequest], console: Console) -> bool:
        """Queue the runs as job arrays and record their job ids in sweep.json."""
        folder = str(sweep.layout.submitit_dir / "%j")
        job_ids = submit_arrays(requests, folder, self.parameters, self.python, self.max_requeues, self.runs_per_job)
        by_run = dict(zip((r.run_id for r in requests), job_ids, strict=True))
        for run in sweep.runs:
            if run["run_id"] in by_run:
                run["job_id"] = by_run[run["run_id"]]
                run["state"] = RunState.QUEUED
        arrays = sorted({job_id.split("_")[0] for job_id in job_ids})
        tasks = len(set(job_ids))
        jobs = [*sweep.manifest.get("jobs", []), *({"array_id": a, "submitted": now_iso()} for a in arrays)]
        refresh_manifest(sweep, jobs=jobs)
        packed = f" in {tasks} array tasks" if tasks != len(job_ids) else ""
        console.print(f"queued {len(job_ids)} runs{packed} as Slurm array job(s) {', '.join(arrays)}", highlight=False)
        console.print(f"next: hpc-sweep status {sweep.layout.root}   then: hpc-sweep collect {sweep.layout.root}")
        return True

    def refresh(self, sweep: Sweep) -> None:
        """Overlay Slurm's view (one sacct call) on runs that have not recorded an end themselves.

        A job killed by the scheduler (TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, CANCELLED before it started) cannot write
        its own record; its Slurm state becomes its state and reason here (see :func:`overlay_scheduler`).
        The same call's accounting of every attempt (elapsed time, GPUs, CPU time, peak memory) is kept in the
        manifest's ``accounting`` (see :func:`hpc_sweep.analyse.cost.run_costs`), so a sweep read where sacct does
        not answer (copied elsewhere, records purged) keeps what was last seen.
        """
        arrays = _arrays(sweep)
        if not arrays:
            return
        report = job_report([*arrays, *live_followup_ids(sweep)])  # and the collect job's, in the same call
        states = report.states
        if report.accounted:
            sweep.manifest["accounting"] = {"source": "sacct", "updated": now_iso(), "jobs": report.attempts}
        for run in sweep.runs:
            slurm_state = states.get(str(run.get("job_id")))
            state = parse_state(run.get("state"))
            if slurm_state is None or state in FINISHED:
                continue
            run["slurm_state"] = slurm_state
            run["state"], run["reason"] = overlay_scheduler(state, slurm_state, run.get("reason"))
        record_followup_states(sweep, states)  # the collect job after the arrays (hpc_sweep.launch.followup)

    def wait(self, sweep_dir: Path, console: Console, poll_s: float = 10.0) -> bool:
        """Block until every run has ended (one sacct call per poll), with a progress bar; True if all completed."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("runs finished", total=None)
            while True:
                sweep = load_sweep(sweep_dir)
                self.refresh(sweep)
                states = Counter(str(run.get("state")) for run in sweep.runs)
                done = sum(count for state, count in states.items() if state in FINISHED)
                progress.update(task, total=len(sweep.runs), completed=done)
                progress.update(task, description=", ".join(f"{n} {s}" for s, n in sorted(states.items())))
                if done == len(sweep.runs):
                    refresh_manifest(sweep)
                    return states.get(RunState.COMPLETED, 0) == len(sweep.runs)
                _time.sleep(poll_s)

    def cancel(self, sweep: Sweep, console: Console, grace_s: float = 30.0) -> None:
        """Cancel this sweep's Slurm arrays (only those) and record every unfinished run as cancelled."""
        arrays = _arrays(sweep)
        if not arrays:
            console.print(f"{sweep.layout.root}: no Slurm jobs recorded; nothing to cancel")
            return
        cancel_followups(sweep, console)  # first: an afterany collect job would start once the arrays are cancelled
        cancel_jobs(arrays)
        deadline = _time.monotonic() + grace_s
        while _time.monotonic() < deadline:  # running jobs record their own cancellation on SIGTERM
            if all(state in SLURM_TERMINAL for state in job_states(arrays).values()):
                break
            _time.sleep(1.0)
        cancelled = 0
        for run in sweep.runs:
            record = read_record(sweep.layout, run["run_id"]) or {"run_id": run["run_id"], "attempt": 0}
            if record.get("state") in FINISHED:
                continue
            record.update(state=RunState.CANCELLED, reason="cancelled by hpc-sweep cancel", end_time=now_iso())
            write_record(sweep.layout, record)
            cancelled += 1
        refresh_manifest(load_sweep(sweep.layout.root), cancelled_at=now_iso())
        console.print(f"cancelled Slurm array job(s) {', '.join(arrays)}; {cancelled} unfinished run(s) recorded")


def _arrays(sweep: Sweep) -> list[str]:
    """The Slurm array ids this sweep submitted (every submit and resubmit adds its own)."""
    return [job["array_id"] for job in sweep.manifest.get("jobs", [])]
