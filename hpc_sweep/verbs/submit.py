"""``hpc-sweep submit``: plan -> write the manifest -> the launcher; runs that ran here are then collected.

Everything the user gave is checked before anything is created: the spec and profile (by their own modules), the
Slurm resources, and ``--output_dir`` itself (not a file, not below a file, writable, one line, and for Slurm free of
``%``). ``--resume`` reruns the plan recorded in the sweep dir, unchanged: flags that would change it are refused
with the differences listed (see :func:`resume_differences`), and its dry run shows exactly the runs a real resume
would start.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from rich.console import Console

from hpc_sweep.command import JobRequest
from hpc_sweep.errors import UsageError
from hpc_sweep.launch.base import Launcher, launcher_for, make_launcher
from hpc_sweep.launch.slurm import slurm_parameters
from hpc_sweep.layout import SweepLayout
from hpc_sweep.manifest import Sweep, load_sweep, write_new_manifest
from hpc_sweep.names import check_one_line, first_control, shown
from hpc_sweep.plan import make_plan, requests_from_manifest
from hpc_sweep.profiles import Profile, default_profile_name, load_profile
from hpc_sweep.report.console import make_console
from hpc_sweep.report.live import LiveDisplay
from hpc_sweep.report.plan import print_plan
from hpc_sweep.resources import BY_NAME, node_python
from hpc_sweep.runstate import IN_FLIGHT, RunState, parse_state
from hpc_sweep.spec import SweepSpec

#: The spec field -> the flag that sets it (for messages about a resumed sweep).
SPEC_FLAGS = {
    "task": "--task",
    "seeds": "--seeds",
    "max_iterations": "--max_iterations",
    "num_envs": "--num_envs",
    "common_folder": "--common_folder",
    "headless": "--headless/--no-headless",
    "world": "--world",
    "additional_args": "--additional_args",
    "grid": "--grid",
    "gpus_per_run": "--gpus_per_run",
    "runs_per_gpu": "--runs_per_gpu",
}
#: The common folder the command line makes up when none is given (``multi_run_<timestamp>``).
_STAMPED_COMMON_FOLDER = re.compile(r"multi_run_\d{8}_\d{6}")
_DEFAULT_MAX_REQUEUES = 3


@dataclass(frozen=True)
class SubmitOptions:
    """How and where to run a sweep (everything that is not the training spec itself).

    ``given`` names the spec fields the user set on the command line (the keys of :data:`SPEC_FLAGS`); ``--resume``
    compares only those with the recorded spec. None: every field that differs from :class:`SweepSpec`'s default,
    except a made-up ``multi_run_<timestamp>`` common folder.
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
    max_requeues: int = _DEFAULT_MAX_REQUEUES
    given: frozenset[str] | None = None


def submit(spec: SweepSpec, options: SubmitOptions, console: Console | None = None) -> bool:
    """Plan and launch a sweep; True when every run that ran completed (or when only planning was asked)."""
    console = console or make_console()
    layout = SweepLayout(check_output_dir(options.sweep_dir, options.executor))
    if options.resume:
        return resume(spec, options, layout, console)
    if layout.manifest.exists():
        raise UsageError(
            f"{layout.root} already holds a sweep ({layout.manifest.name}); "
            "choose another --output_dir, or add --resume to run its unfinished runs"
        )
    profile = load_profile(options.profile or default_profile_name(spec.task))
    profile = profile.with_overrides(options.launcher, options.train_script, options.workdir)
    launcher, python = _launcher(spec, profile, options)
    recorded = {
        "launcher_override": options.launcher,
        "train_script_override": options.train_script,
        "workdir_override": options.workdir,
        **launcher.settings(),
    }
    plan = make_plan(spec, profile, layout.root, options.executor, recorded, python)
    if options.dry_run:
        print_plan(plan, console)
        launcher.describe(plan.sweep_dir, plan.requests, console)
        return True
    write_new_manifest(layout, plan.manifest)
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
        return make_launcher(options.executor, {"max_parallel": options.max_parallel}, live_display), None
    resources = {**profile.slurm, **{k: v for k, v in options.resources.items() if v is not None}}
    if spec.gpus_per_run > 1 and options.resources.get("gpus_per_node") is None:
        resources["gpus_per_node"] = max(int(resources.get("gpus_per_node") or 0), spec.gpus_per_run)
    if options.slurm_python is not None:
        python = node_python(options.slurm_python)
    elif resources.get("python") is not None:
        python = node_python(resources["python"], f"profile {profile.source} [slurm] python")
    else:
        python = sys.executable
    settings = {
        "slurm_parameters": slurm_parameters(resources),
        "slurm_python": python,
        "max_requeues": options.max_requeues,
        "runs_per_job": spec.runs_per_gpu,
    }
    return make_launcher("slurm", settings), python


def resume(spec: SweepSpec, options: SubmitOptions, layout: SweepLayout, console: Console) -> bool:
    """``--resume``: run again the recorded runs that did not complete, with the recorded commands and launcher.

    Flags that differ from the record are refused (see :func:`resume_differences`); the dry run lists exactly the
    runs this would start (what :func:`resumable_runs` picks) and the launcher's script for them.
    """
    if not layout.manifest.exists():
        raise UsageError(f"--resume: {layout.root} holds no sweep to resume; drop --resume to start a new sweep")
    spec.validate()
    sweep = load_sweep(layout.root)
    differences = resume_differences(sweep.manifest, spec, options)
    if differences:
        raise UsageError(
            f"--resume reruns the sweep recorded in {layout.root} unchanged, but {'; '.join(differences)}: drop "
            "these flags (or repeat the recorded values), or start a new sweep with another --output_dir"
        )
    launcher = launcher_for(sweep, live_display, max_parallel=options.max_parallel)
    launcher.refresh(sweep)
    chosen = resumable_runs(sweep.runs)
    requests = requests_from_manifest(sweep.manifest, layout.root, set(chosen))
    verb = "would run" if options.dry_run else "will run"
    console.print(
        f"{'dry run of ' if options.dry_run else ''}--resume: {len(chosen)} of {len(sweep.runs)} runs of "
        f"{layout.root} {verb} again (executor {launcher.name}, the recorded commands, each resuming from its "
        f"latest checkpoint if it has one){'; nothing is created' if options.dry_run else ''}",
        highlight=False,
    )
    if options.dry_run:
        by_id = {run["run_id"]: run for run in sweep.runs}
        for request in requests:
            run = by_id[request.run_id]
            line = f"[{run['run_id']}] seed {run.get('seed')} group {run.get('group')}  (cwd {request.workdir})"
            console.print(line, highlight=False, markup=False)
            console.print(f"    {shlex.join(request.argv)}", highlight=False, soft_wrap=True, markup=False)
        if requests:
            launcher.describe(layout.root, requests, console)
        return True
    if not requests:
        return True
    return run_requests(launcher, sweep, requests, options.wait, console)


def resumable_runs(runs: list[dict[str, Any]]) -> list[str]:
    """The run ids ``--resume`` starts again: every run that did not complete and is not queued or running."""
    chosen = []
    for run in runs:
        state = parse_state(run.get("state"))
        if state is RunState.COMPLETED or state in IN_FLIGHT or (state is RunState.PENDING and run.get("job_id")):
            continue
        chosen.append(run["run_id"])
    return chosen


def resume_differences(manifest: dict[str, Any], spec: SweepSpec, options: SubmitOptions) -> list[str]:
    """What the flags of a ``--resume`` would change in the recorded sweep, one phrase each (empty: nothing).

    Compared: the spec fields the user gave (``options.given``, see :class:`SubmitOptions`), the executor, and
    whichever of ``--profile``, ``--launcher``, ``--train_script``, ``--workdir``, the Slurm resources,
    ``--slurm_python`` and ``--max_requeues`` (when not its default) were given.
    """
    recorded_spec = _table(manifest.get("spec"))
    recorded_options = _table(manifest.get("options"))
    new_spec = json.loads(json.dumps(spec.to_dict()))
    changes: list[tuple[str, Any, Any]] = []
    for name in _given_fields(spec, options):
        if new_spec[name] != recorded_spec.get(name):
            changes.append((SPEC_FLAGS.get(name, f"--{name}"), new_spec[name], recorded_spec.get(name)))
    if options.executor != manifest.get("executor"):
        changes.append(("--executor", options.executor, manifest.get("executor")))
    if options.profile is not None:
        source = Path(load_profile(options.profile).source).resolve()
        recorded_source = _table(manifest.get("profile")).get("source")
        if recorded_source is None or source != Path(str(recorded_source)).resolve():
            changes.append(("--profile", options.profile, recorded_source))
    for name in ("launcher", "train_script", "workdir"):
        value = getattr(options, name)
        if value is not None and value != recorded_options.get(f"{name}_override"):
            changes.append((f"--{name}", value, recorded_options.get(f"{name}_override")))
    recorded_slurm = _table(recorded_options.get("slurm_parameters"))
    for name, value in options.resources.items():
        resource = BY_NAME[name]
        if value is None or resource.submitit is None:
            continue
        new = slurm_parameters({name: value}).get(resource.submitit)
        if new != recorded_slurm.get(resource.submitit):
            changes.append((resource.option, value, recorded_slurm.get(resource.submitit)))
    if options.slurm_python is not None:
        python = node_python(options.slurm_python)
        if python != recorded_options.get("slurm_python"):
            changes.append(("--slurm_python", python, recorded_options.get("slurm_python")))
    recorded_requeues = recorded_options.get("max_requeues", _DEFAULT_MAX_REQUEUES)
    if options.max_requeues not in (_DEFAULT_MAX_REQUEUES, recorded_requeues):
        changes.append(("--max_requeues", options.max_requeues, recorded_requeues))
    return [f"{flag} is {_show(new)} (recorded: {_show(old)})" for flag, new, old in changes]


def _table(value: Any) -> dict[str, Any]:
    """A manifest's table, or an empty one where a broken manifest holds something else (it differs from any flag)."""
    return value if isinstance(value, dict) else {}


def _given_fields(spec: SweepSpec, options: SubmitOptions) -> list[str]:
    if options.given is not None:
        return [name for name in SPEC_FLAGS if name in options.given]
    default = SweepSpec()
    given = [f.name for f in fields(SweepSpec) if getattr(spec, f.name) != getattr(default, f.name)]
    if _STAMPED_COMMON_FOLDER.fullmatch(spec.common_folder):
        given.remove("common_folder")
    return given


def _show(value: Any) -> str:
    """A recorded or given value on one line: words shell-quoted, control characters escaped, long lists cut."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, dict):
        items = [f"{key}={','.join(map(str, v)) if isinstance(v, list) else v}" for key, v in value.items()]
        return " ".join(_word(item) for item in items) or "none"
    if isinstance(value, list):
        words = [_word(str(item)) for item in value[:12]]
        return " ".join(words) + (" ..." if len(value) > 12 else "") if words else "none"
    return _word(str(value))


def _word(text: str) -> str:
    return shown(text) if first_control(text) is not None else shlex.quote(text)


def run_requests(launcher: Launcher, sweep: Sweep, requests: list[JobRequest], wait: bool, console: Console) -> bool:
    """Launch; runs that ran here (or were waited for with ``--wait``) are collected at once."""
    from hpc_sweep.verbs.collect import collect_sweep

    finished_well = launcher.launch(sweep, requests, console)
    if not launcher.runs_here and not wait:
        return finished_well
    if not launcher.runs_here:
        finished_well = launcher.wait(sweep.layout.root, console)
    collect_sweep(sweep.layout.root, None, console=console)
    return finished_well


def live_display(sweep: Sweep, console: Console) -> LiveDisplay:
    """The live table of a sweep that runs on this machine."""
    return LiveDisplay(sweep.layout, {run["run_id"]: run for run in sweep.runs}, console)
