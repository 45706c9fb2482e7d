"""Which code each attempt of a run ran: the commit of every recorded code dir at the attempt's start.

Called by the job wrapper at each attempt's start (first run, requeue, resubmit, resume), so it stays light: the
standard library, one ``git rev-parse HEAD`` per code dir (short timeout), and ``<sweep>/provenance/summary.json``
(small: no diffs, no pip freeze), which says which dirs were recorded at submit and at which commit. A sweep without
it (submitted before provenance was recorded) gets nothing here.

Record keys (in ``runs/<id>/record.json``, merged into ``sweep.json``'s run entries):

* ``code_commit``: the first code dir's commit at this attempt's start (of the dirs that had a commit at submit: the
  profile's working dir when it is one, else the first ``--track`` path); None when git cannot tell now;
* ``code_commits``: ``{path: commit}`` of every such code dir at this attempt's start;
* ``code_mismatch``: one line per attempt and dir whose commit differs from the one recorded at submit, kept across
  attempts (a run whose attempts ran different code has results that mix them, even if a later attempt returns to
  the submitted commit). ``status`` shows them in the run's reason column, ``collect`` as warnings (with each
  experiment's ``code_commit`` in ``training_results.json``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hpc_sweep.provenance.git import head_commit

PROVENANCE_DIR = "provenance"
SUMMARY_NAME = "summary.json"
SHORT = 12


def summary_path(sweep_dir: Path | str) -> Path:
    """Where a sweep's provenance summary is."""
    return Path(sweep_dir) / PROVENANCE_DIR / SUMMARY_NAME


def recorded_commits(sweep_dir: Path | str) -> dict[str, str | None]:
    """``{path: commit}`` of the code dirs recorded at submit, in their order; empty when none were recorded."""
    try:
        summary = json.loads(summary_path(sweep_dir).read_text(encoding="utf-8"))
        return {str(entry["path"]): entry.get("commit") for entry in summary.get("code", [])}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def attempt_code(sweep_dir: Path | str, attempt: int, previous: dict[str, Any]) -> dict[str, Any]:
    """The record keys of an attempt's code (see the module docstring), from its code dirs' commits now; ``previous``
    is the run's record before this attempt (its ``code_mismatch`` lines are kept). Never raises."""
    try:
        recorded = {path: commit for path, commit in recorded_commits(sweep_dir).items() if commit}
        if not recorded:  # no code dir was a repository with a commit at submit: nothing to compare with
            return {}
        now = {path: head_commit(path) for path in recorded}
        mismatch = [str(line) for line in previous.get("code_mismatch") or []]
        for path, commit in now.items():
            submitted = recorded[path]
            if submitted and commit and commit != submitted:
                mismatch.append(f"attempt {attempt}: {path} at {commit[:SHORT]}, submitted at {submitted[:SHORT]}")
        return {"code_commit": next(iter(now.values())), "code_commits": now, "code_mismatch": mismatch or None}
    except Exception:  # provenance must never stop a training
        return {}


def code_note(run: dict[str, Any]) -> str | None:
    """A short note for a run whose attempts ran code other than the submitted commit, or None."""
    lines = run.get("code_mismatch") or []
    if not lines:
        return None
    attempts = list(dict.fromkeys(line.split(":", 1)[0] for line in lines if isinstance(line, str)))
    return f"code changed since submit ({', '.join(attempts)})"


def reason_with_code_note(run: dict[str, Any]) -> str:
    """A run's reason for ``status``'s reason column, with :func:`code_note` added when its code changed."""
    return "; ".join(text for text in (run.get("reason"), code_note(run)) if text)
