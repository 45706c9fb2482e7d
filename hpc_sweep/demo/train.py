"""Isaac-Lab-like RSL-RL training CLI for the built-in ``Demo-PointMass-v0`` task (real PPO on CPU).

This script mirrors Isaac Lab's ``scripts/reinforcement_learning/rsl_rl/train.py`` closely enough that everything
hpc_sweep does with a real Isaac Lab checkout -- building the command line, streaming console output, finding the
run directory from the ``[INFO] Logging experiment in directory`` / ``Exact experiment name requested from command
line`` lines, reading TensorBoard event files, checkpoints and ``params/*.yaml``, resuming -- can be exercised on any
machine without Isaac Sim.  Run it as ``python -m hpc_sweep.demo.train --task Demo-PointMass-v0 ...`` or directly as
``python path/to/hpc_sweep/demo/train.py ...``.

Layout written under the current working directory, exactly like Isaac Lab::

    logs/rsl_rl/<experiment_name>/<YYYY-MM-DD_HH-MM-SS>[_<run_name>]/
        events.out.tfevents.*     (rsl-rl's own TensorBoard writer)
        model_<it>.pt             (every ``save_interval`` iterations, plus the final iteration)
        params/agent.yaml, params/env.yaml
        git/<repo>.diff           (rsl-rl's code-state snapshot)

Trailing ``agent.a.b=value`` / ``env.a.b=value`` arguments are Hydra-style overrides of the agent / env config
dicts (``+agent.a.b=value`` adds a key that does not exist yet).

Two stdlib-only pieces live next to this file so they can be read, tested and reused on their own: ``overrides.py``
(Hydra overrides and the flag -> config-key table; re-exported here) and ``params_yaml.py`` (the ``params/*.yaml``
writer, which ``tests/fixtures/make_rsl_rl_fixtures.py`` shares so the committed fixtures are written the same way).
"""

from __future__ import annotations

import argparse
import copy
import io
import os
import re
import socket
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

try:
    from hpc_sweep.demo.overrides import FLAG_TARGETS, UsageError, apply_flags, apply_overrides, parse_override_value
    from hpc_sweep.demo.params_yaml import dump_yaml
except ImportError:  # run as a plain script from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from hpc_sweep.demo.overrides import FLAG_TARGETS, UsageError, apply_flags, apply_overrides, parse_override_value
    from hpc_sweep.demo.params_yaml import dump_yaml

__all__ = [
    "DEFAULT_AGENT_CFG",
    "FLAG_TARGETS",
    "TASKS",
    "UsageError",
    "apply_flags",
    "apply_overrides",
    "build_parser",
    "get_checkpoint_path",
    "main",
    "parse_override_value",
    "train",
]

TASKS = ("Demo-PointMass-v0",)
"""Tasks this demo script can train (anything else exits 1, as an unregistered gym id would fail)."""

DEFAULT_AGENT_CFG: dict[str, Any] = {
    "class_name": "OnPolicyRunner",
    "seed": 42,
    "device": "cpu",
    "num_steps_per_env": 16,
    "max_iterations": 100,
    "save_interval": 50,
    "experiment_name": "point_mass",
    "run_name": "",
    "logger": "tensorboard",
    "neptune_project": "isaaclab",
    "wandb_project": "isaaclab",
    "resume": False,
    "load_run": ".*",
    "load_checkpoint": "model_.*.pt",
    "check_for_nan": True,
    "torch_compile_mode": None,
    "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
    "actor": {
        "class_name": "MLPModel",
        "hidden_dims": [64, 64],
        "activation": "relu",
        "obs_normalization": False,
        "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0, "std_type": "scalar"},
    },
    "critic": {
        "class_name": "MLPModel",
        "hidden_dims": [64, 64],
        "activation": "relu",
        "obs_normalization": False,
    },
    "algorithm": {
        "class_name": "PPO",
        "num_learning_epochs": 3,
        "num_mini_batches": 4,
        "learning_rate": 1.0e-3,
        "schedule": "adaptive",
        "desired_kl": 0.01,
        "gamma": 0.98,
        "lam": 0.95,
        "entropy_coef": 0.005,
        "clip_param": 0.2,
        "value_loss_coef": 1.0,
        "use_clipped_value_loss": True,
        "max_grad_norm": 1.0,
    },
    "multi_gpu": None,
}
"""Agent (runner) configuration in rsl-rl 5.x dict form, laid out like Isaac Lab's ``RslRlOnPolicyRunnerCfg``.

Sized for speed on one CPU thread: 16 steps x 256 envs per iteration, [64, 64] ReLU MLPs (ELU's ``expm1`` costs
about a third of the update time on CPU), 3 epochs x 4 mini-batches.
"""


# ---------------------------------------------------------------------------------------------------------- parsing


def build_parser() -> argparse.ArgumentParser:
    """Isaac Lab's train.py flags (its own, ``cli_args.add_rsl_rl_args`` and the AppLauncher ones that matter).

    Options that only make sense for Isaac Sim are accepted and ignored so that a command line built for a real
    Isaac Lab checkout runs unchanged against the demo.
    """
    parser = argparse.ArgumentParser(description="Train an RL agent with RSL-RL (hpc_sweep demo, no Isaac Sim).")
    parser.add_argument("--video", action="store_true", default=False, help="Accepted; the demo records no video.")
    parser.add_argument("--video_length", type=int, default=200, help="Accepted; the demo records no video.")
    parser.add_argument("--video_interval", type=int, default=2000, help="Accepted; the demo records no video.")
    parser.add_argument("--num_envs", type=int, default=None, help="Number of environments (default 4096).")
    parser.add_argument("--task", type=str, default=None, help=f"Name of the task (one of: {', '.join(TASKS)}).")
    parser.add_argument("--agent", type=str, default="rsl_rl_cfg_entry_point", help="Accepted for compatibility.")
    parser.add_argument("--seed", type=int, default=None, help="Seed used for the environment (default 42).")
    parser.add_argument("--max_iterations", type=int, default=None, help="RL policy training iterations.")
    parser.add_argument("--distributed", action="store_true", default=False, help="Run training with multiple ranks.")
    parser.add_argument("--export_io_descriptors", action="store_true", default=False, help="Accepted; no-op.")
    parser.add_argument("--world", action="store_true", default=False, help="Use the world-frame reward variant.")
    # cli_args.add_rsl_rl_args
    group = parser.add_argument_group("rsl_rl", description="Arguments for RSL-RL agent.")
    group.add_argument("--experiment_name", type=str, default=None, help="Name of the experiment folder.")
    group.add_argument("--run_name", type=str, default=None, help="Run name suffix to the log directory.")
    group.add_argument("--resume", action="store_true", default=None, help="Whether to resume from a checkpoint.")
    group.add_argument("--load_run", type=str, default=None, help="Name (regex) of the run folder to resume from.")
    group.add_argument("--checkpoint", type=str, default=None, help="Checkpoint file (regex) or path to resume from.")
    group.add_argument("--logger", type=str, default=None, choices={"wandb", "tensorboard", "neptune"})
    group.add_argument("--log_project_name", type=str, default=None, help="Accepted for compatibility.")
    # AppLauncher
    app = parser.add_argument_group("app_launcher", description="Isaac Sim launcher arguments (accepted, ignored).")
    app.add_argument("--headless", action="store_true", default=False)
    app.add_argument("--livestream", type=int, default=-1)
    app.add_argument("--enable_cameras", action="store_true", default=False)
    app.add_argument("--device", type=str, default=None, help="Torch device (default cpu).")
    app.add_argument("--verbose", action="store_true", default=False)
    app.add_argument("--info", action="store_true", default=False)
    app.add_argument("--experience", type=str, default="")
    app.add_argument("--rendering_mode", type=str, default=None)
    app.add_argument("--kit_args", type=str, default="")
    return parser


# ---------------------------------------------------------------------------------------------------------- helpers


def get_checkpoint_path(log_path: str, run_dir: str = ".*", checkpoint: str = ".*") -> str:
    """Isaac Lab's ``get_checkpoint_path``: latest run matching ``run_dir``, latest file matching ``checkpoint``.

    Runs sort by name (timestamps sort chronologically); checkpoints sort by zero-padded name so ``model_100.pt``
    comes after ``model_99.pt``.
    """
    try:
        runs = sorted(
            os.path.join(log_path, entry.name)
            for entry in os.scandir(log_path)
            if entry.is_dir() and re.match(run_dir, entry.name)
        )
        run_path = runs[-1]
    except (IndexError, FileNotFoundError):
        raise ValueError(f"No runs present in the directory: '{log_path}' match: '{run_dir}'.") from None
    models = [name for name in os.listdir(run_path) if re.match(checkpoint, name)]
    if not models:
        raise ValueError(f"No checkpoints in the directory: '{run_path}' match '{checkpoint}'.")
    models.sort(key=lambda name: f"{name:0>15}")
    return os.path.join(run_path, models[-1])


def _configure_torch_threads(torch_module: Any) -> None:
    """One intra-op thread unless ``HPC_SWEEP_TORCH_THREADS`` says otherwise (<= 0 keeps torch's default).

    Many seeds run side by side on one node; torch's default of one thread per core would oversubscribe it badly,
    and this tiny network gains nothing from more threads anyway.
    """
    raw = os.environ.get("HPC_SWEEP_TORCH_THREADS", "").strip()
    threads = 1
    if raw:
        try:
            threads = int(raw)
        except ValueError:
            raise UsageError(f"HPC_SWEEP_TORCH_THREADS must be an integer, got {raw!r}") from None
    if threads > 0:
        torch_module.set_num_threads(threads)


def _make_runner_class() -> type:
    """An ``OnPolicyRunner`` whose multi-process path also works on CPU (gloo) instead of requiring CUDA/NCCL.

    rsl-rl's own ``_configure_multi_gpu`` insists on ``cuda:<local_rank>`` and NCCL; for CUDA devices we keep it, for
    CPU we do the same bookkeeping and initialise a gloo process group, which every collective rsl-rl uses supports.
    """
    import torch
    from rsl_rl.runners import OnPolicyRunner

    class DemoOnPolicyRunner(OnPolicyRunner):
        """rsl-rl's runner, plus CPU (gloo) support for ``torchrun``-style multi-process training."""

        def _configure_multi_gpu(self) -> None:
            world_size = int(os.getenv("WORLD_SIZE", "1"))
            if world_size <= 1 or torch.device(self.device).type != "cpu":
                super()._configure_multi_gpu()
                return
            self.gpu_world_size = world_size
            self.is_distributed = True
            self.gpu_local_rank = int(os.getenv("LOCAL_RANK", "0"))
            self.gpu_global_rank = int(os.getenv("RANK", "0"))
            self.cfg["multi_gpu"] = {
                "global_rank": self.gpu_global_rank,
                "local_rank": self.gpu_local_rank,
                "world_size": self.gpu_world_size,
            }
            if not torch.distributed.is_initialized():
                torch.distributed.init_process_group(
                    backend="gloo", rank=self.gpu_global_rank, world_size=self.gpu_world_size
                )

    return DemoOnPolicyRunner


# ---------------------------------------------------------------------------------------------------------- main


def train(argv: list[str] | None = None) -> int:
    """Parse ``argv``, train, and return the exit status (exceptions from training propagate on purpose)."""
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")  # rsl-rl imports GitPython, which needs this without git
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # a parent process streaming our output sees progress live

    args, rest = build_parser().parse_known_args(argv)
    if args.task not in TASKS:
        raise UsageError(f"unknown task {args.task!r}; this demo script only provides: {', '.join(TASKS)}")

    # torch (also under point_mass) only once the command line is known to be valid: usage errors stay fast.
    import torch

    from hpc_sweep.demo.point_mass import PointMassEnv, make_env_cfg

    _configure_torch_threads(torch)

    # Config precedence as in Isaac Lab: defaults < Hydra overrides < explicit command-line flags.
    agent_cfg = copy.deepcopy(DEFAULT_AGENT_CFG)
    env_cfg = make_env_cfg()
    apply_overrides(rest, agent_cfg, env_cfg)
    apply_flags(args, agent_cfg, env_cfg)
    if agent_cfg["logger"] != "tensorboard":
        raise UsageError(f"logger {agent_cfg['logger']!r} is not supported by the demo; use tensorboard")
    if args.video or args.enable_cameras:
        print("[INFO] The Demo-PointMass-v0 task has no renderer: --video/--enable_cameras are ignored.", flush=True)

    rank, local_rank, world_size = (
        int(os.getenv(v, d)) for v, d in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"))
    )
    if args.distributed:
        if world_size <= 1:
            print("[INFO] --distributed given but WORLD_SIZE<=1: training as a single process.", flush=True)
        elif str(agent_cfg["device"]).startswith("cuda"):
            agent_cfg["device"] = f"cuda:{local_rank}"
        host = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
        print(
            f"[INFO] distributed: rank {rank} (local rank {local_rank}) of world size {world_size} on {host}",
            flush=True,
        )
        # Like Isaac Lab, every rank gets its own seed so ranks collect different experience.
        agent_cfg["seed"] = int(agent_cfg["seed"]) + local_rank
    env_cfg["seed"] = agent_cfg["seed"]
    env_cfg["device"] = agent_cfg["device"]

    log_root_path = os.path.abspath(os.path.join("logs", "rsl_rl", str(agent_cfg["experiment_name"])))
    log_dir_name = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    if rank == 0:
        print(f"[INFO] Logging experiment in directory: {log_root_path}", flush=True)
        print(f"Exact experiment name requested from command line: {log_dir_name}", flush=True)
    if agent_cfg["run_name"]:
        log_dir_name += f"_{agent_cfg['run_name']}"
    log_dir = os.path.join(log_root_path, log_dir_name)

    # Resolve the checkpoint before this run's directory exists, so ".*" means "the latest previous run".
    resume_path = None
    if agent_cfg["resume"]:
        checkpoint = str(agent_cfg["load_checkpoint"])
        if "/" in checkpoint or os.sep in checkpoint:
            # A path (as newer Isaac Lab accepts): file names matched as regexes never contain a separator.
            if not os.path.isfile(checkpoint):
                raise UsageError(f"checkpoint file not found: {checkpoint}")
            resume_path = os.path.abspath(checkpoint)
        else:
            resume_path = get_checkpoint_path(log_root_path, str(agent_cfg["load_run"]), checkpoint)

    torch.manual_seed(int(agent_cfg["seed"]))
    env = PointMassEnv(env_cfg)
    _inject_crash(env, rank, int(agent_cfg["num_steps_per_env"]))
    runner = _make_runner_class()(env, agent_cfg, log_dir=log_dir, device=str(agent_cfg["device"]))
    runner.add_git_repo_to_log(__file__)
    if resume_path is not None:
        print(f"[INFO]: Loading model checkpoint from: {resume_path}", flush=True)
        runner.load(resume_path)
    if runner.gpu_global_rank == 0:
        dump_yaml(Path(log_dir) / "params" / "env.yaml", env.cfg)
        dump_yaml(Path(log_dir) / "params" / "agent.yaml", agent_cfg)

    start = time.time()
    runner.learn(num_learning_iterations=int(agent_cfg["max_iterations"]), init_at_random_ep_len=True)
    if runner.gpu_global_rank == 0:
        print(f"Training time: {round(time.time() - start, 2)} seconds", flush=True)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return 0


def _inject_crash(env: Any, rank: int, steps_per_iteration: int) -> None:
    """Fault injection for tests of multi-node failures: ``HPC_SWEEP_DEMO_CRASH=<rank>@<iteration>`` makes that rank
    raise in its environment's step at that learning iteration (the other ranks then lose their peer)."""
    spec = os.environ.get("HPC_SWEEP_DEMO_CRASH", "")
    target, _, iteration = spec.partition("@")
    if not spec or not target.isdigit() or not iteration.isdigit() or int(target) != rank:
        return
    limit = int(iteration) * steps_per_iteration
    step, calls = env.step, [0]

    def crashing_step(actions: Any) -> Any:
        calls[0] += 1
        if calls[0] > limit:
            raise RuntimeError(f"injected failure on rank {rank} at iteration {iteration} (HPC_SWEEP_DEMO_CRASH)")
        return step(actions)

    env.step = crashing_step


def main(argv: list[str] | None = None) -> int:
    """Entry point: usage errors become one line on stderr and exit status 1; anything else propagates."""
    try:
        return train(argv)
    except UsageError as error:
        print(f"[ERROR] {error}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
