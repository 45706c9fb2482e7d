"""A local sweep with ``--notify``: the step that follows the runs (collect, compare by the grid key, the webhook's
summary) runs here at the end, and the webhook URL is in no file of the sweep but its 0600 ``.notify``."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.unit.test_notify import Hook

pytestmark = pytest.mark.integration
SECRET = "T0SECRET/B0/xyzzy-not-for-files"


def files_holding(root: Path, text: str) -> list[str]:
    """Every file under ``root`` (pickles, logs, JSON, links' targets left out) whose bytes contain ``text``."""
    needle = text.encode()
    return sorted(
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes()
    )


def test_local_sweep_collects_compares_and_posts_a_summary_keeping_the_url_secret(tmp_path: Path) -> None:
    hook = Hook()
    sweep = tmp_path / "local"
    try:
        result = run_cli(
            "submit", "--task", "Demo-PointMass-v0", "--seeds", "1", "--grid", "num_envs=16,32", "--max_iterations",
            "5", "--executor", "local", "--output_dir", str(sweep), "--notify", f"{hook.url}/hooks/{SECRET}",
        )  # fmt: skip
    finally:
        hook.close()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert [path.split("/hooks/")[1] for path in hook.paths] == [SECRET]
    text = hook.bodies[0]["text"]
    assert "2 of 2 runs completed" in text and "best group `num_envs=" in text
    assert str(sweep / "training_analysis.png") in text and str(sweep / "comparison.png") in text
    assert (sweep / "comparison.json").is_file() and (sweep / "training_results.json").is_file()
    assert files_holding(sweep, SECRET) == [".notify"]
    assert stat.S_IMODE((sweep / ".notify").stat().st_mode) == 0o600
    assert SECRET not in result.stdout + result.stderr


def test_then_none_leaves_a_local_sweep_uncollected(tmp_path: Path) -> None:
    sweep = tmp_path / "none"
    result = run_cli(
        "submit", "--task", "Demo-PointMass-v0", "--seeds", "1", "--max_iterations", "3", "--num_envs", "16",
        "--executor", "local", "--output_dir", str(sweep), "--then", "none",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert not (sweep / "training_results.json").exists() and "not collected (--then none)" in result.stdout
