"""Where things live inside a sweep directory: one definition shared by every step of the flow."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MANIFEST_NAME = "sweep.json"


@dataclass(frozen=True)
class SweepLayout:
    """Paths of a sweep directory.

    ``sweep.json`` is the plan, written once before anything starts (and refreshed by readers); each run writes only
    its own ``runs/<run_id>/record.json`` and ``train.log``, so concurrent jobs on a shared filesystem never write the
    same file.
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
