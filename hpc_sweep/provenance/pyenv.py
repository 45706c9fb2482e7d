"""Which Python and packages a sweep ran with: the submitting Python, read in-process, and the job's Python, run once.

The job's Python may not be the submitting one (Isaac Lab's ``./isaaclab.sh -p`` picks its own conda env or Isaac
Sim's bundled Python; a cluster names a node Python), so it is asked by running the profile's launcher prefix once
with ``-c`` and a small script (:data:`PROBE`): it prints, after a marker line, the interpreter, the versions of
:data:`DISTRIBUTIONS` (from ``importlib.metadata``: nothing is imported, so torch and Isaac Sim are never loaded) and
``python -m pip freeze``. When pip is missing, the installed distributions are listed from ``importlib.metadata``
instead, and a note says so. Any failure (the launcher cannot start, times out, prints no marker) is a note.

A container profile's job Python lives inside the image: it is not run at submit (that would stage the image on the
login node); the image's sha256 stands for it (:mod:`hpc_sweep.provenance.image`). Standard library only.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import platform
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

#: The distributions whose versions the summaries show (absent ones are left out).
DISTRIBUTIONS = ("hpc_sweep", "rsl-rl-lib", "torch", "isaaclab", "isaaclab_rl", "isaaclab_tasks", "isaacsim")
#: Seconds the job's Python may take to answer, pip freeze included (isaaclab.sh activates its environment first).
PROBE_TIMEOUT_S = 180.0
#: Seconds ``pip freeze`` may take inside the probe.
FREEZE_TIMEOUT_S = 120.0
_MARKER = "=== hpc_sweep provenance ==="
#: Run by the job's Python with ``-c``: versions and pip freeze as one JSON line after the marker.
PROBE = f"""
import importlib.metadata as m, json, platform, subprocess, sys
def version(name):
    try:
        return m.version(name)
    except Exception:
        return None
found = [(n, version(n)) for n in {list(DISTRIBUTIONS)!r}]
out = {{"executable": sys.executable, "python": platform.python_version(),
       "packages": {{n: v for n, v in found if v is not None}}, "freeze": None, "freeze_note": None}}
try:
    done = subprocess.run([sys.executable, "-m", "pip", "freeze"], capture_output=True, text=True,
                          timeout={FREEZE_TIMEOUT_S}, stdin=subprocess.DEVNULL)
    if done.returncode == 0:
        out["freeze"] = done.stdout
    else:
        out["freeze_note"] = "pip freeze failed: " + (done.stderr.strip().splitlines() or ["no message"])[-1][:200]
except Exception as error:
    out["freeze_note"] = "pip freeze failed: " + repr(error)[:200]
if out["freeze"] is None:
    found = sorted({{(d.metadata["Name"] or "?") + "==" + d.version for d in m.distributions()}}, key=str.lower)
    out["freeze"] = "".join(line + "\\n" for line in found)
    out["freeze_note"] += " (the list is importlib.metadata's installed distributions instead)"
print({_MARKER!r})
print(json.dumps(out))
"""


def distribution_versions(names: Sequence[str] = DISTRIBUTIONS) -> dict[str, str]:
    """Versions of the named distributions installed for this Python (absent ones left out)."""
    found: dict[str, str] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def submitting_python() -> dict[str, Any]:
    """The Python running ``submit``: its interpreter, version and the versions of :data:`DISTRIBUTIONS`."""
    return {"executable": sys.executable, "python": platform.python_version(), "packages": distribution_versions()}


def launcher_python(launcher: Sequence[str]) -> list[str] | None:
    """The argv prefix that starts the job's Python from a profile's expanded launcher (``python -m`` -> ``python``,
    ``./isaaclab.sh -p`` as it is), or None for a container launcher, whose Python is inside the image."""
    words = list(launcher)
    if not words or is_container_launcher(words):
        return None
    return words[:-1] if words[-1] == "-m" else words


def is_container_launcher(launcher: Sequence[str]) -> bool:
    """Whether a launcher runs its training inside a container image (our Apptainer helper, apptainer, singularity,
    docker or podman)."""
    runtimes = {"apptainer", "singularity", "docker", "podman"}
    return "hpc_sweep.launch.apptainer" in launcher or any(word.rsplit("/", 1)[-1] in runtimes for word in launcher)


def probe_python(prefix: Sequence[str], cwd: str, timeout: float = PROBE_TIMEOUT_S) -> dict[str, Any]:
    """Run the job's Python (``prefix``) once in ``cwd``; its interpreter, version, package versions, ``freeze`` (the
    text of pip freeze) and ``note`` (why something is missing). Never raises."""
    argv = [*prefix, "-c", PROBE]
    shown = [*prefix, "-c", "<probe>"]
    try:
        done = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, errors="replace", timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return {"argv": shown, "note": f"the job's Python did not answer within {timeout:g} s"}
    except OSError as error:
        return {"argv": shown, "note": f"the job's Python could not be started: {error}"}
    lines = done.stdout.splitlines()
    if _MARKER not in lines or lines.index(_MARKER) + 1 >= len(lines):
        said = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or ["no output"])[-1][:200]
        return {"argv": shown, "note": f"the job's Python gave no answer (exit status {done.returncode}: {said})"}
    try:
        answer = json.loads(lines[lines.index(_MARKER) + 1])
    except ValueError as error:
        return {"argv": shown, "note": f"the job's Python gave an unreadable answer ({error})"}
    note = answer.pop("freeze_note", None)
    return {"argv": shown, **answer, "note": note}
