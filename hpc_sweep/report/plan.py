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
    if plan.spec.nodes > 1:
        console.print(
            f"each run is one Slurm job of {plan.spec.nodes} nodes, one task per node; node k runs the command below "
            "with {node_rank} = k (SLURM_NODEID), {master_addr} = the allocation's first node and {master_port} = "
            "a port derived from the job id; node 0 writes the record, node k>0 logs to runs/<id>/train.node<k>.log",
            highlight=False,
            markup=False,
        )
    for run, request in zip(plan.runs, plan.requests, strict=True):
        # user text ([256,128], [/a]) is never rich markup
        line = f"[{run.run_id}] seed {run.seed} group {run.group}  (cwd {request.workdir})"
        console.print(line, highlight=False, markup=False)
        console.print(f"    {shlex.join(request.argv)}", highlight=False, soft_wrap=True, markup=False)
