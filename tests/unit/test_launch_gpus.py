"""GPU slots of the local executor: least-loaded first, several GPUs per run, CUDA_VISIBLE_DEVICES respected; without
GPUs, one run per two of the CPUs we were granted (Slurm allocation, affinity mask), not the whole node's."""

from __future__ import annotations

import os

import pytest

from hpc_sweep.launch.gpus import available_cpus, default_max_parallel, detect_gpus, pick_gpus

SLURM_VARIABLES = ("SLURM_CPUS_ON_NODE", "SLURM_CPUS_PER_TASK")


@pytest.fixture
def node(monkeypatch: pytest.MonkeyPatch):
    """A fake 64-CPU node, outside Slurm, whose affinity mask a test may narrow (or remove, as on macOS)."""
    for name in SLURM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)

    def set_affinity(count: int | None) -> None:
        if count is None:
            monkeypatch.delattr(os, "sched_getaffinity", raising=False)
        else:
            monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(count)), raising=False)

    set_affinity(64)
    return set_affinity


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


def test_inside_a_slurm_allocation_the_granted_cpus_count_not_the_node(node, monkeypatch: pytest.MonkeyPatch) -> None:
    """salloc -c 8 on a 64-core node without CPU binding: the mask shows 64 CPUs, Slurm says 8."""
    monkeypatch.setenv("SLURM_CPUS_ON_NODE", "8")
    assert available_cpus() == 8
    assert default_max_parallel([]) == 4


def test_cpus_per_task_counts_when_the_node_total_is_not_given(node, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "6")
    assert available_cpus() == 6
    monkeypatch.setenv("SLURM_CPUS_ON_NODE", "12")
    assert available_cpus() == 12


def test_an_affinity_mask_narrower_than_slurms_count_wins(node, monkeypatch: pytest.MonkeyPatch) -> None:
    """A step bound to 2 CPUs (srun --cpu-bind, taskset) cannot use the job's 16."""
    monkeypatch.setenv("SLURM_CPUS_ON_NODE", "16")
    node(2)
    assert available_cpus() == 2
    assert default_max_parallel([]) == 1


def test_outside_slurm_the_affinity_mask_counts(node) -> None:
    """A cgroup cpuset or taskset grants 10 of the node's 64 CPUs."""
    node(10)
    assert available_cpus() == 10
    assert default_max_parallel([]) == 5


def test_without_slurm_or_an_affinity_mask_the_cpu_count_is_used(node) -> None:
    node(None)
    assert available_cpus() == 64
    assert default_max_parallel([]) == 32


def test_unusable_slurm_values_are_ignored(node, monkeypatch: pytest.MonkeyPatch) -> None:
    node(12)
    for value in ("", "0", "-4", "8(x2)", "many"):
        monkeypatch.setenv("SLURM_CPUS_ON_NODE", value)
        assert available_cpus() == 12, value


def test_one_granted_cpu_still_runs_one_at_a_time(node, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_CPUS_ON_NODE", "1")
    assert default_max_parallel([]) == 1
    assert default_max_parallel(["0", "1"]) == 2  # GPUs decide when there are any
