"""Stand-in of the ``isaaclab_tasks`` package: a gym-like task registry, default configs, one fake environment.

Upstream each task calls ``gym.register(id=..., kwargs={"env_cfg_entry_point": ..., "rsl_rl_cfg_entry_point": ...})``
and ``gym.spec(id)`` raises ``gymnasium.error.NameNotFound: Environment `<id>` doesn't exist.`` for an unknown id;
here :func:`register` stores factories of plain-dict configs shaped like ``ManagerBasedRLEnvCfg.to_dict()`` and
``RslRlOnPolicyRunnerCfg.to_dict()`` (Isaac Lab ``source/isaaclab_rl/isaaclab_rl/rsl_rl/rl_cfg.py`` defaults:
``resume=False``, ``load_run=".*"``, ``load_checkpoint="model_.*.pt"``, ``run_name=""``, ``logger="tensorboard"``),
and :func:`spec` raises :class:`NameNotFound` with gymnasium's message. Extensions (the BALLU stand-in) register
their own tasks the same way.

:class:`StandinEnv` simulates nothing. Its mean episode reward at iteration ``it`` is a fixed function of the policy
the runner holds (``gain``, ``bias``: drawn from the seed, or loaded from a checkpoint), of the env seed and of the
iteration, plus the world-frame reward weight when the task has one:
``10 * gain * (1 - exp(-(it + 1) / 30)) + bias + 0.5 * world_weight + N(0, 0.05)[seeded by (env seed, it)]``.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class NameNotFound(Exception):
    """Stand-in of ``gymnasium.error.NameNotFound``."""


@dataclass(frozen=True)
class EnvSpec:
    """What ``gym.spec(id)`` returns that Isaac Lab uses: the id and the entry-point kwargs."""

    id: str
    kwargs: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)


_REGISTRY: dict[str, EnvSpec] = {}


def register(id: str, **kwargs: Callable[[], dict[str, Any]]) -> None:  # gym.register's own argument name
    """Register a task: ``env_cfg_entry_point`` / ``rsl_rl_cfg_entry_point`` factories of config dicts."""
    _REGISTRY[id] = EnvSpec(id=id, kwargs=dict(kwargs))


def spec(task_name: str | None) -> EnvSpec:
    """The registered task, or :class:`NameNotFound` (gymnasium's message)."""
    if task_name not in _REGISTRY:
        raise NameNotFound(f"Environment `{task_name}` doesn't exist.")
    return _REGISTRY[task_name]


def runner_cfg(experiment_name: str, max_iterations: int, save_interval: int, num_steps_per_env: int = 24):
    """An ``RslRlOnPolicyRunnerCfg`` as a dict, with ``RslRlPpoActorCriticCfg`` / ``RslRlPpoAlgorithmCfg`` inside."""
    return {
        "seed": 42,
        "device": "cuda:0",
        "num_steps_per_env": num_steps_per_env,
        "max_iterations": max_iterations,
        "empirical_normalization": False,
        "clip_actions": None,
        "save_interval": save_interval,
        "experiment_name": experiment_name,
        "run_name": "",
        "logger": "tensorboard",
        "neptune_project": "isaaclab",
        "wandb_project": "isaaclab",
        "resume": False,
        "load_run": ".*",
        "load_checkpoint": "model_.*.pt",
        "class_name": "OnPolicyRunner",
        "policy": {
            "class_name": "ActorCritic",
            "init_noise_std": 1.0,
            "noise_std_type": "scalar",
            "actor_hidden_dims": [512, 256, 128],
            "critic_hidden_dims": [512, 256, 128],
            "activation": "elu",
        },
        "algorithm": {
            "class_name": "PPO",
            "num_learning_epochs": 5,
            "num_mini_batches": 4,
            "learning_rate": 1.0e-3,
            "schedule": "adaptive",
            "gamma": 0.99,
            "lam": 0.95,
            "entropy_coef": 0.005,
            "desired_kl": 0.01,
            "max_grad_norm": 1.0,
            "value_loss_coef": 1.0,
            "use_clipped_value_loss": True,
            "clip_param": 0.2,
        },
    }


def env_cfg(num_envs: int = 4096, episode_length_s: float = 20.0, rewards: dict[str, Any] | None = None):
    """A ``ManagerBasedRLEnvCfg`` as a dict (the keys train.py touches, and reward terms for overrides)."""
    return {
        "seed": None,
        "decimation": 4,
        "episode_length_s": episode_length_s,
        "log_dir": None,
        "scene": {"num_envs": num_envs, "env_spacing": 2.5, "replicate_physics": True},
        "sim": {"dt": 0.005, "render_interval": 4, "device": "cuda:0"},
        "rewards": rewards
        or {
            "track_lin_vel_xy_exp": {"weight": 1.0, "params": {"std": 0.5}},
            "track_ang_vel_z_exp": {"weight": 0.5, "params": {"std": 0.5}},
            "action_rate_l2": {"weight": -0.01, "params": {}},
        },
    }


def _isaaclab_task(task: str, experiment: str, max_iterations: int, save_interval: int, steps: int = 24) -> None:
    register(
        task,
        env_cfg_entry_point=env_cfg,
        rsl_rl_cfg_entry_point=lambda: runner_cfg(experiment, max_iterations, save_interval, steps),
    )


_isaaclab_task("Isaac-Velocity-Flat-Anymal-C-v0", "anymal_c_flat", 300, 50)
_isaaclab_task("Isaac-Velocity-Rough-Anymal-C-v0", "anymal_c_rough", 1500, 50)
_isaaclab_task("Isaac-Cartpole-v0", "cartpole", 150, 50, steps=16)


class StandinEnv:
    """The environment ``gym.make`` returns: episode statistics as a fixed function of (policy, seed, iteration)."""

    def __init__(self, cfg: dict[str, Any], render_mode: str | None = None):
        self.cfg = copy.deepcopy(cfg)
        self.num_envs = int(cfg["scene"]["num_envs"])
        self.seed = cfg.get("seed")
        self.render_mode = render_mode
        self.max_episode_length = math.ceil(cfg["episode_length_s"] / (cfg["sim"]["dt"] * cfg["decimation"]))
        world = cfg.get("rewards", {}).get("track_lin_vel_xy_world_exp", {})
        self.world_weight = float(world.get("weight", 0.0))

    def rollout(self, policy: dict[str, Any], iteration: int) -> dict[str, float]:
        """Mean episode reward and length of one iteration's rollouts under ``policy``."""
        progress = 1.0 - math.exp(-(iteration + 1) / 30.0)
        noise = random.Random(f"env:{self.seed}:{iteration}").gauss(0.0, 0.05)
        reward = 10.0 * float(policy["gain"]) * progress + float(policy["bias"]) + 0.5 * self.world_weight + noise
        return {"mean_reward": reward, "mean_episode_length": self.max_episode_length * (0.2 + 0.8 * progress)}

    def close(self) -> None:
        pass


def make(task_name: str, cfg: dict[str, Any], render_mode: str | None = None) -> StandinEnv:
    """``gym.make(task, cfg=env_cfg, render_mode=...)``."""
    spec(task_name)
    return StandinEnv(cfg, render_mode)
