"""Fixtures the TensorBoard reader's tests share: one real SummaryWriter run per module, and a private copy of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.unit.tfevents_support import shared_torch_run


@pytest.fixture(scope="module")
def torch_run_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_torch_run(tmp_path_factory)


@pytest.fixture
def torch_run(torch_run_master: Path, tmp_path: Path) -> Path:
    """A private copy, for tests that damage the file."""
    return Path(shutil.copytree(torch_run_master, tmp_path / "run"))
