"""`hpc-sweep compare` on real demo sweeps: a real difference (--world) against two halves of one configuration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.integration


def sweep(root: Path, name: str, seeds: list[int], *extra: str) -> Path:
    out = root / name
    result = run_cli(
        "submit", "--task", "Demo-PointMass-v0", "--seeds", *map(str, seeds), "--max_iterations", "30",
        "--num_envs", "128", "--executor", "local", "--max_parallel", "2", "--output_dir", str(out), *extra,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("compare")
    return {
        "base_a": sweep(root, "base_a", [1, 2, 3]),
        "base_b": sweep(root, "base_b", [4, 5, 6]),
        "world": sweep(root, "world", [1, 2, 3], "--world"),
    }


def test_world_frame_differs_from_base_and_two_halves_of_base_do_not(sweeps: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    result = run_cli("compare", str(sweeps["base_a"]), str(sweeps["base_b"]), str(sweeps["world"]), "--output_dir",
                     str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads((out / "comparison.json").read_text())
    assert document["schema"] == "hpc_sweep.comparison/1"
    pairs = {(p["a"], p["b"]): p for p in document["pairs"]}
    assert pairs[("base_a", "world")]["significant"] and pairs[("base_b", "world")]["significant"]
    assert pairs[("base_a", "world")]["prob_improvement"] == 1.0
    assert not pairs[("base_a", "base_b")]["significant"]
    assert all(p["p_adjusted"] >= p["welch_p"] for p in document["pairs"])  # Holm across 3 pairs
    assert "few runs" in pairs[("base_a", "base_b")]["verdict"]
    assert (out / "comparison.csv").read_text().count("\n") == 4
    assert (out / "comparison.png").stat().st_size > 20_000
    assert "base_a vs world" in result.stdout


def test_compare_needs_two_groups(sweeps: dict[str, Path]) -> None:
    result = run_cli("compare", str(sweeps["base_a"]))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    result = run_cli("compare", str(sweeps["base_a"]), "--by", "num_envs")
    assert result.returncode == 2 and "not a grid key" in result.stderr
