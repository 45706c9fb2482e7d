"""Stand-in of BALLU's ``scripts/rsl_rl/train.py`` (github.com/ankitdipto/BALLU_IsaacLab_Extension), tests only.

Run from the BALLU checkout with a plain python (hpc_sweep's ``ballu`` profile): ``python scripts/rsl_rl/train.py
--task Isaac-Ballu-Indirect-Act-v0 --seed 1 --headless --common_folder study --world [--resume_path <model.pt>]``.

The contract reproduced (it is Isaac Lab's ``train.py`` with these differences):

* extra flags ``--common_folder``, ``--world``, ``--resume_path``, ``--reward_std`` (rejected by the task),
  ``--GCR``/``--GCR_range``, ``--spcf``/``--spcf_range``, ``--dl``, ``--balloon_buoyancy_mass`` (older versions);
  no ``--agent`` flag (always ``rsl_rl_cfg_entry_point``); the app is launched BEFORE ``sys.argv`` is cut to the
  Hydra leftovers (same effect).
* log directory: with ``--common_folder`` it is ``logs/rsl_rl/<experiment>/<common_folder>/<run_name>`` or, with no
  run name, ``.../<common_folder>/seed_<seed>``, printed as ``[INFO] Using common folder: <name>`` (NO ``Exact
  experiment name`` line), and REUSED by every attempt of that seed; without it, Isaac Lab's timestamped directory.
* ``--world``: the world-frame velocity reward replaces the base-frame one (weights 0 and 1 in ``env.yaml``).
* ``--resume_path <file>``: ``[INFO]: Warm-starting from checkpoint: <file>``, loaded as is (takes priority over
  ``--resume``, which resolves ``--load_run``/``--checkpoint`` with Isaac Lab's ``get_checkpoint_path`` and prints
  ``[INFO]: Loading model checkpoint from: <path>``).
* ``params/cli.yaml`` (the parsed flags) besides ``env.yaml``/``agent.yaml``.
* an exception in training is CAUGHT: ``This run failed with error: <e>`` and ``Traceback: <traceback>`` are printed,
  then ``EXP_DIR: <log_dir>``, and the process exits 0.

Stand-in only: the Isaac Lab stand-in's packages are put on ``sys.path`` (a real BALLU env has Isaac Lab installed):
the sibling ``../isaaclab`` of this stand-in, else ``$ISAACLAB_PATH``. The BALLU tasks are registered here.
"""

import argparse
import os
import sys

_BALLU_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
_SIBLING = os.path.normpath(os.path.join(_BALLU_ROOT, "..", "isaaclab"))
_ISAACLAB = _SIBLING if os.path.isdir(_SIBLING) else os.environ.get("ISAACLAB_PATH", _SIBLING)
for _root in ("isaaclab", "isaaclab_tasks", "_standin_site"):
    sys.path.insert(0, os.path.join(_ISAACLAB, "source", _root))

from isaaclab.app import AppLauncher  # noqa: E402

import cli_args  # isort: skip  # noqa: E402

parser = argparse.ArgumentParser(description="Train an RL agent with RSL-RL.")
parser.add_argument("--video", action="store_true", default=False, help="Record videos during training.")
parser.add_argument("--video_length", type=int, default=200, help="Length of the recorded video (in steps).")
parser.add_argument("--video_interval", type=int, default=2000, help="Interval between video recordings (in steps).")
parser.add_argument("--num_envs", type=int, default=None, help="Number of environments to simulate.")
parser.add_argument("--task", type=str, default=None, help="Name of the task.")
parser.add_argument("--seed", type=int, default=None, help="Seed used for the environment")
parser.add_argument("--max_iterations", type=int, default=None, help="RL Policy training iterations.")
parser.add_argument("--reward_std", type=float, default=None, help="Std of the velocity tracking reward.")
parser.add_argument("--common_folder", type=str, default=None, help="Common folder name for all seeded runs.")
parser.add_argument("--world", action="store_true", default=False, help="Use world frame for velocity tracking reward")
parser.add_argument("--GCR", type=float, default=0.84, help="Gravity compensation ratio")
parser.add_argument("--GCR_range", type=float, nargs=2, default=None, help="Range of gravity compensation ratio")
parser.add_argument("--spcf", type=float, default=0.005, help="Spring coefficient")
parser.add_argument("--spcf_range", type=float, nargs=2, default=None, help="Range of spring coefficient (min max)")
parser.add_argument("--dl", type=int, default=None, help="Difficulty level of the obstacle (default: 0)")
parser.add_argument("--balloon_buoyancy_mass", type=float, default=0.24, help="Balloon buoyancy mass (older BALLU).")
parser.add_argument("--resume_path", type=str, default=None, help="Full path to a checkpoint to warm-start from.")
cli_args.add_rsl_rl_args(parser)
AppLauncher.add_app_launcher_args(parser)
args_cli, hydra_args = parser.parse_known_args()

if args_cli.video:
    args_cli.enable_cameras = True

app_launcher = AppLauncher(args_cli)
simulation_app = app_launcher.app

sys.argv = [sys.argv[0], *hydra_args]

import copy  # noqa: E402
import traceback  # noqa: E402

import isaaclab_tasks  # noqa: E402
import standin_knobs  # noqa: E402
from isaaclab.utils.io import dump_pickle, dump_yaml  # noqa: E402
from isaaclab_tasks.utils import get_checkpoint_path  # noqa: E402
from isaaclab_tasks.utils.hydra import hydra_task_config  # noqa: E402
from rsl_rl.runners import OnPolicyRunner  # noqa: E402


def _ballu_env_cfg() -> dict:
    """BALLU's velocity env: base-frame and world-frame velocity tracking rewards (``--world`` swaps them)."""
    rewards = {
        "track_lin_vel_xy_base_exp": {"weight": 1.0, "params": {"std": 0.5}},
        "track_lin_vel_xy_world_exp": {"weight": 0.0, "params": {"std": 0.5}},
        "track_lin_vel_xy_exp": {"weight": 0.0, "params": {"std": 0.5}},
    }
    return isaaclab_tasks.env_cfg(num_envs=4096, episode_length_s=20.0, rewards=rewards)


for _task in ("Isaac-Ballu-Indirect-Act-v0", "Isaac-Vel-BALLU-priv", "Isc-Vel-BALLU-encoder"):
    isaaclab_tasks.register(
        _task,
        env_cfg_entry_point=_ballu_env_cfg,
        rsl_rl_cfg_entry_point=lambda: isaaclab_tasks.runner_cfg("lab_02.24.2026", 1500, 100, 20),
    )


@hydra_task_config(args_cli.task, "rsl_rl_cfg_entry_point")
def main(env_cfg: dict, agent_cfg: dict) -> None:
    """Train with the RSL-RL (stand-in) runner, BALLU style."""
    agent_cfg = cli_args.update_rsl_rl_cfg(agent_cfg, args_cli)
    if args_cli.num_envs is not None:
        env_cfg["scene"]["num_envs"] = args_cli.num_envs
    if args_cli.max_iterations is not None:
        agent_cfg["max_iterations"] = args_cli.max_iterations
    env_cfg["seed"] = agent_cfg["seed"]
    env_cfg["sim"]["device"] = args_cli.device if args_cli.device is not None else env_cfg["sim"]["device"]

    log_root_path = os.path.abspath(os.path.join("logs", "rsl_rl", agent_cfg["experiment_name"]))
    print(f"[INFO] Logging experiment in directory: {log_root_path}", flush=True)
    if args_cli.common_folder:
        leaf = agent_cfg["run_name"] if agent_cfg["run_name"] else f"seed_{agent_cfg['seed']}"
        log_dir = os.path.join(log_root_path, args_cli.common_folder, leaf)
        print(f"[INFO] Using common folder: {args_cli.common_folder}", flush=True)
    else:
        log_dir = standin_knobs.run_timestamp()
        if agent_cfg["run_name"]:
            log_dir += f"_{agent_cfg['run_name']}"
        log_dir = os.path.join(log_root_path, log_dir)

    if args_cli.world:
        env_cfg["rewards"]["track_lin_vel_xy_base_exp"]["weight"] = 0.0
        env_cfg["rewards"]["track_lin_vel_xy_world_exp"]["weight"] = 1.0
    if args_cli.reward_std is not None:
        raise ValueError("Reward standard deviation is not supported for this task.")

    env = isaaclab_tasks.make(args_cli.task, cfg=env_cfg, render_mode="rgb_array" if args_cli.video else None)
    runner = OnPolicyRunner(env, copy.deepcopy(agent_cfg), log_dir=log_dir, device=agent_cfg["device"])
    runner.add_git_repo_to_log(__file__)
    if args_cli.resume_path is not None:
        print(f"[INFO]: Warm-starting from checkpoint: {args_cli.resume_path}", flush=True)
        runner.load(args_cli.resume_path)
    elif agent_cfg["resume"]:
        resume_path = get_checkpoint_path(log_root_path, agent_cfg["load_run"], agent_cfg["load_checkpoint"])
        print(f"[INFO]: Loading model checkpoint from: {resume_path}", flush=True)
        runner.load(resume_path)

    dump_yaml(os.path.join(log_dir, "params", "env.yaml"), env_cfg)
    dump_yaml(os.path.join(log_dir, "params", "agent.yaml"), agent_cfg)
    dump_pickle(os.path.join(log_dir, "params", "env.pkl"), env_cfg)
    dump_pickle(os.path.join(log_dir, "params", "agent.pkl"), agent_cfg)
    dump_yaml(os.path.join(log_dir, "params", "cli.yaml"), vars(args_cli).copy())

    try:
        runner.learn(num_learning_iterations=agent_cfg["max_iterations"], init_at_random_ep_len=True)
    except Exception as e:
        print(f"This run failed with error: {e}", flush=True)
        print(f"Traceback: {traceback.format_exc()}", flush=True)
    finally:
        env.close()

    print(f"EXP_DIR: {log_dir}", flush=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        print(f"This run failed with error: {e}", flush=True)
    finally:
        simulation_app.close()
