"""From a validated spec and profile to a concrete plan: each run's command, the manifest, the job requests.

Planning is pure (nothing is written), so ``--dry_run`` shows exactly what a real submission would do.

W&B: a run whose training logs to Weights & Biases (``--logger wandb`` or ``agent.logger=wandb`` among its
pass-through arguments or its profile's extra arguments) gets ``WANDB_RUN_GROUP=<group>``, ``WANDB_NAME=seed<k>``,
``WANDB_RUN_ID=<stable id>`` and ``WANDB_RESUME=allow`` (:func:`wandb_env`), planned here and recorded in the
manifest's run entry (``env``), so that every attempt of a run (requeued, resubmitted, resumed) continues one W&B run
and the seeds of a group are grouped. The id is a hash of the sweep (its dir and creation time) and the run id.
"""

from __future__ import annotations

import hashlib
import itertools
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpc_sweep.command import JobRequest, TrainingCommand, build_command
from hpc_sweep.errors import HpcSweepError
from hpc_sweep.layout import MANIFEST_NAME
from hpc_sweep.manifest import new_manifest
from hpc_sweep.profiles import DEFAULT_LAYOUT, Profile
from hpc_sweep.spec import RunSpec, SweepSpec, expand_runs


@dataclass
class Plan:
    """A sweep ready to be written and launched."""

    sweep_dir: Path
    spec: SweepSpec
    profile: Profile
    executor: str
    runs: list[RunSpec]
    requests: list[JobRequest]
    manifest: dict[str, Any]


def make_plan(
    spec: SweepSpec,
    profile: Profile,
    sweep_dir: Path,
    executor: str,
    options: dict[str, Any],
    python: str | None = None,
) -> Plan:
    """Expand the spec into runs and resolve every command; raises UsageError before anything is created.

    ``python`` is the interpreter jobs run with: this one for local/debug, the profile's ``slurm.python`` on a cluster.
    """
    sweep_dir = sweep_dir.resolve()
    runs = expand_runs(spec)
    entries, commands = run_entries(runs, profile, sweep_dir, python)
    manifest = new_manifest(spec.to_dict(), profile.to_dict(), executor, entries, options)
    requests = run_requests(runs, commands, manifest["runs"], profile, sweep_dir, manifest["created"])
    return Plan(sweep_dir, spec, profile, executor, runs, requests, manifest)


def run_entries(
    runs: list[RunSpec], profile: Profile, sweep_dir: Path, python: str | None = None
) -> tuple[list[dict[str, Any]], list[TrainingCommand]]:
    """Each run's manifest entry (its spec, command and working dir) and its resolved command."""
    commands = [build_command(run, profile, sweep_dir, python or sys.executable) for run in runs]
    entries: list[dict[str, Any]] = [
        {
            **run.to_dict(),
            "command": list(command.argv),
            "workdir": command.workdir,
            "training_command": command.to_dict(),
        }
        for run, command in zip(runs, commands, strict=True)
    ]
    return entries, commands


def run_requests(
    runs: list[RunSpec],
    commands: list[TrainingCommand],
    entries: list[dict[str, Any]],
    profile: Profile,
    sweep_dir: Path,
    created: str,
) -> list[JobRequest]:
    """The job request of each planned run; a run that logs to W&B gets its planned identity, recorded in its entry
    (``created``: the manifest's creation time, part of the sweep's identity)."""
    sweep_id = f"{sweep_dir}|{created}"
    requests: list[JobRequest] = []
    for run, command, entry in zip(runs, commands, entries, strict=True):
        env = wandb_env(sweep_id, run.run_id, run.group, run.seed) if logs_to_wandb(command) else ()
        if env:
            entry["env"] = dict(env)
        requests.append(_request(sweep_dir, run.run_id, command, run.run_name, run.common_folder, profile.layout, env))
    return requests


def logs_to_wandb(command: TrainingCommand) -> bool:
    """Whether the training logs to W&B: Isaac Lab's ``--logger wandb`` (or ``--logger=wandb``) or the Hydra override
    ``agent.logger=wandb`` among the profile's extra arguments and the run's pass-through arguments."""
    args: Sequence[str] = (*command.options, *command.passthrough)
    flags = any(arg in ("--logger=wandb", "agent.logger=wandb") for arg in args)
    return flags or ("--logger", "wandb") in itertools.pairwise(args)


def wandb_env(sweep_id: str, run_id: str, group: str, seed: int) -> tuple[tuple[str, str], ...]:
    """The W&B variables of one run: its group, its name, a stable id and resume-if-it-exists.

    The id is the first 20 hex digits of SHA-256 over ``sweep_id`` and ``run_id``: W&B ids may hold letters,
    digits, ``-`` and ``_`` (at most 64 characters); every attempt of the run gets the same id, every other run of
    this sweep (and of any other sweep) another.
    """
    digest = hashlib.sha256(f"{sweep_id}\0{run_id}".encode()).hexdigest()[:20]
    return (
        ("WANDB_RUN_GROUP", group),
        ("WANDB_NAME", f"seed{seed}"),
        ("WANDB_RUN_ID", digest),
        ("WANDB_RESUME", "allow"),
    )


def requests_from_manifest(manifest: dict[str, Any], sweep_dir: Path, run_ids: set[str]) -> list[JobRequest]:
    """Job requests for the given runs of an existing sweep, from the commands its manifest recorded.

    Raises: :class:`HpcSweepError` naming ``sweep.json`` when a chosen run's recorded command is incomplete.
    """
    try:
        layout = manifest["profile"].get("layout", DEFAULT_LAYOUT)
        return [
            _request(
                sweep_dir,
                run["run_id"],
                TrainingCommand.from_dict(run["training_command"]),
                run["run_name"],
                run["common_folder"],
                layout,
                tuple((str(key), str(value)) for key, value in (run.get("env") or {}).items()),
            )
            for run in manifest["runs"]
            if run["run_id"] in run_ids
        ]
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise HpcSweepError(
            f"{sweep_dir / MANIFEST_NAME} is broken: the planned command of a chosen run is incomplete ({error!r}); "
            "restore it from a backup or from a copy of the sweep dir"
        ) from None


def _request(
    sweep_dir: Path,
    run_id: str,
    command: TrainingCommand,
    run_name: str,
    common_folder: str,
    layout: str,
    env: tuple[tuple[str, str], ...] = (),
) -> JobRequest:
    return JobRequest(
        sweep_dir=str(sweep_dir),
        run_id=run_id,
        command=command,
        run_name=run_name,
        common_folder=common_folder,
        layout=layout,
        env=env,
    )
