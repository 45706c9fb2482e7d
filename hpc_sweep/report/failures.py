"""Why a run failed, said where the user looks: the live table, ``status`` and the end-of-sweep summary.

The job wrapper records each failed run's ``reason`` (``exit code 1; Python exception: ValueError: ...``, ``CUDA out
of memory``...) and the last lines of its output (``last_lines``); the whole output is ``runs/<id>/train.log``. When
the reason already quotes the failing line (a Python exception, CUDA out of memory), the details are the log's path;
otherwise (a bare exit code, a signal) they add the line of the log's end that tells most: the last one that reads
like an error (a Hydra ``Could not override``, ``Segmentation fault``...), else the last line printed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from rich.markup import escape

#: Words of a line that says what went wrong (checked from the log's end backwards).
_TELLING = re.compile(
    r"error|exception|could not|cannot|can't|killed|segmentation fault|core dumped|out of memory|abort|fatal|"
    r"not in struct|no such file|permission denied",
    re.IGNORECASE,
)
#: Lines that never tell: the job wrapper's own, and Hydra's hint about its full traceback.
_NOISE = ("=== ", "Set the environment variable HYDRA_FULL_ERROR")
#: Reasons that already quote the failing line (see :meth:`hpc_sweep.logs.console.LogScan.failure_reason`).
_QUOTED = ("Python exception:", "CUDA out of memory")
_MAX_CHARS = 240


def telling_line(last_lines: Sequence[str]) -> tuple[str, str] | None:
    """``("log says", line)`` for the last line that reads like an error, else ``("last log line", line)`` for the
    last line; None when there is none."""
    lines = [line.strip() for line in last_lines if line.strip() and not line.strip().startswith(_NOISE)]
    if not lines:
        return None
    for line in reversed(lines):
        if _TELLING.search(line):
            return "log says", _clip(line)
    return "last log line", _clip(lines[-1])


def failure_details(reason: str | None, last_lines: Sequence[str] | None, log_path: str | Path | None) -> list[str]:
    """Plain-text lines that explain a failure under its one-line reason: the telling log line (when the reason does
    not quote one already), then ``log: <path>``."""
    details = []
    if not any(mark in (reason or "") for mark in _QUOTED):
        found = telling_line(last_lines or [])
        if found is not None:
            details.append(f"{found[0]}: {found[1]}")
    if log_path:
        details.append(f"log: {log_path}")
    return details


def failure_markup(reason: str | None, last_lines: Sequence[str] | None, log_path: str | Path | None) -> str:
    """:func:`failure_details` as indented console lines (rich markup, log text escaped), each starting with a
    newline; empty when there is nothing to add."""
    return "".join(f"\n    {escape(line)}" for line in failure_details(reason, last_lines, log_path))


def _clip(line: str) -> str:
    return line if len(line) <= _MAX_CHARS else line[: _MAX_CHARS - 3] + "..."
