"""Submitting a sweep: spec -> profile -> plan -> manifest -> executor, then collection for local and debug sweeps."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from hpc_sweep.errors import UsageError
from hpc_sweep.job import JobRequest
from hpc_sweep.layout import SweepLayout
from hpc_sweep.manifest import Sweep, load_sweep, refresh_manifest, write_new_manifest
from hpc_sweep.plan import Plan, make_plan, requests_from_manifest
from hpc_sweep.profiles import default_profile_name, load_profile
from hpc_sweep.records import now_iso, update_partial_results
from hpc_sweep.report.console import make_console
from hpc_sweep.spec import SweepSpec


@dataclass(frozen=True)
class SubmitOptions:
    """How and where to run a sweep (everything that is not the training spec itself)."""

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
    max_requeues: int = 3


def submit(spec: SweepSpec, options: SubmitOptions, console: Console | None = None) -> bool:
    """Plan and launch a sweep; True when every run that ran completed (or when only planning was asked)."""
    console = console or make_console()
    profile = load_profile(options.profile or default_profile_name(spec.task))
    profile = profile.with_overrides(options.launcher, options.train_script, options.workdir)
    option_record = {
        "max_parallel": options.max_parallel,
        "launcher_override": options.launcher,
        "train_script_override": options.train_script,
        "workdir_override": options.workdir,
    }
    resources = {**profile.slurm, **{k: v for k, v in options.resources.items() if v is not None}}
    if spec.gpus_per_run > 1 and options.resources.get("gpus_per_node") is None:
        resources["gpus_per_node"] = max(int(resources.get("gpus_per_node") or 0), spec.gpus_per_run)
    python = options.slurm_python or resources.get("python") or sys.executable
    if options.executor == "slurm":
        from hpc_sweep.launch.slurm import slurm_parameters

        option_record["slurm_parameters"] = slurm_parameters(resources)
        option_record["slurm_python"] = python
        option_record["max_requeues"] = options.max_requeues
    plan = make_plan(
        spec,
        profile,
        options.sweep_dir,
        options.executor,
        option_record,
        python if options.executor == "slurm" else None,
    )
    layout = SweepLayout(plan.sweep_dir)
    if layout.manifest.exists() and not options.resume:
        raise UsageError(
            f"{layout.root} already holds a sweep ({layout.manifest.name}); "
            "choose another --output_dir, or add --resume to run its unfinished runs"
        )
    if options.resume and not layout.manifest.exists():
        raise UsageError(f"--resume: {layout.root} holds no sweep to resume; drop --resume to start a new sweep")
    if options.dry_run:
        _print_plan(plan, console)
        if options.executor == "slurm":
            from hpc_sweep.launch.slurm import sbatch_script

            folder = str(layout.submitit_dir / "%j")
            console.print("[bold]sbatch script[/bold] (one array per sweep):", highlight=False)
            packs = -(-len(plan.runs) // spec.runs_per_gpu)
            script = sbatch_script(folder, option_record["slurm_parameters"], python, packs)
            console.print(script, highlight=False, markup=False, soft_wrap=True)
        return True
    if options.resume:
        return resubmit(layout.root, max_parallel=options.max_parallel, console=console)
    write_new_manifest(layout, plan.manifest)
    console.print(f"sweep dir: {layout.root} ({len(plan.runs)} runs, executor {plan.executor}, profile {profile.name})")
    return _launch(layout, plan.requests, options, console)


def resubmit(
    sweep_dir: Path,
    failed_only: bool = False,
    run_ids: list[str] | None = None,
    max_parallel: int | None = None,
    console: Console | None = None,
) -> bool:
    """Submit again the runs of a sweep that did not complete, as new attempts (resuming from their checkpoints).

    Completed runs are never touched; runs still queued or running are skipped. ``failed_only`` keeps only runs that
    ended badly (failed, cancelled, interrupted); ``run_ids`` picks runs by id.
    """
    console = console or make_console()
    sweep = load_sweep(Path(sweep_dir))
    if sweep.manifest.get("executor") == "slurm":
        from hpc_sweep.launch.sacct import merge_scheduler_states

        merge_scheduler_states(sweep)
    known = {run["run_id"]: run for run in sweep.runs}
    unknown = sorted(set(run_ids or []) - set(known))
    if unknown:
        raise UsageError(f"--runs {' '.join(unknown)}: no such run in {sweep_dir}; see hpc-sweep status {sweep_dir}")
    bad_states = {"failed", "cancelled", "interrupted", "timeout"}
    chosen: list[str] = []
    for run_id, run in known.items():
        state = run.get("state", "pending")
        if run_ids and run_id not in run_ids:
            continue
        if state == "completed":
            if run_ids:
                console.print(f"run {run_id} completed: left as it is")
            continue
        if state in ("running", "queued", "requeued") or (state == "pending" and run.get("job_id")):
            console.print(f"run {run_id} is {state}: left to its job")
            continue
        if failed_only and state not in bad_states:
            continue
        chosen.append(run_id)
    if not chosen:
        console.print("nothing to resubmit")
        return True
    executor = sweep.manifest.get("executor", "local")
    console.print(f"resubmitting {len(chosen)} run(s) of {sweep_dir} ({executor}): {' '.join(chosen)}")
    requests = requests_from_manifest(sweep.manifest, sweep.layout.root, set(chosen))
    options = SubmitOptions(executor=executor, sweep_dir=sweep.layout.root, max_parallel=max_parallel)
    return _launch(sweep.layout, requests, options, console)


def _launch(layout: SweepLayout, requests: list[JobRequest], options: SubmitOptions, console: Console) -> bool:
    """Run the requests on the chosen executor; local and debug sweeps are collected when their runs end."""
    sweep = load_sweep(layout.root)
    if options.executor == "slurm":
        return _launch_slurm(sweep, requests, options, console)
    try:
        states = _run_here(sweep, requests, options, console)
    finally:  # also on Ctrl-C: sweep.json and partial_results.json show what finished
        refresh_manifest(load_sweep(layout.root))
        if requests:
            update_partial_results(layout)
    from hpc_sweep.report.write import collect_to

    collect_to(layout.root, None, console=console)
    return all(state == "completed" for state in states.values())


def _run_here(sweep: Sweep, requests: list[JobRequest], options: SubmitOptions, console: Console) -> dict[str, str]:
    """Run on this machine: in the foreground (debug) or on the GPU-aware local pool with a live display."""
    if options.executor == "debug":
        from hpc_sweep.launch.debug import run_debug

        return run_debug(sweep.layout, requests)
    from hpc_sweep.launch.gpus import default_max_parallel, detect_gpus
    from hpc_sweep.launch.local import run_local
    from hpc_sweep.report.live import LiveDisplay

    gpus = detect_gpus()
    per_run = int(sweep.manifest["spec"].get("gpus_per_run", 1))
    sharing = int(sweep.manifest["spec"].get("runs_per_gpu", 1))
    max_parallel = options.max_parallel or default_max_parallel(gpus, per_run, sharing)
    console.print(f"local executor: {max_parallel} at once, GPUs: {', '.join(gpus) if gpus else 'none (CPU)'}")
    runs = {run["run_id"]: run for run in sweep.runs}
    with LiveDisplay(sweep.layout, runs, console) as display:
        return run_local(sweep.layout, requests, max_parallel, gpus, per_run, display.update, display.finished)


def _launch_slurm(sweep: Sweep, requests: list[JobRequest], options: SubmitOptions, console: Console) -> bool:
    """Queue the runs as job arrays, record the job ids, and return at once (or wait with ``--wait``)."""
    from hpc_sweep.launch.slurm import submit_arrays

    opts = sweep.manifest["options"]
    job_ids = submit_arrays(
        requests,
        str(sweep.layout.submitit_dir / "%j"),
        opts["slurm_parameters"],
        opts["slurm_python"],
        int(opts.get("max_requeues", 3)),
        int(sweep.manifest["spec"].get("runs_per_gpu", 1)),
    )
    by_run = dict(zip((r.run_id for r in requests), job_ids, strict=True))
    for run in sweep.runs:
        if run["run_id"] in by_run:
            run["job_id"] = by_run[run["run_id"]]
            run["state"] = "queued"
    arrays = sorted({job_id.split("_")[0] for job_id in job_ids})
    tasks = len(set(job_ids))
    jobs = [*sweep.manifest.get("jobs", []), *({"array_id": a, "submitted": now_iso()} for a in arrays)]
    refresh_manifest(sweep, jobs=jobs)
    packed = f" in {tasks} array tasks" if tasks != len(job_ids) else ""
    console.print(f"queued {len(job_ids)} runs{packed} as Slurm array job(s) {', '.join(arrays)}", highlight=False)
    console.print(f"next: hpc-sweep status {sweep.layout.root}   then: hpc-sweep collect {sweep.layout.root}")
    if not options.wait:
        return True
    from hpc_sweep.report.write import collect_to
    from hpc_sweep.status import wait_for_sweep

    finished_well = wait_for_sweep(sweep.layout.root, console)
    collect_to(sweep.layout.root, None, console=console)
    return finished_well


def _print_plan(plan: Plan, console: Console) -> None:
    """The dry-run report: the plan, then each run's exact command and working directory."""
    console.print(
        f"[bold]dry run[/bold]: {len(plan.runs)} runs of {plan.spec.task} ({len(plan.spec.seeds)} seeds"
        f"{' x ' + ' x '.join(str(len(v)) + ' ' + k for k, v in plan.spec.grid) if plan.spec.grid else ''}), "
        f"executor {plan.executor}, profile {plan.profile.name}, sweep dir {plan.sweep_dir}; nothing is created",
        highlight=False,
    )
    if plan.spec.runs_per_gpu > 1:
        share = "each Slurm job runs" if plan.executor == "slurm" else "each GPU takes"
        console.print(f"{share} {plan.spec.runs_per_gpu} runs at once (--runs_per_gpu)", highlight=False)
    for run, request in zip(plan.runs, plan.requests, strict=True):
        console.print(f"[{run.run_id}] seed {run.seed} group {run.group}  (cwd {request.workdir})", highlight=False)
        console.print(f"    {shlex.join(request.argv)}", highlight=False, soft_wrap=True)
