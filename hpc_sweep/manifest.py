"""The sweep manifest (``sweep.json``): the plan of every run, written atomically before anything starts.

Run state is written by the runs themselves into their own records; :func:`load_sweep` merges plan and records,
and :func:`refresh_manifest` writes the merged view back so ``sweep.json`` alone tells the whole story.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpc_sweep.atomic import write_json_atomic
from hpc_sweep.errors import UsageError
from hpc_sweep.layout import SweepLayout
from hpc_sweep.records import now_iso, read_all_records, sweep_lock
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
    "gpu",
    "duration_minutes",
    "iterations_done",
    "final_reward_mean",
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
    """Create the sweep dir and its manifest; refuses to overwrite an existing sweep."""
    if layout.manifest.exists():
        raise UsageError(
            f"{layout.root} already holds a sweep ({layout.manifest.name}); "
            "choose another --output_dir, or add --resume to run its unfinished runs"
        )
    layout.root.mkdir(parents=True, exist_ok=True)
    write_json_atomic(layout.manifest, manifest)


def load_sweep(path: Path) -> Sweep:
    """Read a sweep dir, merging each run's record into its manifest entry."""
    layout = SweepLayout(Path(path))
    try:
        manifest = json.loads(layout.manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"{path} is not a sweep dir (no {layout.manifest.name}); give the --output_dir of a sweep"
        ) from None
    except ValueError as error:
        raise UsageError(f"{layout.manifest} is not valid JSON ({error}); restore it from a backup") from None
    records = read_all_records(layout)
    for run in manifest.get("runs", []):
        record = records.get(run["run_id"])
        if record:
            run.update({key: record.get(key) for key in STATE_FIELDS if key in record})
            run["attempts"] = record.get("attempts", [])
    return Sweep(layout=layout, manifest=manifest)


def refresh_manifest(sweep: Sweep, **updates: Any) -> None:
    """Write the merged view (plan + records + ``updates``) back to ``sweep.json`` under the sweep lock."""
    sweep.manifest.update(updates)
    sweep.manifest["updated"] = now_iso()
    with sweep_lock(sweep.layout, name="manifest"):
        write_json_atomic(sweep.layout.manifest, sweep.manifest)
