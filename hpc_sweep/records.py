"""Per-run records and ``partial_results.json``: written by the runs themselves, safely, on a shared filesystem.

Each run writes only ``runs/<run_id>/record.json`` (atomically). ``partial_results.json`` is regenerated from all
records under a lock that works on NFS (an atomic ``mkdir`` with stale-lock recovery), so once it is rewritten after a
run finished, that run is in it. Stdlib only: this runs at the end of every job.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from hpc_sweep.atomic import write_json_atomic
from hpc_sweep.layout import SweepLayout
from hpc_sweep.runstate import FINISHED

PARTIAL_SCHEMA = "hpc_sweep.partial_results/1"
_STALE_LOCK_S = 60.0


def now_iso() -> str:
    """Current time as an ISO-8601 string with timezone (records are compared across nodes)."""
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def read_record(layout: SweepLayout, run_id: str) -> dict[str, Any] | None:
    """The run's record, or None when it has not started (or the file is unreadable mid-replace on NFS)."""
    try:
        return json.loads(layout.record(run_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_record(layout: SweepLayout, record: dict[str, Any]) -> None:
    """Write one run's record atomically."""
    write_json_atomic(layout.record(record["run_id"]), record)


def read_all_records(layout: SweepLayout) -> dict[str, dict[str, Any]]:
    """Every run record in the sweep, by run id."""
    records: dict[str, dict[str, Any]] = {}
    if not layout.runs_dir.is_dir():
        return records
    for entry in sorted(os.scandir(layout.runs_dir), key=lambda e: e.name):
        if entry.is_dir():
            record = read_record(layout, entry.name)
            if record is not None:
                records[entry.name] = record
    return records


@contextlib.contextmanager
def sweep_lock(layout: SweepLayout, name: str = "results", timeout_s: float = 120.0) -> Iterator[None]:
    """Hold an exclusive lock on the sweep dir; ``mkdir`` is atomic on NFS, unlike ``flock`` on many clusters.

    A lock older than a minute is taken to belong to a dead holder (a node that crashed) and is broken.
    """
    lock_dir = layout.root / f".{name}.lock"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            lock_dir.mkdir()
            break
        except FileExistsError:
            try:
                age = time.time() - lock_dir.stat().st_mtime
            except FileNotFoundError:
                continue
            if age > _STALE_LOCK_S:
                stale = lock_dir.with_name(f"{lock_dir.name}.stale.{os.getpid()}.{socket.gethostname()}")
                with contextlib.suppress(OSError):
                    lock_dir.rename(stale)
                    stale.rmdir()
                continue
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not take {lock_dir} within {timeout_s:.0f} s") from None
            time.sleep(0.05)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            lock_dir.rmdir()


def partial_entry(run: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """The seed script's per-experiment keys for one finished run, from its plan and its record."""
    return {
        "experiment_id": run.get("run_name", record["run_id"]),
        "run_id": record["run_id"],
        "task": run.get("task"),
        "seed": run.get("seed"),
        "group": run.get("group"),
        "point": run.get("point", {}),
        "status": record.get("state"),
        "exit_code": record.get("exit_code"),
        "error": record.get("reason"),
        "attempt": record.get("attempt"),
        "final_reward_mean": record.get("final_reward_mean"),
        "initial_reward_mean": record.get("first_reward_mean"),
        "training_iterations": record.get("iterations_done"),
        "duration_minutes": record.get("duration_minutes"),
        "log_dir": record.get("log_dir"),
        "command": run.get("command"),
        "start_time": record.get("start_time"),
        "end_time": record.get("end_time"),
    }


def update_partial_results(layout: SweepLayout) -> dict[str, Any]:
    """Regenerate ``partial_results.json`` from the manifest and every finished run's record, under the lock."""
    with sweep_lock(layout):
        manifest = json.loads(layout.manifest.read_text(encoding="utf-8"))
        runs = {run["run_id"]: run for run in manifest.get("runs", [])}
        records = read_all_records(layout)
        results = [
            partial_entry(runs.get(run_id, {}), record)
            for run_id, record in records.items()
            if record.get("state") in FINISHED
        ]
        data = {
            "schema": PARTIAL_SCHEMA,
            "sweep_dir": str(layout.root),
            "updated": now_iso(),
            "total_runs": len(runs),
            "finished_runs": len(results),
            "completed_runs": sum(1 for r in results if r["status"] == "completed"),
            "results": results,
        }
        write_json_atomic(layout.partial_results, data)
    return data
