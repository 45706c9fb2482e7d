"""Slurm tests run against the real one-node cluster of tests/slurm/local_cluster.sh; skipped when it is not up."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CLUSTER_SCRIPT = Path(__file__).with_name("local_cluster.sh")


def cluster_up() -> bool:
    if shutil.which("sbatch") is None or not CLUSTER_SCRIPT.is_file():
        return False
    return subprocess.run(["bash", str(CLUSTER_SCRIPT), "status"], capture_output=True, timeout=60).returncode == 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test in this folder ``slurm`` and skip them all, with the reason, when no cluster answers."""
    here = Path(__file__).parent
    mine = [item for item in items if Path(str(item.fspath)).is_relative_to(here)]
    if not mine:
        return
    up = cluster_up()
    if not up and os.environ.get("HPC_SWEEP_REQUIRE_SLURM"):
        raise pytest.UsageError("HPC_SWEEP_REQUIRE_SLURM is set but the Slurm test cluster does not answer")
    for item in mine:
        item.add_marker(pytest.mark.slurm)
        if not up:
            item.add_marker(pytest.mark.skip(reason="no Slurm test cluster: run tests/slurm/local_cluster.sh start"))
