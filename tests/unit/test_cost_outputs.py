"""Where a run's cost shows: its ``training_results.json`` record, ``summary.csv`` and ``groups.csv`` columns, the
sweep total, ``compare``'s cost column; and the job wrapper's GPU sampler against a stub ``nvidia-smi``."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from hpc_sweep.analyse.compare import Group, compare
from hpc_sweep.collect.discover import RunSource
from hpc_sweep.collect.results import Collection, RunData
from hpc_sweep.gpu_sampler import SAMPLE_ENV, GpuSampler, parse_sample, sample_interval
from hpc_sweep.report.comparison import print_comparison
from tests.conftest import write_collection


def make_run(run_id: str, group: str, start: float, usage: dict | None) -> RunData:
    """Mean reward ``start + step`` over 10 iterations (final score ``start + 9``), with its cost in ``usage``."""
    info = {"usage": usage} if usage is not None else {}
    source = RunSource(run_id=run_id, seed=int(run_id[-1]), group=group, status="completed", info=info)
    steps = np.arange(10, dtype=np.int64)
    scalars = {"Train/mean_reward": (steps, start + steps.astype(np.float64), np.zeros(10))}
    return RunData(source=source, scalars=scalars, data_source="tensorboard")


def usage(gpu_hours: float | None, util: float | None = None) -> dict:
    return {"gpu_hours": gpu_hours, "cpu_efficiency": 0.5, "max_rss_mb": 2048.0, "gpu_util_mean": util}


def test_records_tables_and_the_sweep_total_carry_the_cost(tmp_path: Path) -> None:
    runs = [
        make_run("a1", "a", 0.0, usage(1.0, 30.0)),
        make_run("a2", "a", 1.0, usage(0.5, 50.0)),
        make_run("b1", "b", 2.0, None),  # a foreign run: nothing measured
    ]
    write_collection(Collection(tmp_path, runs, []), tmp_path)
    document = json.loads((tmp_path / "training_results.json").read_text())
    first = document["experiments"][0]
    assert (first["gpu_hours"], first["cpu_efficiency"], first["max_rss_mb"], first["gpu_util_mean"]) == (
        1.0,
        0.5,
        2048.0,
        30.0,
    )
    assert document["experiments"][2]["gpu_hours"] is None and "gpu_mem_max_mb" in first
    assert document["cost"]["gpu_hours"] == 1.5 and document["cost"]["runs_with_gpu_hours"] == 2
    assert document["cost"]["gpu_util_mean"] == 40.0 and document["cost"]["runs"] == 3
    assert [g["gpu_hours"] for g in document["groups"]] == [1.5, None]
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary["gpu_hours"].fillna(-1)) == [1.0, 0.5, -1]
    assert {"cpu_efficiency", "max_rss_mb", "gpu_util_mean", "gpu_mem_max_mb"} <= set(summary.columns)
    assert list(summary.columns)[-1] == "error"
    groups = pd.read_csv(tmp_path / "groups.csv")
    assert groups.loc[0, "gpu_hours"] == 1.5


def test_compare_puts_gpu_hours_and_score_per_gpu_hour_beside_the_score() -> None:
    cheap = [make_run("a1", "a", 0.0, usage(0.5)), make_run("a2", "a", 2.0, usage(0.5))]  # scores 9, 11
    dear = [make_run("b1", "b", 0.0, usage(2.0)), make_run("b2", "b", 2.0, usage(None))]
    groups = [
        Group(name, runs, np.array([r.metric("mean_reward")[1][-1] for r in runs]))
        for name, runs in (("a", cheap), ("b", dear))
    ]
    document = compare(groups, "mean_reward", 0.1)
    a, b = document["groups"]
    assert (a["gpu_hours"], a["gpu_hours_per_run"], a["score_per_gpu_hour"]) == (1.0, 0.5, 20.0)
    assert (b["gpu_hours"], b["gpu_hours_per_run"], b["score_per_gpu_hour"]) == (2.0, 2.0, 5.0)
    console = Console(record=True, width=220)
    print_comparison(document, console)
    text = console.export_text()
    assert "GPU-h" in text and "mean per GPU-h" in text and "20.000" in text


# --- the job wrapper's sampler -----------------------------------------------------------------------------------


def stub_nvidia_smi(folder: Path, line: str = "25, 1000") -> Path:
    """An ``nvidia-smi`` that logs its arguments and prints ``line`` once per GPU asked for (``-i 0,1``)."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "nvidia-smi"
    script.write_text(
        f'#!/bin/sh\necho "$@" >> "{folder}/calls"\nfor gpu in $(echo "$4" | tr , " "); do echo "' + line + '"; done\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


def test_the_sampler_summarises_nvidia_smi_samples_of_the_jobs_gpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub = stub_nvidia_smi(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{stub}{os.pathsep}{os.environ['PATH']}")
    sampler = GpuSampler("0,1", interval_s=0.05).start()
    deadline = 200
    while len(sampler.samples) < 3 and deadline:
        time.sleep(0.02)
        deadline -= 1
    summary = sampler.stop()
    assert summary is not None and summary["samples"] >= 3
    assert (summary["util_mean"], summary["util_max"], summary["mem_max_mb"]) == (25.0, 25.0, 2000.0)
    calls = (stub / "calls").read_text().splitlines()
    assert calls[0] == "--query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits -i 0,1"


def test_no_nvidia_smi_or_no_gpu_means_no_samples_and_no_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi here
    assert GpuSampler("0", interval_s=0.01).start().stop() is None
    stub = stub_nvidia_smi(tmp_path / "bin")
    monkeypatch.setenv("PATH", str(stub))
    assert GpuSampler("", interval_s=0.01).start().stop() is None  # CUDA_VISIBLE_DEVICES empty: no GPU
    assert GpuSampler(None, interval_s=0.01).start().stop() is None
    assert not (stub / "calls").exists()


def test_sample_text_and_interval_are_read_defensively(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_sample("10, 100\n30, 300\n") == (20.0, 400.0)
    assert parse_sample("[N/A], [N/A]\n") is None and parse_sample("") is None
    monkeypatch.setenv(SAMPLE_ENV, "0.5")
    assert sample_interval() == 0.5
    monkeypatch.setenv(SAMPLE_ENV, "soon")
    assert sample_interval() == 30.0
