"""The stand-ins' test knobs: environment variables that only tests set, read in one place (none exists upstream).

``STANDIN_TIMESTAMP``          ``%Y-%m-%d_%H-%M-%S``: the run-directory timestamp instead of ``datetime.now()``, to put
                               runs that a cluster would start in the same second into the same second here.
``STANDIN_TIMESTAMP_FRESH_ONLY``  when set, ``STANDIN_TIMESTAMP`` applies to fresh runs only; a run started with
                               ``--resume`` gets the real clock's timestamp (a Slurm requeue keeps the job's
                               environment, and Isaac Lab gives each resumed attempt a new, later directory).
``STANDIN_FAIL_AT_ITERATION``  ``k``: the runner raises at the start of iteration ``k`` (after the checkpoints of the
                               earlier iterations are on disk), on the FIRST attempt of each run only: a marker file
                               under ``$PWD/.standin_state/failed/`` remembers that the run already failed once.
``STANDIN_SLEEP``              seconds to sleep in every iteration (default 0: a few milliseconds per iteration), for
                               time-limit and signal tests.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}")


def run_timestamp(resuming: bool = False) -> str:
    """The run directory's timestamp: ``STANDIN_TIMESTAMP`` when set (for fresh runs only, with
    ``STANDIN_TIMESTAMP_FRESH_ONLY``), else now (Isaac Lab's format)."""
    fixed = os.environ.get("STANDIN_TIMESTAMP", "").strip()
    if resuming and os.environ.get("STANDIN_TIMESTAMP_FRESH_ONLY"):
        fixed = ""
    if not fixed:
        return datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    if not _TIMESTAMP.fullmatch(fixed):
        raise ValueError(f"STANDIN_TIMESTAMP must look like 2026-01-31_23-59-59, got {fixed!r}")
    return fixed


def sleep_per_iteration() -> float:
    """Seconds to sleep in each training iteration (``STANDIN_SLEEP``, default 0)."""
    return float(os.environ.get("STANDIN_SLEEP", "0") or 0)


def should_fail_now(iteration: int, run_key: str) -> bool:
    """True once per ``run_key``: at ``STANDIN_FAIL_AT_ITERATION`` on the run's first attempt (marks the run)."""
    raw = os.environ.get("STANDIN_FAIL_AT_ITERATION", "").strip()
    if not raw or int(raw) != iteration:
        return False
    marker = Path.cwd() / ".standin_state" / "failed" / re.sub(r"[^\w.-]+", "_", run_key)
    if marker.exists():
        return False
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"failed once at iteration {iteration}\n")
    return True
