"""``hpc-sweep resubmit``: new attempts of a sweep's runs that did not complete, resuming from their checkpoints."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from hpc_sweep.errors import UsageError
from hpc_sweep.launch.base import launcher_for
from hpc_sweep.manifest import load_sweep
from hpc_sweep.plan import requests_from_manifest
from hpc_sweep.report.console import make_console
from hpc_sweep.runstate import ENDED_BADLY, RunState, awaits_rerun, parse_state
from hpc_sweep.verbs.submit import live_display, run_requests


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
    launcher = launcher_for(sweep, live_display, max_parallel=max_parallel)
    launcher.refresh(sweep)
    known = {run["run_id"]: run for run in sweep.runs}
    unknown = sorted(set(run_ids or []) - set(known))
    if unknown:
        raise UsageError(f"--runs {' '.join(unknown)}: no such run in {sweep_dir}; see hpc-sweep status {sweep_dir}")
    chosen: list[str] = []
    for run_id, run in known.items():
        state = parse_state(run.get("state"))
        if run_ids and run_id not in run_ids:
            continue
        if state is RunState.COMPLETED:
            if run_ids:
                console.print(f"run {run_id} completed: left as it is")
            continue
        if not awaits_rerun(state, bool(run.get("job_id"))):
            console.print(f"run {run_id} is {state}: left to its job")
            continue
        if failed_only and state not in ENDED_BADLY:
            continue
        chosen.append(run_id)
    if not chosen:
        console.print("nothing to resubmit")
        return True
    requests = requests_from_manifest(sweep.manifest, sweep.layout.root, set(chosen))
    console.print(f"resubmitting {len(chosen)} run(s) of {sweep_dir} ({launcher.name}): {' '.join(chosen)}")
    return run_requests(launcher, sweep, requests, False, console)
