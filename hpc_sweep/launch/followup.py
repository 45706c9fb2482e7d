"""The collect job that follows a Slurm sweep: one small CPU-only job queued with ``--dependency=afterany:<arrays>``.

``afterany`` waits until every task of the named arrays has ended, whatever its end: a task that is requeued (time
limit, preemption, ``scontrol requeue``) is pending again, so the collect job waits for its last attempt too. The
job is submitted through submitit like the arrays (same folder, same node Python, same ``--setup`` lines), and its
id is recorded in ``sweep.json`` under ``followups``: ``[{job_id, after: [array ids], submitted, state}]``.
``refresh`` asks for its state in the sweep's one ``sacct`` call while it may still run; ``cancel`` cancels
it *before* the arrays (an ``afterany`` job would otherwise start as soon as they are cancelled); a resubmit queues
a new one after its new arrays and every array still in flight, cancelling the older one that has not started (it
would collect early).

Which arrays to follow: those Slurm still shows in flight, and those it does not know yet (accounting can lag a
fresh submit by a moment) unless an earlier collect job already followed them: an array long finished may be gone
from the controller, and sbatch refuses a dependency on a job it does not know.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from hpc_sweep.errors import HpcSweepError
from hpc_sweep.launch.sacct import cancel_jobs, job_states
from hpc_sweep.manifest import Sweep, refresh_manifest
from hpc_sweep.records import now_iso
from hpc_sweep.runstate import SLURM_TERMINAL

if TYPE_CHECKING:
    from rich.console import Console

#: Parameters of the arrays that the collect job keeps: where it may run and what it is charged to, the lines that
#: make the node's Python work, and its name in squeue. Nothing else (no GPU, no array, no constraint).
INHERITED = ("partition", "account", "qos", "setup", "job_name")
_JOB_ID = re.compile(r"\d+")
_NAME_MAX = 200
#: Not a state of Slurm's: a collect job cancelled because a newer one (after a resubmit) replaces it.
SUPERSEDED = "SUPERSEDED"


def followup_parameters(array_params: dict[str, Any], then_params: dict[str, Any], mail: str | None) -> dict[str, Any]:
    """The collect job's submitit parameters: the arrays' placement and setup, the ``[then]`` resources over them,
    and Slurm's mail at its end or failure when ``--notify mailto:`` gave an address."""
    params = {key: array_params[key] for key in INHERITED if array_params.get(key) is not None}
    reservation = (array_params.get("additional_parameters") or {}).get("reservation")
    if reservation is not None:
        params["additional_parameters"] = {"reservation": reservation}
    params.update(then_params)
    params["job_name"] = f"{array_params.get('job_name') or 'hpc_sweep'}"[: _NAME_MAX - len("_collect")] + "_collect"
    if mail is not None:
        params.update(mail_type="END,FAIL", mail_user=mail)
    return params


def dependency(after: Sequence[str]) -> str:
    """``afterany:1:2``; every id must be a plain Slurm job id (it is written into the sbatch script)."""
    bad = [job_id for job_id in after if not _JOB_ID.fullmatch(str(job_id))]
    if bad or not after:
        raise HpcSweepError(f"cannot queue the collect job after job ids {list(after)!r}: not plain Slurm job ids")
    return "afterany:" + ":".join(str(job_id) for job_id in after)


def _executor(folder: str, params: dict[str, Any], python: str, after: Sequence[str]) -> Any:
    import submitit

    from hpc_sweep.launch.slurm import check_script_inputs  # slurm.py imports this module

    check_script_inputs(folder, params, python)
    executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=0, python=shlex.quote(python))
    executor.update_parameters(**params, dependency=dependency(after))
    return executor


def submit_followup(
    sweep: Sweep, params: dict[str, Any], python: str, after: Sequence[str], function: Callable[..., Any], *args: Any
) -> str:
    """Queue ``function(*args)`` as one Slurm job after the arrays ``after``; record it in ``sweep.json``.

    ``args`` are pickled into the sweep's ``submitit/`` folder: nothing secret may be among them.
    """
    folder = str(sweep.layout.submitit_dir / "%j")
    executor = _executor(folder, params, python, after)
    try:
        job = executor.submit(function, *args)
    except Exception as error:  # submitit raises its own FailedJobError with sbatch's message
        raise HpcSweepError(f"sbatch failed: {str(error).strip().splitlines()[-1]}") from None
    entry = {"job_id": str(job.job_id), "after": list(after), "submitted": now_iso(), "state": "PENDING"}
    refresh_manifest(sweep, followups=[*followups(sweep), entry])
    return str(job.job_id)


def followup_script(folder: str, params: dict[str, Any], python: str, after: Sequence[str]) -> str:
    """The sbatch script of the collect job (for ``--dry_run``; ``after``: the arrays' ids, or placeholders)."""
    from submitit.slurm.slurm import _make_sbatch_string

    from hpc_sweep.launch.slurm import check_script_inputs  # slurm.py imports this module

    check_script_inputs(folder, params, python)
    command = " ".join([shlex.quote(python), "-u -m submitit.core._submit", shlex.quote(folder)])
    return _make_sbatch_string(command=command, folder=folder, **params, dependency="afterany:" + ":".join(after))


def followups(sweep: Sweep) -> list[dict[str, Any]]:
    """The collect jobs this sweep queued (every submit and resubmit adds one), oldest first."""
    entries = sweep.manifest.get("followups")
    return [e for e in entries if isinstance(e, dict) and "job_id" in e] if isinstance(entries, list) else []


def live_followup_ids(sweep: Sweep) -> list[str]:
    """The collect jobs whose state ``refresh`` asks for, in the sweep's one sacct call: those that may still run."""
    return [str(entry["job_id"]) for entry in followups(sweep) if in_flight(entry)]


def record_followup_states(sweep: Sweep, states: dict[str, str]) -> None:
    """Put Slurm's state of each collect job that may still run into its manifest entry (in memory: the caller
    writes the manifest); a job Slurm no longer knows keeps its last recorded state."""
    for entry in followups(sweep):
        if in_flight(entry) and str(entry["job_id"]) in states:
            entry["state"] = states[str(entry["job_id"])]


def in_flight(entry: dict[str, Any]) -> bool:
    """Whether a collect job may still run (not ended, not cancelled, not replaced)."""
    return entry.get("state") not in {*SLURM_TERMINAL, SUPERSEDED}


def arrays_to_follow(sweep: Sweep, arrays: Sequence[str]) -> list[str]:
    """The arrays a new collect job must wait for (see the module docstring): in flight, or unknown to Slurm and
    never followed before."""
    states = job_states(arrays)
    followed = {str(array) for entry in followups(sweep) for array in entry.get("after", [])}
    chosen = []
    for array in arrays:
        mine = [state for job_id, state in states.items() if job_id == array or job_id.startswith(f"{array}_")]
        if any(state not in SLURM_TERMINAL for state in mine) or (not mine and array not in followed):
            chosen.append(array)
    return chosen


def supersede_pending(sweep: Sweep, older: Sequence[str]) -> list[str]:
    """Cancel those of the ``older`` collect jobs that have not started (the new one follows every array they
    followed that is still in flight); return their ids."""
    ids = [str(job_id) for job_id in older]
    states = job_states(ids)
    pending = [e for e in followups(sweep) if str(e["job_id"]) in ids and states.get(str(e["job_id"])) == "PENDING"]
    cancel_jobs(str(entry["job_id"]) for entry in pending)
    for entry in pending:
        entry["state"] = SUPERSEDED
    return [str(entry["job_id"]) for entry in pending]


def cancel_followups(sweep: Sweep, console: Console) -> list[str]:
    """``scancel`` the collect jobs that may still run, and record it; called before the arrays are cancelled (an
    ``afterany`` job would start as soon as they are)."""
    live = [entry for entry in followups(sweep) if in_flight(entry)]
    if not live:
        return []
    cancel_jobs(str(entry["job_id"]) for entry in live)
    for entry in live:
        entry["state"] = "CANCELLED"
    refresh_manifest(sweep)
    ids = [str(entry["job_id"]) for entry in live]
    console.print(f"cancelled collect job(s) {', '.join(ids)}", highlight=False)
    return ids
