"""Multi-node runs (``--nodes``): the per-node command, bad combinations, and which node a failure is blamed on."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hpc_sweep.command import build_command, is_multi_node, place_on_node
from hpc_sweep.layout import SweepLayout
from hpc_sweep.node_group import Placement, first_failure, follower_reports, write_report
from hpc_sweep.profiles import load_profile
from hpc_sweep.spec import SweepSpec, expand_runs
from tests.conftest import run_cli


def _command(nodes: int, gpus: int = 1, profile: str = "demo") -> list[str]:
    (run,) = expand_runs(
        SweepSpec(seeds=(1,), common_folder="study", max_iterations=10, num_envs=64, nodes=nodes, gpus_per_run=gpus)
    )
    return list(build_command(run, load_profile(profile), Path("/sweep"), "/usr/bin/python3").argv)


def test_a_multi_node_command_is_torch_distributed_run_with_a_static_rendezvous_filled_on_each_node() -> None:
    argv = _command(nodes=2, gpus=4)
    assert is_multi_node(argv) and not is_multi_node(_command(nodes=1, gpus=4))
    runner = argv.index("torch.distributed.run")
    assert argv[runner - 1] == "-m" and "--nnodes=2" in argv and "--nproc_per_node=4" in argv
    assert argv.index("--nnodes=2") > runner and "--distributed" in argv
    on_second = place_on_node(argv, 1, "gpu-node-07", 21234)
    assert "--node_rank=1" in on_second and "--master_addr=gpu-node-07" in on_second
    assert "--master_port=21234" in on_second
    assert not is_multi_node(on_second)  # every placeholder filled
    one_node = _command(nodes=1, gpus=2)
    assert "--nnodes=1" in one_node and not any("{" in token for token in one_node)


def _place(node: int, nodes: int = 3) -> Placement:
    return Placement(node=node, nodes=nodes, master="mn1", port=20010, job_id="77", restart=0)


def test_the_node_that_failed_first_is_named_and_stale_reports_are_ignored(tmp_path: Path) -> None:
    layout = SweepLayout(tmp_path)
    layout.run_dir("0000").mkdir(parents=True)
    write_report(layout, "0000", _place(2), 1, "RuntimeError: injected failure on rank 2")
    time.sleep(0.05)
    write_report(layout, "0000", _place(1), 1, "RuntimeError: Connection closed by peer")
    reports = follower_reports(layout, "0000", _place(0), wait_s=0)
    assert {r["node"] for r in reports} == {1, 2}
    reason = first_failure(reports, leader_ended=time.time())
    assert reason is not None and reason.startswith("node 2 (") and "injected failure on rank 2" in reason
    assert first_failure(reports, leader_ended=0.0) is None  # the leader failed before them: its own reason stands
    assert first_failure([{**r, "exit_code": 0, "failure": None} for r in reports], time.time()) is None
    requeued = Placement(node=0, nodes=3, master="mn1", port=20011, job_id="77", restart=1)
    assert follower_reports(layout, "0000", requeued, wait_s=0) == []  # an earlier attempt's reports do not count


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--nodes", "0"], "--nodes"),
        (["--nodes", "2", "--runs_per_gpu", "2", "--executor", "slurm"], "--runs_per_gpu"),
        (["--nodes", "2", "--executor", "local"], "--executor slurm"),
    ],
)
def test_bad_node_counts_are_refused_on_one_line(tmp_path: Path, flags: list[str], message: str) -> None:
    result = run_cli("submit", "--seeds", "1", "--output_dir", str(tmp_path / "s"), "--dry_run", *flags)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()
