"""The dry-run report: the plan of a sweep, then each run's exact command and working directory."""

from __future__ import annotations

import shlex

from rich.console import Console
from rich.markup import escape

from hpc_sweep.plan import Plan


def print_plan(plan: Plan, console: Console) -> None:
    """The dry-run report: the plan, then each run's exact command and working directory."""
    axes = " x ".join(f"{len(values)} {escape(key)}" for key, values in plan.spec.grid)
    console.print(
        f"[bold]dry run[/bold]: {len(plan.runs)} runs of {escape(plan.spec.task)} ({len(plan.spec.seeds)} seeds"
        f"{' x ' + axes if axes else ''}), executor {plan.executor}, profile {escape(plan.profile.name)}, "
        f"sweep dir {escape(str(plan.sweep_dir))}; nothing is created",
        highlight=False,
    )
    if plan.spec.runs_per_gpu > 1:
        share = "each Slurm job runs" if plan.executor == "slurm" else "each GPU takes"
        console.print(f"{share} {plan.spec.runs_per_gpu} runs at once (--runs_per_gpu)", highlight=False)
    for run, request in zip(plan.runs, plan.requests, strict=True):
        # user text ([256,128], [/a]) is never rich markup
        line = f"[{run.run_id}] seed {run.seed} group {run.group}  (cwd {request.workdir})"
        console.print(line, highlight=False, markup=False)
        console.print(f"    {shlex.join(request.argv)}", highlight=False, soft_wrap=True, markup=False)
