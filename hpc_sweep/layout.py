"""Where things live inside a sweep directory: one definition shared by every step of the flow."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MANIFEST_NAME = "sweep.json"


@dataclass(frozen=True)
class SweepLayout:
    """Paths of a sweep directory.

    ``sweep.json`` is the plan, written once before anything starts (and refreshed by readers); each run writes only
    its own ``runs/<run_id>/record.json`` and ``train.log``, so concurrent jobs on a shared filesystem never write the
    same file.

    A sweep dir can be copied or moved (``cp -a``, ``mv``, ``rsync -a``): records keep the paths inside it relative
    to it (:meth:`store_path`) and every reader resolves them against the sweep dir it reads (:meth:`load_path`).
    Paths outside it (Isaac Lab's ``$ISAACLAB_PATH/logs``) are kept absolute.
    """

    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST_NAME

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def submitit_dir(self) -> Path:
        return self.root / "submitit"

    @property
    def partial_results(self) -> Path:
        return self.root / "partial_results.json"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def record(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "record.json"

    def train_log(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "train.log"

    def store_path(self, path: str | Path) -> str:
        """How a path is recorded: relative to the sweep dir (POSIX form) when it lies inside it, else absolute.

        Both sides are compared with symlinks resolved, so a sweep dir reached through a link still records
        relative paths.
        """
        real = Path(os.path.realpath(path))
        try:
            return real.relative_to(os.path.realpath(self.root)).as_posix()
        except ValueError:
            return str(real)

    def load_path(self, recorded: str | Path) -> Path:
        """The absolute path a recorded one means here: a relative one lies in this sweep dir, wherever it is now."""
        path = Path(recorded)
        return path if path.is_absolute() else Path(os.path.abspath(self.root)) / path
