"""A tune study's runs: a trial's seeds become runs of the study's sweep, planned as ``submit`` plans a grid point.

Each trial's sampled values are one grid point (one Hydra override per dimension, checked by the same rules as
``--grid``), so its runs carry them in their ``point`` (``compare --by <key>`` reads them) and their commands are
built by :mod:`hpc_sweep.plan`. Names: group ``trial007`` (its confirmation runs: ``confirm007``), folder
``<common_folder>_trial007``, run name ``<folder>_seed<seed>``; run ids go on counting from the sweep's last one.

Every run is planned once with the full budget; a submission asks for fewer iterations (a rung's budget) by its job
request alone (:func:`budget_requests`), and a later one for more resumes the run from its last checkpoint (see
:func:`hpc_sweep.job.reached_budget`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from hpc_sweep.atomic import write_json_atomic
from hpc_sweep.command import JobRequest
from hpc_sweep.layout import SweepLayout
from hpc_sweep.manifest import new_manifest
from hpc_sweep.plan import requests_from_manifest, run_entries
from hpc_sweep.profiles import Profile
from hpc_sweep.records import read_json_file, sweep_lock
from hpc_sweep.runstate import RunState
from hpc_sweep.spec import RunSpec, SweepSpec, expand_runs
from hpc_sweep.tune.space import SearchSpace


def submission_name(common_folder: str, sweep_dir: Path, number: int) -> str:
    """A submission's Slurm job name, unique to its study (a restarted controller looks its jobs up by it):
    ``<common_folder>.<6 hex digits of the study dir>.s<number>``."""
    digest = hashlib.sha256(str(Path(sweep_dir).resolve()).encode()).hexdigest()[:6]
    return f"{(common_folder or 'hpc_sweep')[:100]}.{digest}.s{number:03d}"


def trial_label(trial: int, stage: str = "trial") -> str:
    """A trial's group name: ``trial007``, or ``confirm007`` for its confirmation runs."""
    return f"{stage}{trial:03d}"


def trial_runs(
    spec: SweepSpec,
    space: SearchSpace,
    trial: int,
    params: dict[str, Any],
    seeds: Sequence[int],
    first_index: int,
    stage: str = "trial",
) -> list[RunSpec]:
    """The runs of one trial (one per seed), numbered from ``first_index``; raises UsageError as ``submit`` would."""
    overrides = space.overrides(params)
    grid = tuple((item.partition("=")[0], (item.partition("=")[2],)) for item in overrides)
    runs = expand_runs(replace(spec, seeds=tuple(seeds), grid=grid))
    label = trial_label(trial, stage)
    folder = f"{spec.common_folder}_{label}"
    return [
        replace(
            run,
            run_id=f"{first_index + offset:04d}",
            index=first_index + offset,
            group=label,
            common_folder=folder,
            run_name=f"{folder}_seed{run.seed}",
        )
        for offset, run in enumerate(runs)
    ]


def trials_span(numbers: Sequence[int]) -> str:
    """Trials as a submission's purpose names them: ``trial003`` or ``trial000–trial026``."""
    if not numbers:
        return "no trials"
    if len(numbers) == 1:
        return trial_label(numbers[0])
    return f"{trial_label(numbers[0])}–{trial_label(numbers[-1])}"


def new_study_manifest(
    spec: SweepSpec, profile: Profile, sweep_dir: Path, executor: str, options: dict[str, Any], runs: list[RunSpec],
    python: str | None,
) -> dict[str, Any]:  # fmt: skip
    """The study's ``sweep.json`` with its first trials' runs."""
    entries, _ = run_entries(runs, profile, sweep_dir, python)
    return new_manifest(spec.to_dict(), profile.to_dict(), executor, entries, options)


def add_runs(layout: SweepLayout, runs: list[RunSpec], profile: Profile, python: str | None) -> None:
    """Append planned runs to the sweep's manifest (under the manifest lock, atomically)."""
    entries, _ = run_entries(runs, profile, layout.root, python)
    with sweep_lock(layout, name="manifest"):
        manifest = read_json_file(layout.manifest, "restore it from a backup")
        known = {run["run_id"] for run in manifest["runs"]}
        manifest["runs"] += [
            {**entry, "state": RunState.PENDING, "attempt": 0} for entry in entries if entry["run_id"] not in known
        ]
        write_json_atomic(layout.manifest, manifest)


def next_index(manifest: dict[str, Any]) -> int:
    """The index of the next run id of a sweep (one past the largest numeric run id)."""
    numbers = [int(run["run_id"]) for run in manifest["runs"] if str(run["run_id"]).isdigit()]
    return max(numbers, default=-1) + 1


def budget_requests(manifest: dict[str, Any], sweep_dir: Path, run_ids: Sequence[str], budget: int) -> list[JobRequest]:
    """Job requests that train ``run_ids`` to ``budget`` iterations (resuming those that trained some already)."""
    wanted = set(run_ids)
    requests = requests_from_manifest(manifest, sweep_dir, wanted)
    return [replace(request, command=replace(request.command, max_iterations=budget)) for request in requests]
