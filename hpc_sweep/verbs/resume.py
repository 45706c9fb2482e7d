"""``hpc-sweep submit --resume``: run again, unchanged, the recorded runs of a sweep that did not complete.

Flags that would change the recorded plan are refused with the differences listed (:func:`resume_differences`); the
dry run shows exactly the runs a real resume would start (:func:`resumable_runs`), with the recorded commands.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import fields
from pathlib import Path
from typing import Any

from rich.console import Console

from hpc_sweep.errors import UsageError
from hpc_sweep.launch.base import launcher_for
from hpc_sweep.launch.slurm import DEFAULT_MAX_REQUEUES, slurm_parameters
from hpc_sweep.layout import SweepLayout
from hpc_sweep.manifest import load_sweep
from hpc_sweep.names import first_control, shown
from hpc_sweep.plan import requests_from_manifest
from hpc_sweep.profiles import load_profile
from hpc_sweep.resources import BY_NAME, node_python
from hpc_sweep.runstate import awaits_rerun, parse_state
from hpc_sweep.spec import SweepSpec
from hpc_sweep.verbs.submit import SubmitOptions, live_display, run_requests

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
    "nodes": "--nodes",
    "runs_per_gpu": "--runs_per_gpu",
}
#: The common folder the command line makes up when none is given (``multi_run_<timestamp>``).
_STAMPED_COMMON_FOLDER = re.compile(r"multi_run_\d{8}_\d{6}")


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
    return [run["run_id"] for run in runs if awaits_rerun(parse_state(run.get("state")), bool(run.get("job_id")))]


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
    recorded_requeues = recorded_options.get("max_requeues", DEFAULT_MAX_REQUEUES)
    if options.max_requeues not in (DEFAULT_MAX_REQUEUES, recorded_requeues):
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
