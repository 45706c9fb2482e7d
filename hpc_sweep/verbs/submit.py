"""``hpc-sweep submit``: plan -> write the manifest -> the launcher; runs that ran here are then collected.

Everything the user gave is checked before anything is created: the spec and profile (by their own modules), the
Slurm resources, and ``--output_dir`` itself (not a file, not below a file, writable, one line, and for Slurm free of
``%``). ``--resume`` is :mod:`hpc_sweep.verbs.resume`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from hpc_sweep.command import JobRequest
from hpc_sweep.errors import UsageError
from hpc_sweep.launch.base import Launcher, make_launcher
from hpc_sweep.launch.slurm import DEFAULT_MAX_REQUEUES, check_partition_nodes, slurm_parameters
from hpc_sweep.layout import SweepLayout
from hpc_sweep.manifest import Sweep, load_sweep, write_new_manifest
from hpc_sweep.names import check_one_line, shown
from hpc_sweep.plan import make_plan
from hpc_sweep.profiles import Profile, default_profile_name, load_profile
from hpc_sweep.provenance.capture import preview_provenance, record_provenance
from hpc_sweep.report.console import make_console
from hpc_sweep.report.live import LiveDisplay
from hpc_sweep.report.plan import print_plan
from hpc_sweep.resources import node_python
from hpc_sweep.spec import SweepSpec
from hpc_sweep.verbs.then import describe_then, queue_then, refuse_then_change, store_notify, then_here, then_settings


@dataclass(frozen=True)
class SubmitOptions:
    """How and where to run a sweep (everything that is not the training spec itself).

    ``given`` names the spec fields the user typed on the command line (the keys of
    :data:`hpc_sweep.verbs.resume.SPEC_FLAGS`); ``--resume`` compares only those with the recorded spec. None: every
    field that differs from :class:`SweepSpec`'s default, except a made-up ``multi_run_<timestamp>`` common folder.
    """

    executor: str
    sweep_dir: Path
    profile: str | None = None
    launcher: str | None = None
    train_script: str | None = None
    workdir: str | None = None
    dry_run: bool = False
    resume: bool = False
    max_parallel: int | None = None
    resources: dict[str, Any] = field(default_factory=dict)
    slurm_python: str | None = None
    wait: bool = False
    max_requeues: int = DEFAULT_MAX_REQUEUES
    given: frozenset[str] | None = None
    track: tuple[Path, ...] = ()  # --track: code dirs whose git state provenance records, besides the workdir
    then: str = "collect"  # --then: what follows the runs (see hpc_sweep.verbs.then)
    notify: tuple[str, ...] = ()  # --notify: mailto:ADDR and webhook URLs (the URLs are secrets: never recorded)


def submit(spec: SweepSpec, options: SubmitOptions, console: Console | None = None) -> bool:
    """Plan and launch a sweep; True when every run that ran completed (or when only planning was asked)."""
    console = console or make_console()
    layout = SweepLayout(check_output_dir(options.sweep_dir, options.executor))
    if options.resume:
        from hpc_sweep.verbs.resume import resume

        refuse_then_change(options.then, options.notify)
        return resume(spec, options, layout, console)
    if layout.manifest.exists():
        raise UsageError(
            f"{layout.root} already holds a sweep ({layout.manifest.name}); "
            "choose another --output_dir, or add --resume to run its unfinished runs"
        )
    spec.validate()  # before the launcher asks the cluster anything
    profile = load_profile(options.profile or default_profile_name(spec.task))
    profile = profile.with_overrides(options.launcher, options.train_script, options.workdir)
    launcher, python = _launcher(spec, profile, options)
    recorded = {
        "launcher_override": options.launcher,
        "train_script_override": options.train_script,
        "workdir_override": options.workdir,
        "then": then_settings(spec, options.executor, options.then, options.notify, profile, launcher.settings()),
        **launcher.settings(),
    }
    plan = make_plan(spec, profile, layout.root, options.executor, recorded, python)
    if options.dry_run:
        print_plan(plan, console)
        launcher.describe(plan.sweep_dir, plan.requests, console)
        describe_then(recorded["then"], launcher, plan.sweep_dir, console)
        preview_provenance(plan, python, options.track, console)
        return True
    write_new_manifest(layout, plan.manifest)
    store_notify(layout.root, options.notify)
    record_provenance(plan, python, options.track, console)
    console.print(f"sweep dir: {layout.root} ({len(plan.runs)} runs, executor {plan.executor}, profile {profile.name})")
    return run_requests(launcher, load_sweep(layout.root), plan.requests, options.wait, console)


def check_output_dir(path: Path, executor: str) -> Path:
    """``--output_dir`` as an absolute path, refused (before anything is created) when it is not one line, is a file
    or lies below one, cannot be written, or (for Slurm) holds ``%``, which sbatch expands in log file names."""
    text = check_one_line("--output_dir", str(path))
    try:
        resolved = Path(text).expanduser().resolve()
    except (OSError, RuntimeError) as error:
        raise UsageError(f"--output_dir {shown(text)} cannot be resolved ({error}); choose another path") from None
    existing = next(p for p in (resolved, *resolved.parents) if p.exists() or p.is_symlink())
    if not existing.is_dir():
        where = "is a file" if existing == resolved else f"lies below {existing}, which is a file"
        raise UsageError(f"--output_dir {shown(text)} {where}; give a directory path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--output_dir {shown(text)}: {existing} is not writable by you; choose another directory")
    if executor == "slurm" and "%" in str(resolved):
        raise UsageError(
            f"--output_dir {shown(text)} holds '%', which sbatch expands in log file names; choose a path without it"
        )
    return resolved


def _launcher(spec: SweepSpec, profile: Profile, options: SubmitOptions) -> tuple[Launcher, str | None]:
    """The launcher ``--executor`` names, with its settings from the flags and the profile; and the Python the jobs
    run with (None: this one)."""
    if options.executor != "slurm":
        if spec.nodes > 1:
            raise UsageError(
                f"--nodes {spec.nodes} spreads a run over Slurm nodes: use --executor slurm (a workstation is one "
                "node; --gpus_per_run uses its GPUs)"
            )
        return make_launcher(options.executor, {"max_parallel": options.max_parallel}, live_display), None
    given = {k: v for k, v in options.resources.items() if v is not None}
    resources = {**profile.slurm, **given}
    for one, other in (("mem", "mem_gb"), ("mem_gb", "mem")):  # a memory flag replaces the profile's, either spelling
        if one in given and other not in given:
            resources.pop(other, None)
    resources.setdefault("job_name", spec.common_folder)  # squeue shows the study, not the tool
    if spec.gpus_per_run > 1 and options.resources.get("gpus_per_node") is None:
        resources["gpus_per_node"] = max(int(resources.get("gpus_per_node") or 0), spec.gpus_per_run)
    if options.slurm_python is not None:
        python = node_python(options.slurm_python)
    elif resources.get("python") is not None:
        python = node_python(resources["python"], f"profile {profile.source} [slurm] python")
    else:
        python = sys.executable
    parameters = slurm_parameters(resources)
    if spec.nodes > 1:
        check_partition_nodes(spec.nodes, parameters.get("partition"))
        parameters.update(nodes=spec.nodes, ntasks_per_node=1)  # one task per node starts that node's ranks
    settings = {
        "slurm_parameters": parameters,
        "slurm_python": python,
        "max_requeues": options.max_requeues,
        "runs_per_job": spec.runs_per_gpu,
    }
    return make_launcher("slurm", settings), python


def run_requests(launcher: Launcher, sweep: Sweep, requests: list[JobRequest], wait: bool, console: Console) -> bool:
    """Launch, then what follows the runs (:mod:`hpc_sweep.verbs.then`): on Slurm a collect job queued after the
    arrays; runs that ran here (or were waited for with ``--wait``) are collected at once."""
    finished_well = launcher.launch(sweep, requests, console)
    queue_then(launcher, sweep, console)
    if not launcher.runs_here and not wait:
        return finished_well
    if not launcher.runs_here:
        finished_well = launcher.wait(sweep.layout.root, console)
    then_here(launcher, sweep.layout.root, console)
    return finished_well


def live_display(sweep: Sweep, console: Console) -> LiveDisplay:
    """The live table of a sweep that runs on this machine."""
    return LiveDisplay(sweep.layout, {run["run_id"]: run for run in sweep.runs}, console)
