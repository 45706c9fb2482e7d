"""Per-run records and ``partial_results.json``: written by the runs themselves, safely, on a shared filesystem.

Each run writes only ``runs/<run_id>/record.json`` (atomically). ``partial_results.json`` is regenerated from all
records under a lock that works on NFS (an atomic ``mkdir`` with stale-lock recovery), so once it is rewritten after a
run finished, that run is in it. Stdlib only: this runs at the end of every job.

Paths in a record (``log_dir``, ``log_dirs``, ``checkpoint`` and each attempt's) are relative to the sweep dir when
they lie inside it (see :meth:`SweepLayout.store_path`), so a copied or moved sweep dir reads its own files.

Two ways to read a record. :func:`read_record` never fails (None for anything unreadable): the job wrapper and the
launchers' polls use it while runs write. :func:`load_record` is what every verb reads through
:func:`read_all_records`: a file that is not valid JSON is read again a few times (on NFS a reader can briefly see a
file mid-replace) and is then an error naming the file, as is valid JSON of the wrong shape (a list, a number, a
record of another run, a path field that is not a path).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hpc_sweep.atomic import write_json_atomic
from hpc_sweep.errors import HpcSweepError
from hpc_sweep.layout import SweepLayout
from hpc_sweep.runstate import FINISHED

PARTIAL_SCHEMA = "hpc_sweep.partial_results/1"
_STALE_LOCK_S = 60.0
#: Reads of a file that is not valid JSON before it counts as broken (a reader on NFS may see a file mid-replace).
_JSON_TRIES = 3
_JSON_RETRY_S = 0.2
#: Fields of a record (and of a manifest run entry, and of an attempt) that readers use, and what each must be
#: when present and not null (``log_dirs`` and ``attempts`` are checked apart).
_FIELDS = {
    "state": (str, "a string"),
    "reason": (str, "a string"),
    "start_time": (str, "a time"),
    "end_time": (str, "a time"),
    "attempt": (int, "a whole number"),
    "log_dir": (str, "a path"),
    "checkpoint": (str, "a path"),
}


def now_iso() -> str:
    """Current time as an ISO-8601 string with timezone (records are compared across nodes)."""
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def read_record(layout: SweepLayout, run_id: str) -> dict[str, Any] | None:
    """The run's record, or None when it has not started or cannot be read as one (mid-replace on NFS, or broken).

    Never raises: for the job wrapper and the launchers' polls. Verbs read records through :func:`load_record`.
    """
    path = layout.record(run_id)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        check_record(record, path, run_id)
    except (OSError, ValueError, HpcSweepError):
        return None
    return record


def load_record(layout: SweepLayout, run_id: str) -> dict[str, Any] | None:
    """The run's record, checked; None when the run has not started (no ``record.json``).

    Raises: :class:`HpcSweepError` naming the file when it stays unreadable or is not a record of this run.
    """
    path = layout.record(run_id)
    record = read_json_file(path, f"restore it, or delete it to treat run {run_id} as not started")
    if record is None:
        return None
    check_record(record, path, run_id)
    return record


def read_json_file(path: Path, fix: str) -> Any:
    """The JSON value in ``path`` (None when there is no such file), read again a few times while it is not valid
    JSON; ``fix`` ends the message of the :class:`HpcSweepError` raised when it stays unreadable."""
    for attempt in range(_JSON_TRIES):
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise broken_file(path, "it is a directory, not a file", fix) from None
        except (OSError, ValueError) as error:  # ESTALE, or a file seen mid-replace: look again
            if attempt + 1 == _JSON_TRIES:
                what = (
                    f"cannot be read ({error.strerror})" if isinstance(error, OSError) else f"not valid JSON ({error})"
                )
                raise broken_file(path, what, fix) from None
            time.sleep(_JSON_RETRY_S)
    return None  # not reached


def broken_file(path: Path, what: str, fix: str) -> HpcSweepError:
    """The one-line error of a broken file in a sweep dir: the file, what is wrong, what to do."""
    return HpcSweepError(f"{path} is broken: {what}; {fix}")


def json_kind(value: Any) -> str:
    """``a JSON list``, ``a number``... : what a JSON value is, in words."""
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list):
        return "a JSON list"
    if isinstance(value, bool):
        return f"JSON {str(value).lower()}"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "null"


def check_record(record: Any, path: Path, run_id: str) -> None:
    """Raise a one-line :class:`HpcSweepError` naming ``path`` unless ``record`` is a record of run ``run_id``
    whose fields hold what readers expect."""
    fix = f"restore it, or delete it to treat run {run_id} as not started"
    if not isinstance(record, dict):
        raise broken_file(path, f"it holds {json_kind(record)}, not a run record (a JSON object)", fix)
    if record.get("run_id") != run_id:
        found = f"is {json.dumps(record['run_id'])}" if "run_id" in record else "is missing"
        raise broken_file(path, f'its "run_id" {found}, not "{run_id}" (its run dir\'s name)', fix)
    problem = fields_problem(record)
    if problem:
        raise broken_file(path, problem, fix)


def fields_problem(entry: dict[str, Any]) -> str | None:
    """What is wrong with the fields readers use in a record or manifest run entry (and its attempts), or None."""
    for key, (kind, words) in _FIELDS.items():
        value = entry.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            return f'"{key}" is {json_kind(value)}, not {words}'
    log_dirs = entry.get("log_dirs")
    if log_dirs is not None and not (isinstance(log_dirs, list) and all(isinstance(d, str) for d in log_dirs)):
        return f'"log_dirs" is {json_kind(log_dirs)}, not a list of paths'
    attempts = entry.get("attempts")
    if attempts is None:
        return None
    if not isinstance(attempts, list) or not all(isinstance(a, dict) for a in attempts):
        return f'"attempts" is {json_kind(attempts)}, not a list of objects'
    for attempt in attempts:
        problem = fields_problem({key: attempt.get(key) for key in _FIELDS})
        if problem:
            return f"an attempt's {problem}"
    return None


def write_record(layout: SweepLayout, record: dict[str, Any]) -> None:
    """Write one run's record atomically."""
    write_json_atomic(layout.record(record["run_id"]), record)


def read_all_records(layout: SweepLayout, strict: bool = True) -> dict[str, dict[str, Any]]:
    """Every run record in the sweep, by run id: checked by :func:`load_record`, or (``strict=False``, for the
    job wrapper's partial results) the readable ones only."""
    records: dict[str, dict[str, Any]] = {}
    if not layout.runs_dir.is_dir():
        return records
    for entry in sorted(os.scandir(layout.runs_dir), key=lambda e: e.name):
        if entry.is_dir():
            record = load_record(layout, entry.name) if strict else read_record(layout, entry.name)
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


def partial_entry(run: dict[str, Any], record: dict[str, Any], layout: SweepLayout | None = None) -> dict[str, Any]:
    """The seed script's per-experiment keys for one finished run, from its plan and its record (``log_dir``
    absolute, resolved against ``layout`` when given)."""
    log_dir = record.get("log_dir")
    if layout is not None and isinstance(log_dir, str):
        log_dir = str(layout.load_path(log_dir))
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
        "log_dir": log_dir,
        "command": run.get("command"),
        "start_time": record.get("start_time"),
        "end_time": record.get("end_time"),
    }


def update_partial_results(layout: SweepLayout) -> dict[str, Any]:
    """Regenerate ``partial_results.json`` from the manifest and every finished run's record, under the lock.

    Best effort, as the job wrapper calls it at every run's end: records that cannot be read are left out.
    """
    with sweep_lock(layout):
        manifest = json.loads(layout.manifest.read_text(encoding="utf-8"))
        planned = manifest.get("runs", []) if isinstance(manifest, dict) else []
        runs = {run["run_id"]: run for run in planned if isinstance(run, dict) and isinstance(run.get("run_id"), str)}
        records = read_all_records(layout, strict=False)
        results = [
            partial_entry(runs.get(run_id, {}), {**record, "run_id": run_id}, layout)
            for run_id, record in records.items()
            if record.get("state") in FINISHED
        ]
        data = {
            "schema": PARTIAL_SCHEMA,
            "sweep_dir": os.path.abspath(layout.root),
            "updated": now_iso(),
            "total_runs": len(runs),
            "finished_runs": len(results),
            "completed_runs": sum(1 for r in results if r["status"] == "completed"),
            "results": results,
        }
        write_json_atomic(layout.partial_results, data)
    return data
