"""The sweep manifest (``sweep.json``): the plan of every run, written atomically before anything starts.

Run state is written by the runs themselves into their own records; :func:`load_sweep` merges plan and records,
and :func:`refresh_manifest` writes the merged view back so ``sweep.json`` alone tells the whole story.

A sweep dir may be copied or moved. The manifest records where it was written (``sweep_dir``), the records keep
their paths relative to the sweep dir, and :func:`load_sweep` reads the sweep where it is now: recorded paths are
resolved against it, and the plan's paths inside the old place (each run's working dir and command, for profiles
whose working dir is the sweep dir) are moved to the new one. The merged view, and so the ``sweep.json`` that readers
write back, holds absolute paths of the place it was last read from, with ``sweep_dir`` saying which place that was.
A manifest written before ``sweep_dir`` was recorded is read as it is (its plan's paths are not moved).

A ``sweep.json`` that is not a manifest (not JSON, a list, no ``runs``, a run without ``run_id``) is an
:class:`HpcSweepError` naming the file (exit status 1); a path that is not a sweep dir at all is a
:class:`UsageError` (exit status 2).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpc_sweep.atomic import write_json_atomic
from hpc_sweep.errors import UsageError
from hpc_sweep.layout import SweepLayout
from hpc_sweep.records import (
    broken_file,
    fields_problem,
    json_kind,
    now_iso,
    read_all_records,
    read_json_file,
    sweep_lock,
)
from hpc_sweep.runstate import RunState

MANIFEST_SCHEMA = "hpc_sweep.sweep/1"
#: Record fields copied into the manifest's run entries by :func:`refresh_manifest`.
STATE_FIELDS = (
    "state",
    "attempt",
    "exit_code",
    "reason",
    "log_dir",
    "log_dirs",
    "start_time",
    "end_time",
    "job_id",
    "host",
    "pid",
    "gpu",
    "duration_minutes",
    "iterations_done",
    "final_reward_mean",
    "code_commit",  # the code each attempt ran (hpc_sweep.provenance.attempt)
    "code_mismatch",
)


@dataclass
class Sweep:
    """A sweep read back from disk: its manifest with each run's latest record merged in."""

    layout: SweepLayout
    manifest: dict[str, Any]

    @property
    def runs(self) -> list[dict[str, Any]]:
        return self.manifest["runs"]


def new_manifest(
    spec: dict[str, Any], profile: dict[str, Any], executor: str, runs: list[dict[str, Any]], options: dict[str, Any]
) -> dict[str, Any]:
    """Build the manifest of a new sweep; every run starts ``pending``."""
    return {
        "schema": MANIFEST_SCHEMA,
        "created": now_iso(),
        "executor": executor,
        "spec": spec,
        "profile": profile,
        "options": options,
        "jobs": [],
        "runs": [{**run, "state": RunState.PENDING, "attempt": 0} for run in runs],
    }


def is_sweep_dir(path: Path) -> bool:
    """True when ``path`` holds a sweep of ours."""
    return SweepLayout(Path(path)).manifest.is_file()


def write_new_manifest(layout: SweepLayout, manifest: dict[str, Any]) -> None:
    """Create the sweep dir and its manifest (recording where it is); refuses to overwrite an existing sweep."""
    if layout.manifest.exists():
        raise UsageError(
            f"{layout.root} already holds a sweep ({layout.manifest.name}); "
            "choose another --output_dir, or add --resume to run its unfinished runs"
        )
    if layout.root.exists() and not layout.root.is_dir():
        raise UsageError(f"--output_dir {layout.root} is a file, not a directory; choose another --output_dir")
    layout.root.mkdir(parents=True, exist_ok=True)
    write_json_atomic(layout.manifest, {**manifest, "sweep_dir": os.path.realpath(layout.root)})


def load_sweep(path: Path) -> Sweep:
    """Read a sweep dir where it is now, merging each run's record into its manifest entry.

    Raises: :class:`UsageError` when ``path`` is not a sweep dir; :class:`HpcSweepError` naming the file when its
    ``sweep.json`` or a run's ``record.json`` is broken.
    """
    layout = SweepLayout(Path(path))
    if layout.root.is_file():
        raise UsageError(f"{path} is a file, not a sweep dir; give the --output_dir of a sweep")
    manifest = read_json_file(layout.manifest, _MANIFEST_FIX)
    if manifest is None:
        raise UsageError(f"{path} is not a sweep dir (no {layout.manifest.name}); give the --output_dir of a sweep")
    check_manifest(manifest, layout.manifest)
    records = read_all_records(layout)
    for run in manifest["runs"]:
        record = records.get(run["run_id"])
        if record:
            run.update({key: record.get(key) for key in STATE_FIELDS if key in record})
            run["attempts"] = record.get("attempts", [])
    _place_here(manifest, layout)
    return Sweep(layout=layout, manifest=manifest)


_MANIFEST_FIX = "restore it from a backup or from a copy of the sweep dir"


def check_manifest(manifest: Any, path: Path) -> None:
    """Raise a one-line :class:`HpcSweepError` naming ``path`` unless ``manifest`` has the shape readers rely on:
    an object whose ``runs`` is a non-empty list of objects with distinct ``run_id`` strings."""
    if not isinstance(manifest, dict):
        raise broken_file(
            path, f"it holds {json_kind(manifest)}, not a sweep manifest (an object with runs)", _MANIFEST_FIX
        )
    runs = manifest.get("runs")
    if not isinstance(runs, list):
        found = "no" if runs is None else f"{json_kind(runs)} as its"
        raise broken_file(path, f'it has {found} "runs" (a list of the planned runs)', _MANIFEST_FIX)
    if not runs:
        raise broken_file(path, "it lists no runs", _MANIFEST_FIX)
    for key, kind, words in (
        ("spec", dict, "an object"),
        ("profile", dict, "an object"),
        ("options", dict, "an object"),
        ("executor", str, "a name"),
        ("jobs", list, "a list"),
    ):
        if key in manifest and not isinstance(manifest[key], kind):
            raise broken_file(path, f'"{key}" is {json_kind(manifest[key])}, not {words}', _MANIFEST_FIX)
    if not all(isinstance(job, dict) and isinstance(job.get("array_id"), str) for job in manifest.get("jobs", [])):
        raise broken_file(path, '"jobs" holds an entry without an "array_id"', _MANIFEST_FIX)
    seen: set[str] = set()
    for number, run in enumerate(runs, start=1):
        if not isinstance(run, dict):
            raise broken_file(path, f"run #{number} is {json_kind(run)}, not an object", _MANIFEST_FIX)
        run_id = run.get("run_id")
        if not isinstance(run_id, str) or not run_id:
            raise broken_file(path, f'run #{number} has no "run_id"', _MANIFEST_FIX)
        if run_id in seen:
            raise broken_file(path, f'run id "{run_id}" appears twice', _MANIFEST_FIX)
        seen.add(run_id)
        problem = fields_problem(run)
        if problem:
            raise broken_file(path, f"run {run_id}: {problem}", _MANIFEST_FIX)


def _place_here(manifest: dict[str, Any], layout: SweepLayout) -> None:
    """Make every path of the merged runs absolute, at the sweep dir's present place.

    Relative paths (what records keep) are resolved against the sweep dir; absolute paths inside the place the
    manifest was last written at (``sweep_dir``) are moved to the present place.
    """
    here = os.path.realpath(layout.root)
    recorded = manifest.get("sweep_dir")
    moved = (
        re.compile(rf"(^|=){re.escape(recorded)}(?=/|$)") if isinstance(recorded, str) and recorded != here else None
    )

    def place(value: Any) -> Any:
        if isinstance(value, str):
            return moved.sub(lambda m: m.group(1) + here, value) if moved else value
        if isinstance(value, list):
            return [place(item) for item in value]
        if isinstance(value, dict):
            return {key: place(item) for key, item in value.items()}
        return value

    for run in manifest["runs"]:
        for key in ("log_dir", "checkpoint"):
            if isinstance(run.get(key), str):
                run[key] = str(layout.load_path(run[key]))
        if isinstance(run.get("log_dirs"), list):
            run["log_dirs"] = [str(layout.load_path(d)) for d in run["log_dirs"]]
        for attempt in run.get("attempts") or []:
            for key in ("log_dir", "checkpoint"):
                if isinstance(attempt.get(key), str):
                    attempt[key] = str(layout.load_path(attempt[key]))
        if moved:
            run.update(place(run))
    if isinstance(recorded, str):
        manifest["sweep_dir"] = here


def refresh_manifest(sweep: Sweep, **updates: Any) -> None:
    """Write the merged view (plan + records + ``updates``) back to ``sweep.json`` under the sweep lock."""
    sweep.manifest.update(updates)
    sweep.manifest["updated"] = now_iso()
    with sweep_lock(sweep.layout, name="manifest"):
        write_json_atomic(sweep.layout.manifest, sweep.manifest)
