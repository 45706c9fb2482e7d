"""What ``status`` and ``cancel`` do for a tune study: its rungs table and controller, and stopping the controller."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from hpc_sweep.manifest import load_sweep
from hpc_sweep.tune.space import parse_space
from hpc_sweep.verbs.tune import controller_jobs, live_controller


def tune_status(sweep_dir: Path) -> list[Any]:
    """What ``status`` adds for a study: its rungs table (trials best first) and where the search stands."""
    from hpc_sweep.analyse.cost import sweep_run_costs
    from hpc_sweep.report.tune import tune_table
    from hpc_sweep.tune.progress import trial_rows
    from hpc_sweep.tune.state import read_config, read_state

    config, state = read_config(sweep_dir), read_state(sweep_dir)
    sweep = load_sweep(sweep_dir)
    space = parse_space(config.space)
    labels = {dim.key: dim.label for dim in space.dimensions}
    runs = {run["run_id"]: run for run in sweep.runs}
    rows = trial_rows(state, config, labels, runs, sweep_run_costs(sweep.manifest))
    rungs = ", ".join(map(str, config.rungs))
    title = f"tune: {len(state.trials)}/{config.trials} trials, rungs {rungs} iterations, eta {config.eta}"
    lines: list[Any] = [tune_table(rows, config.rungs, title)]
    lines.append(f"tune phase: {state.phase}; {len(state.submissions)} submission(s)")
    jobs = controller_jobs(sweep)
    if jobs:
        alive = live_controller(sweep)
        restart = f"restart it with hpc-sweep tune --resume --output_dir {sweep_dir}"
        last = jobs[-1]["job_id"]
        lines.append(
            f"tune controller: Slurm job {alive}" if alive else f"tune controller: job {last} ended; {restart}"
        )
    winner = (state.result or {}).get("winner")
    if winner:
        lines.append(f"tune winner: trial{winner['trial']:03d}, see {Path(sweep_dir) / 'confirmation'}")
    return lines


def cancel_controller(sweep_dir: Path, console: Console) -> None:
    """``cancel`` of a study: its controller job first (it would submit the next rung), then the arrays."""
    from hpc_sweep.launch.sacct import cancel_jobs

    sweep = load_sweep(sweep_dir)
    alive = live_controller(sweep)
    if alive:
        cancel_jobs([alive])
        console.print(f"cancelled the tune controller (Slurm job {alive})", highlight=False)
