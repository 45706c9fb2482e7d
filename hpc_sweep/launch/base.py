"""The launcher interface: where a sweep's runs go, and the scheduler's view of them.

One small protocol, one class per backend (``slurm``: submitit job arrays; ``local``: a GPU-aware pool on this
machine; ``debug``: one run after another in the foreground), chosen by name from :data:`LAUNCHERS`. Every backend
runs :class:`hpc_sweep.job.TrainingJob` through submitit, so the code on a cluster node is the code the local tests
exercise. A launcher's settings travel in the manifest (``options``), so ``resubmit`` rebuilds the same launcher.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hpc_sweep.errors import HpcSweepError

if TYPE_CHECKING:
    from rich.console import Console

    from hpc_sweep.command import JobRequest
    from hpc_sweep.manifest import Sweep


@dataclass
class LocalProgress:
    """Where a sweep running on this machine stands after each poll (what a live display shows)."""

    total: int
    running: dict[str, str | None] = field(default_factory=dict)  # run_id -> the GPUs it was given
    finished: dict[str, str] = field(default_factory=dict)  # run_id -> final state


class RunObserver(Protocol):
    """Told about a sweep that runs on this machine (the live display is one)."""

    def update(self, progress: LocalProgress) -> None: ...

    def finished(self, run_id: str, record: dict[str, Any]) -> None: ...


#: Makes the observer of a sweep run here: ``(sweep, console) -> context manager yielding a RunObserver``.
ObserverFactory = Callable[["Sweep", "Console"], AbstractContextManager[RunObserver]]


class Launcher(Protocol):
    """Where runs go. ``launch`` returns True when every run that ran completed (Slurm: when all were queued)."""

    name: str
    #: True when runs execute on this machine and have ended when ``launch`` returns (local, debug).
    runs_here: bool

    @classmethod
    def from_settings(cls, settings: dict[str, Any], observe: ObserverFactory | None = None) -> Launcher:
        """Build the launcher from what :meth:`settings` recorded (``observe``: how a local run is shown)."""
        ...

    def settings(self) -> dict[str, Any]:
        """What the manifest records so that ``resubmit`` rebuilds this launcher (JSON-ready)."""
        ...

    def describe(self, sweep_dir: Path, requests: list[JobRequest], console: Console) -> None:
        """For ``--dry_run``: what this backend would submit, beyond each run's command."""
        ...

    def launch(self, sweep: Sweep, requests: list[JobRequest], console: Console) -> bool:
        """Run or queue the requests; record job ids in the manifest."""
        ...

    def refresh(self, sweep: Sweep) -> None:
        """Overlay the scheduler's view on runs that could not record their own end (in ``sweep.runs``)."""
        ...

    def wait(self, sweep_dir: Path, console: Console) -> bool:
        """Block until every run has ended; True when all completed."""
        ...

    def cancel(self, sweep: Sweep, console: Console) -> None:
        """Cancel this sweep's jobs (only those) and record every unfinished run as cancelled."""
        ...


#: The executors, by the name ``--executor`` takes -> the module and class of their launcher (imported on use, so
#: that naming them costs nothing; the local and debug backends import submitit).
LAUNCHERS: dict[str, str] = {
    "slurm": "hpc_sweep.launch.slurm:SlurmLauncher",
    "local": "hpc_sweep.launch.local:LocalLauncher",
    "debug": "hpc_sweep.launch.debug:DebugLauncher",
}


def make_launcher(name: str, settings: dict[str, Any], observe: ObserverFactory | None = None) -> Launcher:
    """The launcher called ``name``, built from the settings a manifest (or ``submit``) gives it."""
    module, _, cls = LAUNCHERS[name].partition(":")
    return getattr(importlib.import_module(module), cls).from_settings(settings, observe)


def launcher_for(sweep: Sweep, observe: ObserverFactory | None = None, **overrides: Any) -> Launcher:
    """The launcher a sweep was submitted with, rebuilt from its manifest (``overrides`` replace recorded settings).

    Raises: :class:`HpcSweepError` naming ``sweep.json`` when it names no known executor or lacks its settings.
    """
    settings = {**sweep.manifest.get("options", {}), **{k: v for k, v in overrides.items() if v is not None}}
    executor = sweep.manifest.get("executor", "local")
    if executor not in LAUNCHERS:
        raise HpcSweepError(
            f"{sweep.layout.manifest} is broken: its executor {executor!r} is none of {', '.join(LAUNCHERS)}; "
            "restore it from a backup or from a copy of the sweep dir"
        )
    try:
        return make_launcher(executor, settings, observe)
    except (KeyError, TypeError, ValueError) as error:
        raise HpcSweepError(
            f'{sweep.layout.manifest} is broken: its {executor} settings ("options") are incomplete ({error!r}); '
            "restore it from a backup or from a copy of the sweep dir"
        ) from None
