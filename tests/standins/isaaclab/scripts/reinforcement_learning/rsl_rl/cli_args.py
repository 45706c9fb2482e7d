"""Stand-in of Isaac Lab ``scripts/reinforcement_learning/rsl_rl/cli_args.py``: ``add_rsl_rl_args`` and
``update_rsl_rl_cfg`` over the stand-in's dict configs.

Rules reproduced: the ``rsl_rl`` argument group (``--experiment_name --run_name --resume --load_run --checkpoint
--logger {wandb,tensorboard,neptune} --log_project_name``); the flags are copied into the agent config AFTER the Hydra
overrides, so a given flag wins over ``agent.x=...``; ``--seed -1`` draws a random seed in [0, 10000]; ``--resume``
is a ``store_true`` with default ``False`` and is copied whenever it is not None, i.e. ALWAYS (an
``agent.resume=true`` Hydra override is reset to False unless ``--resume`` is given); ``--checkpoint`` lands in
``load_checkpoint``; ``--load_run`` and ``--checkpoint`` are regular expressions (see
``isaaclab_tasks.utils.parse_cfg.get_checkpoint_path``).
"""

from __future__ import annotations

import argparse
import random
from typing import Any


def add_rsl_rl_args(parser: argparse.ArgumentParser) -> None:
    """Add the RSL-RL arguments to ``parser``."""
    arg_group = parser.add_argument_group("rsl_rl", description="Arguments for RSL-RL agent.")
    arg_group.add_argument(
        "--experiment_name", type=str, default=None, help="Name of the experiment folder where logs will be stored."
    )
    arg_group.add_argument("--run_name", type=str, default=None, help="Run name suffix to the log directory.")
    arg_group.add_argument("--resume", action="store_true", default=False, help="Whether to resume from a checkpoint.")
    arg_group.add_argument("--load_run", type=str, default=None, help="Name of the run folder to resume from.")
    arg_group.add_argument("--checkpoint", type=str, default=None, help="Checkpoint file to resume from.")
    arg_group.add_argument(
        "--logger", type=str, default=None, choices={"wandb", "tensorboard", "neptune"}, help="Logger module to use."
    )
    arg_group.add_argument(
        "--log_project_name", type=str, default=None, help="Name of the logging project when using wandb or neptune."
    )


def update_rsl_rl_cfg(agent_cfg: dict[str, Any], args_cli: argparse.Namespace) -> dict[str, Any]:
    """Override ``agent_cfg`` with the RSL-RL command-line flags that were given."""
    if getattr(args_cli, "seed", None) is not None:
        if args_cli.seed == -1:
            args_cli.seed = random.randint(0, 10000)
        agent_cfg["seed"] = args_cli.seed
    if args_cli.resume is not None:
        agent_cfg["resume"] = args_cli.resume
    if args_cli.load_run is not None:
        agent_cfg["load_run"] = args_cli.load_run
    if args_cli.checkpoint is not None:
        agent_cfg["load_checkpoint"] = args_cli.checkpoint
    if args_cli.experiment_name is not None:
        agent_cfg["experiment_name"] = args_cli.experiment_name
    if args_cli.run_name is not None:
        agent_cfg["run_name"] = args_cli.run_name
    if args_cli.logger is not None:
        agent_cfg["logger"] = args_cli.logger
    if agent_cfg["logger"] in {"wandb", "neptune"} and args_cli.log_project_name:
        agent_cfg["wandb_project"] = args_cli.log_project_name
        agent_cfg["neptune_project"] = args_cli.log_project_name
    return agent_cfg
