"""One run over several nodes (``--nodes N``): each node's place in the group, and what the other nodes report.

A multi-node run is one Slurm job (one array task) of N nodes with one task per node; every task runs the same
:class:`hpc_sweep.job.TrainingJob`, which starts that node's ``torch.distributed.run`` with its own ``--node_rank``
and the first node of the allocation as master (a static rendezvous: global rank 0, the rank that logs and saves
checkpoints, is on node 0). The port is derived from the job id and Slurm's restart count, so that a requeued job
does not meet its own previous store.

Node 0 is the *leader*: its task writes the run's record from its console (``train.log``), as a one-node run does,
and handles the time-limit signal (submitit checkpoints on global rank 0 only): it stops its training, which ends
every rank, and requeues the whole job; each node's task then starts again and every rank resumes from the same
checkpoint, chosen from the record by the same rule on every node. The other nodes are *followers*: each logs to
``runs/<id>/train.node<k>.log`` and, when its training ends, reports its end in ``runs/<id>/node<k>.json``; they
write no record. When the run fails, the leader reads those reports: the node whose training failed first is
named in the run's reason (a rank that crashes takes the others down with connection errors a moment later).

Standard library only (the job wrapper imports it); submitit is imported on the node, inside the job.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpc_sweep.atomic import write_json_atomic
from hpc_sweep.command import is_multi_node, place_on_node
from hpc_sweep.layout import SweepLayout

_PORT_BASE = 20000
_REPORT_WAIT_S = 30.0  # how long a failed leader waits for the followers' reports


@dataclass(frozen=True)
class Placement:
    """Where this task stands in its run's group of nodes."""

    node: int
    nodes: int
    master: str
    port: int
    job_id: str
    restart: int

    @property
    def leader(self) -> bool:
        return self.node == 0

    def argv(self, argv: list[str]) -> list[str]:
        """This node's command (its rank, the master's address and port filled in)."""
        return place_on_node(argv, self.node, self.master, self.port)


def placement(argv: list[str]) -> Placement | None:
    """This task's placement when ``argv`` spans several nodes (None for a one-node command)."""
    if not is_multi_node(argv):
        return None
    import submitit

    env = submitit.JobEnvironment()
    job_id = os.environ.get("SLURM_JOB_ID") or str(env.job_id)
    restart = int(os.environ.get("SLURM_RESTART_COUNT") or 0)
    number = int("".join(ch for ch in job_id if ch.isdigit()) or 0)
    port = _PORT_BASE + (number % 4000) * 10 + restart % 10
    return Placement(int(env.node), int(env.num_nodes), env.hostnames[0], port, job_id, restart)


def node_name() -> str:
    """This node's name as Slurm knows it (what squeue and sinfo show), else its host name."""
    return os.environ.get("SLURMD_NODENAME") or socket.gethostname()


def node_log(layout: SweepLayout, run_id: str, node: int) -> Path:
    """A follower's console log."""
    return layout.run_dir(run_id) / f"train.node{node}.log"


def _report_path(layout: SweepLayout, run_id: str, node: int) -> Path:
    return layout.run_dir(run_id) / f"node{node}.json"


def write_report(
    layout: SweepLayout, run_id: str, place: Placement, exit_code: int | None, failure: str | None
) -> dict[str, Any]:
    """A follower's end: its exit code and failure (None: none), stamped with the job and restart it belongs to."""
    report = {
        "node": place.node,
        "host": node_name(),
        "job_id": place.job_id,
        "restart": place.restart,
        "exit_code": exit_code,
        "failure": failure,
        "ended": time.time(),
        "log": layout.store_path(node_log(layout, run_id, place.node)),
    }
    write_json_atomic(_report_path(layout, run_id, place.node), report)
    return report


def follower_reports(layout: SweepLayout, run_id: str, place: Placement, wait_s: float) -> list[dict[str, Any]]:
    """The followers' reports of this attempt (same job, same restart), waiting up to ``wait_s`` for missing ones."""
    deadline = time.monotonic() + wait_s
    while True:
        reports = []
        for node in range(1, place.nodes):
            try:
                report = json.loads(_report_path(layout, run_id, node).read_text())
            except (OSError, ValueError):
                continue
            if report.get("job_id") == place.job_id and report.get("restart") == place.restart:
                reports.append(report)
        if len(reports) == place.nodes - 1 or time.monotonic() >= deadline:
            return reports
        time.sleep(0.5)


def first_failure(reports: list[dict[str, Any]], leader_ended: float) -> str | None:
    """The reason of the follower whose training failed first, when it failed before the leader's ended."""
    failed = [r for r in reports if r.get("exit_code") not in (0, None) or r.get("failure")]
    failed = [r for r in failed if float(r.get("ended", 0.0)) <= leader_ended]
    if not failed:
        return None
    first = min(failed, key=lambda r: float(r.get("ended", 0.0)))
    what = first.get("failure") or f"exit code {first.get('exit_code')}"
    return f"node {first['node']} ({first.get('host')}) failed first: {what}"


def leader_end(
    layout: SweepLayout, run_id: str, place: Placement, completed: bool, reason: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """At the leader's end: every node's entry for the record (host, log, end), and the run's reason, naming the
    follower that failed first when the run failed. The leader waits long enough for a failing follower to report,
    briefly when all went well."""
    ended = time.time()
    reports = follower_reports(layout, run_id, place, 5.0 if completed else _REPORT_WAIT_S)
    leader = {"node": 0, "host": node_name(), "log": layout.store_path(layout.train_log(run_id))}
    culprit = None if completed else first_failure(reports, ended)
    return [leader, *reports], culprit or reason
