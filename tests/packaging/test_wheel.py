"""A wheel installed outside the repository has its profiles and runs a real sweep (tests/packaging/check_wheel.sh)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("check_wheel.sh")

pytestmark = pytest.mark.integration


def test_a_wheel_in_a_fresh_venv_ships_the_profiles_and_runs_a_demo_sweep() -> None:
    result = subprocess.run(
        ["bash", str(SCRIPT)],
        env={**os.environ, "GIT_PYTHON_REFRESH": "quiet"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "every sweep file is readable by group and others" in result.stdout, output[-6000:]
