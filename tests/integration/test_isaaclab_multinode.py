"""The multi-node command our ``isaaclab`` profile produces (``--nodes 2``), run as two nodes would run it, against
the Isaac Lab stand-in (``isaaclab.sh -p -m torch.distributed.run ... train.py --distributed``; RSL-RL's runner logs
and saves on global rank 0 only): two processes on this machine, each with its own ``--node_rank`` and the same
master, form one group of world size 2; rank 0 alone logs and checkpoints, and the resume command of such a run
selects exactly its own directory and checkpoint on every node."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hpc_sweep.command import build_command, is_multi_node
from hpc_sweep.node_group import Placement
from hpc_sweep.profiles import load_profile
from hpc_sweep.spec import SweepSpec, expand_runs
from tests.integration.test_isaaclab_contract import EXPERIMENT, TASK, _copy_standins

pytestmark = pytest.mark.integration


def _run_as_two_nodes(argv: list[str], workdir: str, env: dict[str, str], logs: Path, port: int) -> list[int]:
    processes = []
    for node in (0, 1):
        placed = Placement(node, 2, "127.0.0.1", port, "1", 0).argv(argv)
        log = (logs / f"node{node}.log").open("w")
        processes.append(subprocess.Popen(placed, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT))
    return [process.wait(timeout=180) for process in processes]


def test_two_nodes_run_one_isaaclab_training_and_only_rank_0_logs_and_saves(tmp_path: Path) -> None:
    standins = _copy_standins(tmp_path / "standins")
    os.environ["ISAACLAB_PATH"] = str(standins / "isaaclab")
    spec = SweepSpec(task=TASK, seeds=(1,), common_folder="grp", max_iterations=6, num_envs=8, nodes=2)
    (run,) = expand_runs(spec)
    command = build_command(run, load_profile("isaaclab"), tmp_path / "sweep", sys.executable)
    assert is_multi_node(command.argv) and command.argv[:4] == ("./isaaclab.sh", "-p", "-m", "torch.distributed.run")
    env = {**os.environ, "STANDIN_PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": ""}
    codes = _run_as_two_nodes(list(command.argv), command.workdir, env, tmp_path, port=29000 + os.getpid() % 900)
    node0, node1 = ((tmp_path / f"node{n}.log").read_text() for n in (0, 1))
    assert codes == [0, 0], node0[-2000:] + node1[-2000:]
    assert "Learning iteration 5/6" in node0 and "Learning iteration" not in node1  # rank 0 alone prints
    runs = [d for d in (standins / "isaaclab" / "logs" / "rsl_rl" / EXPERIMENT).iterdir() if d.is_dir()]
    saved = [d for d in runs if list(d.glob("model_*.pt"))]
    assert len(saved) == 1 and (saved[0] / "model_5.pt").is_file()  # one run dir with checkpoints: rank 0's
    assert list(saved[0].glob("events.out.tfevents.*"))

    resumed = list(command.resume_argv((saved[0] / "model_0.pt", 0)))
    codes = _run_as_two_nodes(resumed, command.workdir, env, tmp_path, port=29000 + os.getpid() % 900 + 1)
    node0, node1 = ((tmp_path / f"node{n}.log").read_text() for n in (0, 1))
    assert codes == [0, 0], node0[-2000:] + node1[-2000:]
    for log in (node0, node1):  # every rank loads the same checkpoint, chosen by anchored patterns
        assert f"Loading model checkpoint from: {saved[0] / 'model_0.pt'}" in log
    assert "Learning iteration 5/6" in node0 and "Learning iteration" not in node1
