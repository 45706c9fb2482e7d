"""A sweep's cost from end to end, without a cluster: the job wrapper samples a stub ``nvidia-smi`` into the run's
record, ``status`` totals GPU-hours from one (stub) ``sacct`` call and suggests ``--runs_per_gpu``, and ``collect``
writes the columns, also where sacct no longer answers (the accounting kept in ``sweep.json``).

The real accounting, on the local Slurm test cluster, is tests/slurm/test_accounting.py."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from hpc_sweep.layout import SweepLayout
from hpc_sweep.manifest import new_manifest, write_new_manifest
from tests.conftest import run_cli
from tests.unit.test_cost_outputs import stub_nvidia_smi

pytestmark = pytest.mark.integration
FIXTURE = Path(__file__).parents[1] / "fixtures" / "sacct" / "local_cluster.txt"


def test_the_job_wrapper_records_gpu_use_and_status_suggests_packing(fake_profile: Path, tmp_path: Path) -> None:
    stub = stub_nvidia_smi(tmp_path / "bin", line="20, 1500")
    sweep = tmp_path / "sweep"
    env = {
        "PATH": f"{stub}{os.pathsep}{os.environ['PATH']}",
        "HPC_SWEEP_GPU_SAMPLE_S": "0.05",
        "CUDA_VISIBLE_DEVICES": "0",
        "FAKE_SLEEP": "0.05",
    }
    result = run_cli(
        "submit", "--profile", str(fake_profile), "--executor", "local", "--seeds", "1", "--max_iterations", "6",
        "--output_dir", str(sweep), env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads((sweep / "runs" / "0000" / "record.json").read_text())
    usage = record["attempts"][0]["gpu_usage"]
    assert usage["samples"] >= 1 and (usage["util_mean"], usage["mem_max_mb"]) == (20.0, 1500.0)
    assert "-i 0" in (stub / "calls").read_text()
    status = run_cli("status", str(sweep))
    assert "mean GPU utilisation 20%" in status.stdout and "--runs_per_gpu 4" in status.stdout, status.stdout
    assert "GPU-hours" not in status.stdout  # a local sweep has no scheduler accounting
    summary = pd.read_csv(sweep / "summary.csv")
    assert summary.loc[0, "gpu_util_mean"] == 20.0 and summary["gpu_hours"].isna().all()


def stub_sacct(folder: Path, job: str) -> Path:
    """A ``sacct`` that logs its arguments and prints the fixture's lines of ``job`` (real output of the test
    cluster: array 108, two one-GPU tasks of 9 s each)."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "sacct"
    script.write_text(f'#!/bin/sh\necho "$@" >> "{folder}/calls"\ngrep "^{job}_" "{FIXTURE}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


def test_status_and_collect_split_a_packed_jobs_gpu_hours_from_one_sacct_call(tmp_path: Path) -> None:
    sweep = tmp_path / "packed"
    runs = [{"run_id": f"000{k}", "seed": k, "group": "g", "job_id": job} for k, job in enumerate(["108_0"] * 2)]
    runs.append({"run_id": "0002", "seed": 2, "group": "g", "job_id": "108_1"})
    options = {"slurm_parameters": {}, "slurm_python": "python", "max_requeues": 3, "runs_per_job": 2}
    manifest = new_manifest({"runs_per_gpu": 2}, {"name": "test"}, "slurm", runs, options)
    write_new_manifest(SweepLayout(sweep), {**manifest, "jobs": [{"array_id": "108"}]})
    stub = stub_sacct(tmp_path / "bin", "108")
    env = {"PATH": f"{stub}{os.pathsep}{os.environ['PATH']}"}

    status = run_cli("status", str(sweep), env=env)
    assert "cost: 0.005 GPU-hours so far (3/3 runs)" in status.stdout, status.stdout + status.stderr
    calls = (stub / "calls").read_text().splitlines()
    assert len(calls) == 1 and " -D " in f" {calls[0]} "  # states and accounting: one call

    collected = run_cli("collect", str(sweep), env={"PATH": str(tmp_path / "nothing")})  # sacct gone: kept
    assert (sweep / "summary.csv").is_file(), collected.stdout + collected.stderr
    hours = pd.read_csv(sweep / "summary.csv")["gpu_hours"] * 3600
    assert list(hours.round(6)) == [4.5, 4.5, 9.0]  # the packed task's 9 s split between its two runs
    document = json.loads((sweep / "training_results.json").read_text())
    assert document["cost"]["gpu_hours"] * 3600 == pytest.approx(18.0)
    assert pd.read_csv(sweep / "groups.csv").loc[0, "gpu_hours"] * 3600 == pytest.approx(18.0)
