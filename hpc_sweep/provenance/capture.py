"""Provenance captured once at submit: the code dirs' git state, the Pythons' packages, the container image.

What is captured (files under ``<sweep>/provenance/``, each written atomically):

* ``summary.json``: schema ``hpc_sweep.provenance/1``: ``captured`` (time), ``code`` (per code dir: ``path, role``
  (``workdir`` or ``tracked``), ``repository, toplevel, commit, branch, dirty, changes``, the names of its
  ``status_file`` and ``diff_file``, ``diff_bytes, diff_truncated, note``), ``python`` (``submitting`` and ``job``:
  ``executable, python, packages``, the job's ``argv`` and ``note``), ``pip_freeze`` (file name), ``image``
  (``path, exists, size_bytes, sha256, note``, or null) and ``warnings``;
* ``<name>.status`` (``git status --porcelain``) and ``<name>.diff`` (``git diff HEAD``, cut at 1 MiB) per dirty dir,
  ``<name>`` being the dir's base name (``IsaacLab``, ``IsaacLab-2`` when two share one);
* ``pip_freeze.txt``: ``pip freeze`` of the job's Python (run once; :mod:`hpc_sweep.provenance.pyenv`).

The code dirs are the profile's working dir (``$ISAACLAB_PATH``, ``$BALLU_PATH``), unless it is the sweep dir or lies
inside it (the demo's: that is output, not code), and every ``--track PATH``. ``sweep.json`` keeps the short form
(:func:`manifest_summary`), which ``collect`` copies into ``training_results.json``'s ``metadata``. A dirty tree is a
warning at submit (and at a dry run, which writes nothing). Nothing here fails a submit.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpc_sweep.atomic import write_bytes_atomic, write_json_atomic, write_text_atomic
from hpc_sweep.errors import HpcSweepError
from hpc_sweep.layout import SweepLayout
from hpc_sweep.provenance.attempt import PROVENANCE_DIR, SUMMARY_NAME
from hpc_sweep.provenance.git import GitState, git_state
from hpc_sweep.provenance.image import image_of, image_record
from hpc_sweep.provenance.pyenv import launcher_python, probe_python, submitting_python
from hpc_sweep.records import now_iso, sweep_lock

if TYPE_CHECKING:
    from rich.console import Console

    from hpc_sweep.plan import Plan

SCHEMA = "hpc_sweep.provenance/1"
FREEZE_NAME = "pip_freeze.txt"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def code_dirs(workdir: str | None, sweep_dir: Path, tracked: Sequence[Path]) -> list[tuple[str, Path]]:
    """``(role, path)`` of each code dir: the working dir (unless it is the sweep dir or inside it), then every
    tracked path; each real path once."""
    candidates: list[tuple[str, Path]] = []
    if workdir:
        real, sweep = Path(os.path.realpath(workdir)), Path(os.path.realpath(sweep_dir))
        if real != sweep and sweep not in real.parents:
            candidates.append(("workdir", real))
    candidates += [("tracked", Path(os.path.realpath(Path(path).expanduser()))) for path in tracked]
    seen: set[Path] = set()
    unique = []
    for role, path in candidates:
        if path not in seen:
            seen.add(path)
            unique.append((role, path))
    return unique


def dirty_warnings(states: Sequence[GitState]) -> list[str]:
    """One line per code dir with uncommitted changes."""
    return [
        f"{state.path} has uncommitted changes ({state.changes} file(s)) on top of commit "
        f"{(state.commit or 'none')[:12]}: the runs may not be reproducible from the commit alone"
        for state in states
        if state.dirty
    ]


def file_names(states: Sequence[GitState]) -> list[str]:
    """A distinct plain file name per code dir (its base name; ``-2``, ``-3`` added where two share one)."""
    names: list[str] = []
    for state in states:
        base = _UNSAFE.sub("_", Path(state.path).name).strip("._") or "root"
        name, number = base, 1
        while name in names or name == Path(FREEZE_NAME).stem or name == Path(SUMMARY_NAME).stem:
            number += 1
            name = f"{base}-{number}"
        names.append(name)
    return names


def capture(
    root: Path,
    roles: Sequence[str],
    states: Sequence[GitState],
    job_python: dict[str, Any],
    image: dict[str, Any] | None,
) -> dict[str, Any]:
    """Write ``<root>/provenance/`` (see the module docstring) and return its summary."""
    folder = Path(root) / PROVENANCE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    code = []
    for role, state, name in zip(roles, states, file_names(states), strict=True):
        entry: dict[str, Any] = {
            "path": state.path,
            "role": role,
            "repository": state.repository,
            "toplevel": state.toplevel,
            "commit": state.commit,
            "branch": state.branch,
            "dirty": state.dirty,
            "changes": state.changes,
            "status_file": None,
            "diff_file": None,
            "diff_bytes": len(state.diff),
            "diff_truncated": state.diff_truncated,
            "note": "; ".join(state.notes) or None,
        }
        if state.dirty:
            entry["status_file"], entry["diff_file"] = f"{name}.status", f"{name}.diff"
            write_text_atomic(folder / entry["status_file"], state.status)
            write_bytes_atomic(folder / entry["diff_file"], state.diff)
        code.append(entry)
    freeze = job_python.pop("freeze", None)
    if freeze is not None:
        write_text_atomic(folder / FREEZE_NAME, freeze)
    summary = {
        "schema": SCHEMA,
        "captured": now_iso(),
        "code": code,
        "python": {"submitting": submitting_python(), "job": job_python},
        "pip_freeze": FREEZE_NAME if freeze is not None else None,
        "image": image,
        "warnings": dirty_warnings(states),
    }
    write_json_atomic(folder / SUMMARY_NAME, summary)
    return summary


def manifest_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """The short form kept in ``sweep.json``: per code dir its commit, branch and whether it was dirty; the versions
    of both Pythons; the image's path and sha256; the warnings; where the full record is."""
    image = summary.get("image")
    return {
        "dir": PROVENANCE_DIR,
        "code": [
            {key: entry.get(key) for key in ("path", "role", "commit", "branch", "dirty", "note")}
            for entry in summary["code"]
        ],
        "versions": {
            side: {key: python.get(key) for key in ("python", "packages", "note") if key in python}
            for side, python in summary["python"].items()
        },
        "image": {"path": image.get("path"), "sha256": image.get("sha256")} if image else None,
        "warnings": summary["warnings"],
    }


def _settings(plan: Plan, python: str | None) -> tuple[str | None, list[str], dict[str, str]]:
    """The working dir, expanded launcher and expanded vars of a plan's profile."""
    interpreter = python or sys.executable

    def expand(text: str) -> str | None:
        try:
            return plan.profile.expand(text, plan.sweep_dir, interpreter)
        except HpcSweepError:
            return None

    workdir = plan.requests[0].workdir if plan.requests else None
    launcher = [word for word in (expand(word) for word in plan.profile.launcher) if word is not None]
    variables = {key: value for key, value in ((k, expand(v)) for k, v in plan.profile.vars.items()) if value}
    return workdir, launcher, variables


def inspect_code(plan: Plan, python: str | None, tracked: Sequence[Path]) -> tuple[list[str], list[GitState]]:
    """The roles and git states of a plan's code dirs (reads only: a dry run may call it)."""
    workdir, _, _ = _settings(plan, python)
    dirs = code_dirs(workdir, plan.sweep_dir, tracked)
    return [role for role, _ in dirs], [git_state(path) for _, path in dirs]


def preview_provenance(plan: Plan, python: str | None, tracked: Sequence[Path], console: Console) -> None:
    """What a dry run shows of provenance: the dirty-tree warnings (nothing is written)."""
    warn_dirty(inspect_code(plan, python, tracked)[1], console)


def warn_dirty(states: Sequence[GitState], console: Console) -> None:
    """Print the dirty-tree warnings."""
    for line in dirty_warnings(states):
        console.print(f"warning: {line}", style="yellow", markup=False, highlight=False)  # paths may hold [ ]


def record_provenance(
    plan: Plan, python: str | None, tracked: Sequence[Path], console: Console
) -> dict[str, Any] | None:
    """Capture a new sweep's provenance (its manifest already written) and add the short form to ``sweep.json``
    (and to ``plan.manifest``); the dirty-tree warnings are printed. Returns the short form, or None (with a printed
    warning) when it could not be recorded: provenance never stops a submit."""
    try:
        return _record(plan, python, tracked, console)
    except (OSError, ValueError, TimeoutError, HpcSweepError) as error:
        console.print(f"warning: provenance not recorded: {error}", style="yellow", markup=False, highlight=False)
        return None


def _record(plan: Plan, python: str | None, tracked: Sequence[Path], console: Console) -> dict[str, Any]:
    roles, states = inspect_code(plan, python, tracked)
    warn_dirty(states, console)
    workdir, launcher, variables = _settings(plan, python)
    prefix = launcher_python(launcher)
    cwd = workdir if workdir and os.path.isdir(workdir) else str(plan.sweep_dir)
    if prefix is None:
        job_python: dict[str, Any] = {"note": "the job's Python runs inside the container image (see image)"}
    else:
        job_python = probe_python(prefix, cwd)
    image_path = image_of(variables, launcher)
    image = image_record(image_path) if image_path else None
    summary = capture(plan.sweep_dir, roles, states, job_python, image)
    short = manifest_summary(summary)
    layout = SweepLayout(plan.sweep_dir)
    with sweep_lock(layout, name="manifest"):
        manifest = json.loads(layout.manifest.read_text(encoding="utf-8"))
        manifest["provenance"] = plan.manifest["provenance"] = short
        write_json_atomic(layout.manifest, manifest)
    return short
