"""Real PPO training of ``Demo-PointMass-v0`` through the Isaac-Lab-like CLI, as separate processes.

These runs are what every sweep test relies on: the exact Isaac Lab log layout and console lines, TensorBoard event
files written by rsl-rl itself, a reward that really goes up, bit-for-bit reproducibility per seed, a ``--world``
variant that ends at a different level, Isaac Lab's classic resume, and Hydra-style overrides.

All training runs start once per module (two at a time, matching the 2-core CI machines) and the tests inspect them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

pytest.importorskip("torch")
pytest.importorskip("rsl_rl")

pytestmark = pytest.mark.integration

TRAIN_SCRIPT = Path(__file__).resolve().parents[2] / "hpc_sweep" / "demo" / "train.py"
TASK = "Demo-PointMass-v0"
ITERATIONS = 30
NUM_ENVS = 128
RESUME_FROM = 20


@dataclass
class Run:
    """A finished training process and what it wrote."""

    stdout: str
    stderr: str
    log_root: Path
    log_dir: Path

    def scalars(self, tag: str = "Train/mean_reward") -> list[tuple[int, float]]:
        events = EventAccumulator(str(self.log_dir))
        events.Reload()
        return [(event.step, event.value) for event in events.Scalars(tag)]


def _start(cwd: Path, *args: str, as_script: bool = False) -> subprocess.Popen:
    cwd.mkdir(parents=True, exist_ok=True)
    entry = [str(TRAIN_SCRIPT)] if as_script else ["-m", "hpc_sweep.demo.train"]
    env = {**os.environ, "GIT_PYTHON_REFRESH": "quiet", "HPC_SWEEP_TORCH_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, *entry, "--task", TASK, "--headless", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen, run_name: str) -> Run:
    """Wait, require exit 0, and locate the run directory from the console lines exactly as a sweep tool would."""
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{stdout[-3000:]}\n{stderr[-3000:]}"
    root = re.search(r"^\[INFO\] Logging experiment in directory: (.+)$", stdout, re.M)
    stamp = re.search(r"^Exact experiment name requested from command line: (.+)$", stdout, re.M)
    assert root and stamp, stdout[:2000]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}", stamp.group(1))
    log_root = Path(root.group(1))
    return Run(stdout, stderr, log_root, log_root / f"{stamp.group(1)}_{run_name}")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Train everything the tests need, two processes at a time."""
    base = tmp_path_factory.mktemp("demo_train")
    common = ("--max_iterations", str(ITERATIONS), "--num_envs", str(NUM_ENVS))
    out: dict[str, Run] = {}

    # "a" also checks an agent override (save_interval) and gives the checkpoints to resume from.
    procs = {
        "a": _start(base / "main", *common, "--seed", "1", "--run_name", "a", "agent.save_interval=10"),
        "b": _start(base / "main", *common, "--seed", "1", "--run_name", "b", "agent.save_interval=10"),
    }
    out.update({name: _finish(proc, name) for name, proc in procs.items()})
    procs = {
        "c": _start(base / "other", *common, "--seed", "2", "--run_name", "c", as_script=True),
        "world": _start(base / "other", *common, "--seed", "1", "--run_name", "world", "--world"),
    }
    out.update({name: _finish(proc, name) for name, proc in procs.items()})

    run_a = out["a"].log_dir.name
    direct = out["a"].log_dir / f"model_{RESUME_FROM}.pt"
    procs = {
        "resumed": _start(
            base / "main",
            *("--max_iterations", "5", "--num_envs", str(NUM_ENVS), "--seed", "1", "--run_name", "resumed"),
            *("--resume", "--load_run", run_a, "--checkpoint", f"model_{RESUME_FROM}.pt"),
        ),
        "direct": _start(
            base / "elsewhere",
            *("--max_iterations", "2", "--num_envs", "32", "--run_name", "direct"),
            *("--resume", "--checkpoint", str(direct)),
        ),
    }
    out.update({name: _finish(proc, name) for name, proc in procs.items()})
    return out


def test_isaac_lab_layout_and_console_lines(runs: dict[str, Run]) -> None:
    run = runs["a"]
    assert run.log_root == Path(run.log_root).resolve()
    assert run.log_root.parts[-3:] == ("logs", "rsl_rl", "point_mass")
    assert run.log_dir.is_dir()
    assert list(run.log_dir.glob("events.out.tfevents.*"))
    models = sorted(int(p.stem.split("_")[1]) for p in run.log_dir.glob("model_*.pt"))
    assert models == [0, 10, 20, ITERATIONS - 1]
    agent_yaml = (run.log_dir / "params" / "agent.yaml").read_text()
    assert re.search(r"^seed: 1$", agent_yaml, re.M)
    assert re.search(r"^save_interval: 10$", agent_yaml, re.M)  # the agent.* override reached the runner
    assert re.search(r"^seed: 1$", (run.log_dir / "params" / "env.yaml").read_text(), re.M)
    assert "Learning iteration 0/30" in run.stdout and f"Learning iteration {ITERATIONS - 1}/30" in run.stdout
    assert not re.search(r"^save_interval: 10$", (runs["c"].log_dir / "params" / "agent.yaml").read_text(), re.M)


def test_reward_clearly_improves(runs: dict[str, Run]) -> None:
    values = [v for _, v in runs["a"].scalars()]
    assert len(values) == ITERATIONS
    first, last = sum(values[:3]) / 3, sum(values[-3:]) / 3
    assert last > first + 5.0, values


def test_same_seed_identical_and_different_seed_differs(runs: dict[str, Run]) -> None:
    a, b, c = (runs[k].scalars() for k in ("a", "b", "c"))
    assert a == b
    assert a != c
    assert [s for s, _ in a] == [s for s, _ in c] == list(range(ITERATIONS))


def test_world_variant_reaches_a_different_level(runs: dict[str, Run]) -> None:
    base = [v for _, v in runs["a"].scalars()][-5:]
    world = [v for _, v in runs["world"].scalars()][-5:]
    assert sum(base) / 5 - sum(world) / 5 > 3.0, (base, world)
    tags = set(EventAccumulator(str(runs["world"].log_dir)).Reload().Tags()["scalars"])
    assert {"Episode_Reward/position_tracking", "Episode_Reward/velocity_tracking"} <= tags


def test_resume_writes_a_new_run_that_continues_the_step_count(runs: dict[str, Run]) -> None:
    resumed = runs["resumed"]
    assert resumed.log_dir != runs["a"].log_dir and resumed.log_dir.parent == runs["a"].log_dir.parent
    assert f"Loading model checkpoint from: {runs['a'].log_dir / f'model_{RESUME_FROM}.pt'}" in resumed.stdout
    steps = [s for s, _ in resumed.scalars()]
    # rsl-rl restarts at the saved iteration number, so the new run covers RESUME_FROM .. RESUME_FROM + 4.
    assert steps == list(range(RESUME_FROM, RESUME_FROM + 5))
    # The trained weights were loaded: the action std picks up where run "a" was, far below a fresh policy's 1.0.
    std_a = dict(runs["a"].scalars("Policy/mean_std"))
    std_resumed = dict(resumed.scalars("Policy/mean_std"))
    assert abs(std_resumed[RESUME_FROM] - std_a[RESUME_FROM]) < 0.05
    assert std_a[0] - std_resumed[RESUME_FROM] > 0.15
    assert (resumed.log_dir / f"model_{RESUME_FROM + 4}.pt").is_file()


def test_checkpoint_given_as_a_path(runs: dict[str, Run]) -> None:
    direct = runs["direct"]
    assert "Loading model checkpoint from:" in direct.stdout
    assert [s for s, _ in direct.scalars("Loss/learning_rate")] == [RESUME_FROM, RESUME_FROM + 1]
