"""From a validated spec and profile to a concrete plan: each run's command, the manifest, the job requests.

Planning is pure (nothing is written), so ``--dry_run`` shows exactly what a real submission would do.
"""

from __future__ import annotations

import sys
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
    interpreter = python or sys.executable
    runs = expand_runs(spec)
    requests: list[JobRequest] = []
    entries: list[dict[str, Any]] = []
    for run in runs:
        command = build_command(run, profile, sweep_dir, interpreter)
        requests.append(_request(sweep_dir, run.run_id, command, run.run_name, run.common_folder, profile.layout))
        entries.append(
            {
                **run.to_dict(),
                "command": list(command.argv),
                "workdir": command.workdir,
                "training_command": command.to_dict(),
            }
        )
    manifest = new_manifest(spec.to_dict(), profile.to_dict(), executor, entries, options)
    return Plan(sweep_dir, spec, profile, executor, runs, requests, manifest)


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
    sweep_dir: Path, run_id: str, command: TrainingCommand, run_name: str, common_folder: str, layout: str
) -> JobRequest:
    return JobRequest(
        sweep_dir=str(sweep_dir),
        run_id=run_id,
        command=command,
        run_name=run_name,
        common_folder=common_folder,
        layout=layout,
    )
