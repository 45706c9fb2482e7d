"""Stand-in of Isaac Lab ``scripts/reinforcement_learning/rsl_rl/train.py`` (tests only: no Isaac Sim, no torch).

Run it as the real one is run, from the Isaac Lab directory: ``./isaaclab.sh -p scripts/reinforcement_learning/rsl_rl/
train.py --task Isaac-Velocity-Flat-Anymal-C-v0 --seed 1 --headless --run_name grp_seed1 agent.save_interval=2``.

The contract reproduced, in upstream's order:

1. Flags: its own (``--video --video_length --video_interval --num_envs --task --agent --seed --max_iterations
   --distributed --export_io_descriptors --viz``), ``cli_args.add_rsl_rl_args`` and
   ``AppLauncher.add_app_launcher_args``; ``args_cli, hydra_args = parser.parse_known_args()``; ``--video`` turns on
   ``--enable_cameras``; ``sys.argv = [sys.argv[0]] + hydra_args`` (the leftovers go to Hydra: see
   ``isaaclab_tasks/utils/hydra.py``, unknown keys exit 1); the app is launched.
2. ``main(env_cfg, agent_cfg)`` under ``@hydra_task_config``: ``cli_args.update_rsl_rl_cfg`` (flags win over Hydra),
   ``--num_envs`` / ``--max_iterations`` when given, ``env seed = agent seed``, ``--device`` into ``env.sim.device``;
   ``--distributed``: seed + local rank, device ``cuda:<local rank>``.
3. Logs: ``log_root_path = abspath("logs/rsl_rl/<experiment_name>")`` under the CURRENT directory, printed as
   ``[INFO] Logging experiment in directory: <root>``; the run directory ``<%Y-%m-%d_%H-%M-%S>[_<run_name>]``, whose
   timestamp is printed as ``Exact experiment name requested from command line: <timestamp>``.
4. ``--resume``: the checkpoint is resolved BEFORE this run's directory exists, with ``get_checkpoint_path(
   log_root_path, load_run, load_checkpoint)`` (regex prefix matches, alphabetically last run: see ``parse_cfg``),
   printed as ``[INFO]: Loading model checkpoint from: <path>`` and loaded into the runner (its iteration included).
5. ``params/env.yaml``, ``params/agent.yaml`` (+ ``.pkl``), then ``runner.learn(num_learning_iterations=
   max_iterations)``: a resumed run does ``max_iterations`` MORE iterations from the checkpoint's.

Stand-in only: the first lines put the stand-in packages (``source/*``) on ``sys.path``, where a real install has
them in site-packages; test knobs (``STANDIN_*``) are documented in ``source/_standin_site/standin_knobs.py``.
"""

import argparse
import os
import sys

_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "source")
for _root in ("isaaclab", "isaaclab_tasks", "_standin_site"):
    sys.path.insert(0, os.path.normpath(os.path.join(_SOURCE, _root)))

from isaaclab.app import AppLauncher  # noqa: E402

import cli_args  # isort: skip  # noqa: E402

parser = argparse.ArgumentParser(description="Train an RL agent with RSL-RL.")
parser.add_argument("--video", action="store_true", default=False, help="Record videos during training.")
parser.add_argument("--video_length", type=int, default=200, help="Length of the recorded video (in steps).")
parser.add_argument("--video_interval", type=int, default=2000, help="Interval between video recordings (in steps).")
parser.add_argument("--num_envs", type=int, default=None, help="Number of environments to simulate.")
parser.add_argument("--task", type=str, default=None, help="Name of the task.")
parser.add_argument(
    "--agent", type=str, default="rsl_rl_cfg_entry_point", help="Name of the RL agent configuration entry point."
)
parser.add_argument("--seed", type=int, default=None, help="Seed used for the environment")
parser.add_argument("--max_iterations", type=int, default=None, help="RL Policy training iterations.")
parser.add_argument(
    "--distributed", action="store_true", default=False, help="Run training with multiple GPUs or nodes."
)
parser.add_argument("--export_io_descriptors", action="store_true", default=False, help="Export IO descriptors.")
parser.add_argument("--viz", action="store_true", default=False, help="Enable visualization.")
cli_args.add_rsl_rl_args(parser)
AppLauncher.add_app_launcher_args(parser)
args_cli, hydra_args = parser.parse_known_args()

if args_cli.video:
    args_cli.enable_cameras = True

sys.argv = [sys.argv[0], *hydra_args]

app_launcher = AppLauncher(args_cli)
simulation_app = app_launcher.app

import copy  # noqa: E402

import isaaclab_tasks  # noqa: E402
import standin_knobs  # noqa: E402
from isaaclab.utils.io import dump_pickle, dump_yaml  # noqa: E402
from isaaclab_tasks.utils import get_checkpoint_path  # noqa: E402
from isaaclab_tasks.utils.hydra import hydra_task_config  # noqa: E402
from rsl_rl.runners import OnPolicyRunner  # noqa: E402


@hydra_task_config(args_cli.task, args_cli.agent)
def main(env_cfg: dict, agent_cfg: dict) -> None:
    """Train with the RSL-RL (stand-in) runner."""
    agent_cfg = cli_args.update_rsl_rl_cfg(agent_cfg, args_cli)
    if args_cli.num_envs is not None:
        env_cfg["scene"]["num_envs"] = args_cli.num_envs
    if args_cli.max_iterations is not None:
        agent_cfg["max_iterations"] = args_cli.max_iterations

    env_cfg["seed"] = agent_cfg["seed"]
    env_cfg["sim"]["device"] = args_cli.device if args_cli.device is not None else env_cfg["sim"]["device"]
    if args_cli.distributed:
        env_cfg["sim"]["device"] = f"cuda:{app_launcher.local_rank}"
        agent_cfg["device"] = f"cuda:{app_launcher.local_rank}"
        agent_cfg["seed"] = env_cfg["seed"] = agent_cfg["seed"] + app_launcher.local_rank

    log_root_path = os.path.abspath(os.path.join("logs", "rsl_rl", agent_cfg["experiment_name"]))
    print(f"[INFO] Logging experiment in directory: {log_root_path}", flush=True)
    log_dir = standin_knobs.run_timestamp(resuming=bool(agent_cfg["resume"]))
    print(f"Exact experiment name requested from command line: {log_dir}", flush=True)
    if agent_cfg["run_name"]:
        log_dir += f"_{agent_cfg['run_name']}"
    log_dir = os.path.join(log_root_path, log_dir)
    env_cfg["log_dir"] = log_dir

    env = isaaclab_tasks.make(args_cli.task, cfg=env_cfg, render_mode="rgb_array" if args_cli.video else None)

    if agent_cfg["resume"]:
        resume_path = get_checkpoint_path(log_root_path, agent_cfg["load_run"], agent_cfg["load_checkpoint"])

    if args_cli.video:
        print("[INFO] Recording videos during training. (stand-in: none recorded)", flush=True)

    runner = OnPolicyRunner(env, copy.deepcopy(agent_cfg), log_dir=log_dir, device=agent_cfg["device"])
    runner.add_git_repo_to_log(__file__)
    if agent_cfg["resume"]:
        print(f"[INFO]: Loading model checkpoint from: {resume_path}", flush=True)
        runner.load(resume_path)

    dump_yaml(os.path.join(log_dir, "params", "env.yaml"), env_cfg)
    dump_yaml(os.path.join(log_dir, "params", "agent.yaml"), agent_cfg)
    dump_pickle(os.path.join(log_dir, "params", "env.pkl"), env_cfg)
    dump_pickle(os.path.join(log_dir, "params", "agent.pkl"), agent_cfg)

    runner.learn(num_learning_iterations=agent_cfg["max_iterations"], init_at_random_ep_len=True)
    env.close()


if __name__ == "__main__":
    main()
    simulation_app.close()
