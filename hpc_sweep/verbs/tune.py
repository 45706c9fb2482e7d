"""``hpc-sweep tune``: check the search, create the study (its first trials planned), then start its controller.

Everything is checked before anything is created: the space (:mod:`hpc_sweep.tune.space`), the rungs, the sampler,
the Slurm resources and the first trial's commands (planned with the same rules as ``submit``). Then the study's
sweep dir is written (``sweep.json`` with the first trials' runs, ``tune/config.json``, ``tune/state.json``) and
the controller (:mod:`hpc_sweep.tune.controller`) is started: on Slurm as a CPU job that returns the login node at
once, locally in the foreground. ``--resume`` starts the controller of an existing study again (after a crash or a
``cancel``), unless one is still queued or running.
"""

from __future__ import annotations

import math
import shlex
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from hpc_sweep.errors import UsageError
from hpc_sweep.layout import SweepLayout
from hpc_sweep.manifest import Sweep, load_sweep, refresh_manifest, write_new_manifest
from hpc_sweep.names import bare_key
from hpc_sweep.plan import Plan
from hpc_sweep.profiles import Profile, default_profile_name, load_profile
from hpc_sweep.records import now_iso
from hpc_sweep.report.console import make_console
from hpc_sweep.spec import SweepSpec
from hpc_sweep.tune.promotion import rung_budgets
from hpc_sweep.tune.space import SearchSpace, parse_space
from hpc_sweep.tune.state import (
    Submission,
    Trial,
    TuneConfig,
    TuneState,
    is_tune_dir,
    journal_path,
    write_config,
    write_state,
)
from hpc_sweep.verbs.submit import SubmitOptions, _launcher, check_output_dir

_CONTROLLER_REQUEUES = 100  # time limits the controller job may reach and come back from (all state is on disk)


@dataclass(frozen=True)
class TuneRequest:
    """``tune``'s own flags, as typed (see :func:`hpc_sweep.cli_args._add_tune_flags`)."""

    space: tuple[str, ...]
    trials: int = 20
    sampler: str = "tpe"
    sampler_seed: int = 0
    rungs: tuple[int, ...] | None = None
    min_iterations: int | None = None
    eta: int = 3
    metric: str = "mean_reward"
    direction: str = "maximize"
    final_window: float | int = 0.1
    min_seeds: int | None = None
    concurrent_trials: int | None = None
    confirm: int = 3
    confirm_seeds: tuple[int, ...] | None = None
    poll_s: float = 30.0
    max_iterations_given: bool = False


def tune(spec: SweepSpec, options: SubmitOptions, request: TuneRequest, console: Console | None = None) -> bool:
    """Create and start a study (or, with ``--resume``, start its controller again); True unless it failed."""
    console = console or make_console()
    layout = SweepLayout(check_output_dir(options.sweep_dir, options.executor))
    if options.resume:
        return _restart(layout, console)
    if layout.manifest.exists():
        raise UsageError(
            f"{layout.root} already holds a sweep ({layout.manifest.name}); choose another --output_dir, or add "
            "--resume to start its tune controller again"
        )
    space = parse_space(request.space)
    config, spec = tune_config(spec, request, space)
    profile = load_profile(options.profile or default_profile_name(spec.task))
    profile = profile.with_overrides(options.launcher, options.train_script, options.workdir)
    launcher, python = _launcher(spec, profile, options)
    from hpc_sweep.tune.runs import new_study_manifest, submission_name, trial_runs, trials_span
    from hpc_sweep.tune.sampler import make_sampler

    sampler = make_sampler(config.sampler, config.sampler_seed, space)  # checks the sampler against the space
    example = trial_runs(spec, space, 0, _example_params(space), spec.seeds, 0)  # every rule submit applies
    recorded = {"workdir_override": options.workdir, "tune": True, **launcher.settings()}
    if options.dry_run:
        _describe(config, spec, example, profile, layout.root, console)
        from hpc_sweep.tune.runs import budget_requests

        manifest = new_study_manifest(spec, profile, layout.root, options.executor, recorded, example, python)
        launcher.describe(layout.root, budget_requests(manifest, layout.root, [r.run_id for r in example], 1), console)
        return True
    layout.root.mkdir(parents=True, exist_ok=True)
    write_config(layout.root, config)
    from hpc_sweep.tune.sampler import ask, open_study

    study = open_study(journal_path(layout.root), spec.common_folder, config.direction, sampler)
    first = min(config.concurrent_trials or config.trials, config.trials)
    trials, runs = [], []
    for _ in range(first):
        number, params = ask(study, space)
        planned = trial_runs(spec, space, number, params, spec.seeds, len(runs))
        runs += planned
        trials.append(Trial(number, params, [run.run_id for run in planned]))
    manifest = new_study_manifest(spec, profile, layout.root, options.executor, recorded, runs, python)
    write_new_manifest(layout, manifest)
    state = TuneState(trials=trials)
    name = submission_name(spec.common_folder, layout.root, 0)
    state.submissions.append(
        Submission(
            0,
            name,
            config.rungs[0],
            [r.run_id for r in runs],
            f"rung 0: {trials_span([t.trial for t in trials])}",
            now_iso(),
        )
    )
    write_state(layout.root, state)
    _record_provenance(spec, profile, options, layout, runs, manifest, python, console)
    console.print(
        f"tune study: {layout.root} ({config.trials} trials x {len(spec.seeds)} seeds, rungs "
        f"{', '.join(map(str, config.rungs))}, eta {config.eta}, sampler {config.sampler}, "
        f"executor {options.executor})",
        highlight=False,
    )
    first_submission = state.submissions[0]
    console.print(
        f"tune: {first_submission.purpose} ({len(runs)} runs to {first_submission.budget} iterations)", highlight=False
    )
    return _start_controller(load_sweep(layout.root), console)


def tune_config(spec: SweepSpec, request: TuneRequest, space: SearchSpace) -> tuple[TuneConfig, SweepSpec]:
    """The study's settings and its sweep spec (whose ``max_iterations`` is the last rung), every value checked."""
    spec.validate()
    if request.eta < 2:
        raise UsageError(f"--eta {request.eta}: give 2 or more (each rung keeps the best 1/eta)")
    if request.rungs:
        if request.max_iterations_given and request.rungs[-1] != spec.max_iterations:
            raise UsageError(
                f"--rungs ends at {request.rungs[-1]} but --max_iterations is {spec.max_iterations}: the last rung is "
                "the full budget; give only one of them"
            )
        rungs = request.rungs
    else:
        lowest = request.min_iterations or max(1, round(spec.max_iterations / request.eta**2))
        if lowest > spec.max_iterations:
            raise UsageError(
                f"--min_iterations {lowest} is above --max_iterations {spec.max_iterations}: give a smaller first rung"
            )
        rungs = rung_budgets(spec.max_iterations, lowest, request.eta)
    trials = request.trials
    combinations = space.size()
    if request.sampler == "grid" and combinations is not None and trials > combinations:
        trials = combinations  # the grid sampler enumerates each combination once
    if request.confirm < 0:
        raise UsageError(f"--confirm {request.confirm}: give 0 (no confirmation) or more configurations")
    if request.confirm > trials:
        raise UsageError(f"--confirm {request.confirm} is more than the {trials} trials: give at most that")
    seeds = request.confirm_seeds
    if seeds is None:
        start = max(spec.seeds) + 1
        seeds = tuple(range(start, start + len(spec.seeds)))
    overlap = sorted(set(seeds) & set(spec.seeds))
    if overlap:
        raise UsageError(
            f"--confirm_seeds repeats search seeds ({', '.join(map(str, overlap))}): confirmation needs fresh seeds"
        )
    if len(set(seeds)) != len(seeds):
        raise UsageError("--confirm_seeds repeats a seed: give each seed once")
    min_seeds = request.min_seeds or len(spec.seeds) // 2 + 1
    if min_seeds > len(spec.seeds):
        raise UsageError(f"--min_seeds {min_seeds} is more than the {len(spec.seeds)} --seeds; give at most that")
    searched = {bare_key(dim.key) for dim in space.dimensions}
    for arg in spec.additional_args:
        key = bare_key(arg.partition("=")[0]) if "=" in arg and not arg.startswith("-") else None
        if key in searched:
            raise UsageError(f"{key} is both searched and fixed ({arg}): drop one of them")
    config = TuneConfig(
        space=tuple(space.to_list()),
        trials=trials,
        rungs=tuple(rungs),
        eta=request.eta,
        metric=request.metric,
        direction=request.direction,
        final_window=request.final_window,
        min_seeds=min_seeds,
        sampler=request.sampler,
        sampler_seed=request.sampler_seed,
        concurrent_trials=request.concurrent_trials or 0,
        confirm=request.confirm,
        confirm_seeds=tuple(seeds),
        poll_s=request.poll_s,
    )
    return config, replace(spec, max_iterations=rungs[-1])


def _example_params(space: SearchSpace) -> dict[str, Any]:
    """A value of each dimension (the low end, the first choice), to plan one trial's commands before sampling."""
    params: dict[str, Any] = {}
    for dim in space.dimensions:
        if dim.kind == "categorical":
            params[dim.key] = dim.choices[0]
        elif dim.kind == "int":
            params[dim.key] = int(dim.low or 0)
        else:
            params[dim.key] = float(dim.low or 0.0)
    return params


def _describe(
    config: TuneConfig, spec: SweepSpec, example: list[Any], profile: Profile, sweep_dir: Path, console: Console
) -> None:
    """For ``--dry_run``: the rungs, the most iterations the search can spend, and one trial's command."""
    seeds = len(spec.seeds)
    counts = [config.trials]
    for _ in config.rungs[1:]:
        counts.append(counts[-1] // config.eta)
    spent = sum(
        n * seeds * (b - (config.rungs[i - 1] if i else 0))
        for i, (n, b) in enumerate(zip(counts, config.rungs, strict=True))
    )
    console.print(f"[bold]tune plan[/bold]: space {', '.join(config.space)}", highlight=False)
    for rung, (count, budget) in enumerate(zip(counts, config.rungs, strict=True)):
        console.print(f"  rung {rung}: {budget} iterations, about {count} trials x {seeds} seeds", highlight=False)
    grid = config.trials * seeds * config.rungs[-1]
    console.print(
        f"  about {spent} training iterations (a full grid of the same trials: {grid}, {spent / grid:.0%} of it); "
        f"confirmation: top {config.confirm} x {len(config.confirm_seeds)} fresh seeds x {config.rungs[-1]}",
        highlight=False,
    )
    from hpc_sweep.command import build_command

    command = build_command(replace(example[0], max_iterations=config.rungs[0]), profile, sweep_dir, sys.executable)
    console.print(
        f"  a run's command at rung 0 (trial000; a promotion resumes it for the rest): {shlex.join(command.argv)}",
        highlight=False,
        markup=False,
    )


def _record_provenance(
    spec: SweepSpec, profile: Profile, options: SubmitOptions, layout: SweepLayout, runs: list[Any],
    manifest: dict[str, Any], python: str | None, console: Console,
) -> None:  # fmt: skip
    from hpc_sweep.provenance.capture import record_provenance

    plan = Plan(layout.root, spec, profile, options.executor, runs, [], manifest)
    record_provenance(plan, python, options.track, console)


def _start_controller(sweep: Sweep, console: Console) -> bool:
    """Run the controller here (local, debug) or queue it as a Slurm CPU job; True unless the study failed here."""
    root = sweep.layout.root
    if sweep.manifest.get("executor") != "slurm":
        state = study_controller(root, console).run()
        _print_result(state.result or {}, console)
        return bool((state.result or {}).get("winner"))
    job_id = submit_controller(sweep)
    console.print(f"tune controller: Slurm job {job_id} (a CPU job; it submits each rung's runs as they are decided)")
    console.print(f"next: hpc-sweep status {root}   stop all: hpc-sweep cancel {root}", highlight=False)
    return True


def submit_controller(sweep: Sweep) -> str:
    """Queue the controller (:class:`hpc_sweep.tune.controller.ControllerJob`) as one requeue-able Slurm CPU job with
    the arrays' placement and the training jobs' time limit; record it in ``sweep.json`` under ``tune_controller``."""
    import submitit

    from hpc_sweep.errors import HpcSweepError
    from hpc_sweep.launch.followup import followup_parameters
    from hpc_sweep.launch.slurm import check_script_inputs, signal_delay_s
    from hpc_sweep.resources import then_parameters

    options = sweep.manifest.get("options", {})
    array_params = options["slurm_parameters"]
    profile = sweep.manifest.get("profile", {})
    params = followup_parameters(array_params, then_parameters(profile.get("then") or {}), None)
    params["job_name"] = f"{array_params.get('job_name') or 'hpc_sweep'}"[:120] + "_tune"
    if array_params.get("time") is not None:
        params["time"] = array_params["time"]
    folder = str(sweep.layout.submitit_dir / "%j")
    python = options["slurm_python"]
    check_script_inputs(folder, params, python)
    executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=_CONTROLLER_REQUEUES, python=shlex.quote(python))
    executor.update_parameters(**params, signal_delay_s=signal_delay_s(params.get("time")))
    try:
        job = executor.submit(ControllerJob(), str(sweep.layout.root))
    except Exception as error:  # submitit raises its own FailedJobError with sbatch's message
        raise HpcSweepError(f"sbatch failed: {str(error).strip().splitlines()[-1]}") from None
    entry = {"job_id": str(job.job_id), "submitted": now_iso(), "state": "PENDING"}
    refresh_manifest(sweep, tune_controller=[*controller_jobs(sweep), entry])
    return str(job.job_id)


def controller_jobs(sweep: Sweep) -> list[dict[str, Any]]:
    """The controller jobs this study queued (every start and ``--resume`` adds one), oldest first."""
    entries = sweep.manifest.get("tune_controller")
    return [e for e in entries if isinstance(e, dict) and "job_id" in e] if isinstance(entries, list) else []


def live_controller(sweep: Sweep) -> str | None:
    """The controller job Slurm shows queued or running, if any."""
    from hpc_sweep.launch.sacct import job_states
    from hpc_sweep.runstate import SLURM_TERMINAL

    ids = [str(entry["job_id"]) for entry in controller_jobs(sweep)]
    states = job_states(ids) if ids else {}
    return next((job for job in reversed(ids) if job in states and states[job] not in SLURM_TERMINAL), None)


def _restart(layout: SweepLayout, console: Console) -> bool:
    if not is_tune_dir(layout.root):
        raise UsageError(f"{layout.root} holds no tune study (no tune/config.json); give the --output_dir of one")
    sweep = load_sweep(layout.root)
    if sweep.manifest.get("executor") == "slurm":
        alive = live_controller(sweep)
        if alive:
            raise UsageError(f"the study's controller is Slurm job {alive}, still queued or running: nothing to do")
    console.print(f"tune: starting the controller of {layout.root} again; it continues from its files")
    return _start_controller(sweep, console)


def _print_result(result: dict[str, Any], console: Console) -> None:
    winner = result.get("winner")
    if not winner:
        console.print("tune: no configuration was scored; see hpc-sweep status for the runs' reasons")
        return
    confirmed = winner.get("confirmed_iqm")
    ci = winner.get("confirmed_iqm_ci") or [None, None]
    params = ", ".join(f"{k}={v}" for k, v in winner.get("params", {}).items())
    if confirmed is not None and None not in ci:
        score = f"confirmed IQM {confirmed:.4g} [95% CI {ci[0]:.4g}, {ci[1]:.4g}]"
    else:
        score = f"search score {winner.get('search_score')}"
    search = winner.get("search_score")
    biased = f"; its search score was {search:.4g}" if isinstance(search, float) and math.isfinite(search) else ""
    console.print(f"tune winner: trial{winner['trial']:03d} ({params}): {score}{biased}", highlight=False)


def finish_study(
    root: Path, config: TuneConfig, state: TuneState, ranking: list[Trial], console: Console
) -> dict[str, Any]:
    """The study's end: every result file, as ``hpc-sweep collect`` writes them, then the confirmation's comparison
    (:func:`hpc_sweep.tune.confirm.confirm_and_report`) from the same reading of the runs."""
    from hpc_sweep.collect.results import collect
    from hpc_sweep.tune.confirm import confirm_and_report
    from hpc_sweep.verbs.collect import collect_sweep, run_view

    collect_sweep(root, None, console)
    view = run_view(root)
    collection = collect(root, console, states=view.states, usage=view.usage)
    return confirm_and_report(root, config, state, ranking, collection, console)


def study_controller(root: Path, console: Console | None = None) -> Any:
    """The study's controller, ending the study with :func:`finish_study`."""
    from hpc_sweep.tune.controller import Controller

    return Controller(root, console, finish=finish_study)


class ControllerJob:
    """The controller as a submitit job: requeued on its time limit or preemption, resuming from its files."""

    def __call__(self, sweep_dir: str) -> dict[str, Any]:
        state = study_controller(Path(sweep_dir)).run()
        return state.result or {}

    def checkpoint(self, sweep_dir: str) -> Any:
        import submitit

        return submitit.helpers.DelayedSubmission(ControllerJob(), sweep_dir)
