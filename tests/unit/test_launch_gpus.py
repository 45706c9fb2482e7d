"""GPU slots of the local executor: least-loaded first, several GPUs per run, CUDA_VISIBLE_DEVICES respected."""

from __future__ import annotations

import pytest

from hpc_sweep.launch.gpus import default_max_parallel, detect_gpus, pick_gpus


def test_runs_go_to_the_least_loaded_gpu() -> None:
    gpus = ["0", "1", "2"]
    assert pick_gpus(gpus, []) == "0"
    assert pick_gpus(gpus, ["0"]) == "1"
    assert pick_gpus(gpus, ["0", "1"]) == "2"
    assert pick_gpus(gpus, ["0", "1", "2", "1"]) == "0"


def test_multi_gpu_runs_take_several_free_gpus() -> None:
    assert pick_gpus(["0", "1", "2", "3"], ["0,1"], 2) == "2,3"
    assert pick_gpus([], [], 2) is None


def test_cuda_visible_devices_is_respected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    assert detect_gpus() == ["2", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert detect_gpus() == []
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-1b2c,GPU-9f")
    assert detect_gpus() == ["GPU-1b2c", "GPU-9f"]


def test_default_parallelism() -> None:
    assert default_max_parallel(["0", "1"]) == 2
    assert default_max_parallel(["0", "1", "2", "3"], gpus_per_run=2) == 2
    assert default_max_parallel([]) >= 1
    assert default_max_parallel(["0", "1"], runs_per_gpu=4) == 8
