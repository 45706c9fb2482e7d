"""The dry-run report: the plan of a sweep, then each run's exact command and working directory."""

from __future__ import annotations

import shlex

from rich.console import Console

from hpc_sweep.plan import Plan


def print_plan(plan: Plan, console: Console) -> None:
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
