"""A torch-batched 2-D point-mass reaching task that trains for real with rsl-rl's PPO on a CPU.

``Demo-PointMass-v0`` stands in for an Isaac Lab task wherever Isaac Sim is not installed (CI, laptops, the test
suite), so every part of a sweep -- launching, log discovery, TensorBoard parsing, seed statistics, configuration
comparison -- can be exercised end to end against a genuine learning curve instead of synthetic numbers.

Each of ``num_envs`` point masses starts at a random position with zero velocity and must reach and then hold a random
target.  The action is a 2-D acceleration command in ``[-1, 1]``.  The reward is a weighted sum of named terms, and --
exactly like Isaac Lab's reward manager -- each term is multiplied by the step ``dt`` and its per-episode sum is
reported in ``extras["log"]["Episode_Reward/<term>"]`` divided by the episode length in seconds.

Two reward variants exist so that sweeps can compare configurations:

* base (``world=False``): tracking expressed in the *target frame* -- a rotation-invariant Gaussian kernel on the
  distance to the target and a reward for the speed component pointing at the target (progress).
* world (``world=True``): tracking expressed in the fixed *world frame* -- a per-axis (x, y) Laplacian kernel on
  the position error, and a squared-error penalty between the velocity and a world-frame reference velocity
  ``clip(gain * (target - pos), -1, 1)`` (per axis).  Because the velocity term is a penalty (best value 0) instead
  of a kernel (best value 1), a trained world policy ends at a clearly and consistently lower return than a base one.

Randomness of the environment comes only from a private :class:`torch.Generator` seeded from ``cfg["seed"]``, so the
same seed reproduces the same rollouts regardless of what else uses the global torch RNG.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from rsl_rl.env import VecEnv
from tensordict import TensorDict

TASK_NAME = "Demo-PointMass-v0"
"""Gym-style task id under which the training CLI exposes this environment."""

DEFAULT_ENV_CFG: dict[str, Any] = {
    "task": TASK_NAME,
    "num_envs": 4096,
    "seed": 42,
    "device": "cpu",
    "world": False,
    "dt": 0.1,
    "episode_length": 100,
    "arena_half_size": 3.0,
    "spawn_half_size": 2.0,
    "target_half_size": 2.0,
    "max_accel": 4.0,
    "damping": 0.5,
    "max_speed": 3.0,
    "world_velocity_gain": 1.5,
    "rewards": {
        "position_tracking": {"weight": 1.0, "std": 0.5},
        "velocity_tracking": {"weight": 0.5, "std": 0.5},
        "action_l2": {"weight": -0.05},
    },
}
"""Default environment configuration; a plain dict because rsl-rl's logger and ``params/env.yaml`` want one."""


def make_env_cfg(**overrides: Any) -> dict[str, Any]:
    """Return a deep copy of :data:`DEFAULT_ENV_CFG` with top-level ``overrides`` applied.

    A copy is returned because callers (the CLI's ``env.*`` overrides, tests) mutate it, and the module default
    must stay pristine between runs in the same process.
    """
    cfg = copy.deepcopy(DEFAULT_ENV_CFG)
    for key, value in overrides.items():
        if key not in cfg:
            raise KeyError(f"unknown point-mass env config key: {key!r}")
        cfg[key] = value
    return cfg


class PointMassEnv(VecEnv):
    """Batch of 2-D point masses implementing rsl-rl's :class:`~rsl_rl.env.VecEnv` (rsl-rl 5.x API).

    Observations are a :class:`~tensordict.TensorDict` with one ``"policy"`` group of 6 values per env:
    target position relative to the mass (2), velocity (2) and the previous action (2).  rsl-rl uses the same group
    for the critic unless ``obs_groups`` says otherwise.
    """

    num_obs: int = 6
    """Size of the ``"policy"`` observation group."""

    def __init__(self, cfg: dict[str, Any] | None = None, num_envs: int | None = None, device: str | None = None):
        """Build the batch; ``num_envs``/``device`` override the config so the CLI can mirror Isaac Lab's flags."""
        self.cfg: dict[str, Any] = make_env_cfg() if cfg is None else copy.deepcopy(cfg)
        if num_envs is not None:
            self.cfg["num_envs"] = int(num_envs)
        if device is not None:
            self.cfg["device"] = str(device)
        self.num_envs = int(self.cfg["num_envs"])
        if self.num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {self.num_envs}")
        self.device = torch.device(self.cfg["device"])
        self.num_actions = 2
        self.dt = float(self.cfg["dt"])
        self.max_episode_length = int(self.cfg["episode_length"])
        self.max_episode_length_s = self.max_episode_length * self.dt
        self.world = bool(self.cfg["world"])
        self.reward_cfg: dict[str, dict[str, float]] = self.cfg["rewards"]

        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(int(self.cfg["seed"]))

        n, dev = self.num_envs, self.device
        self.pos = torch.zeros(n, 2, device=dev)
        self.vel = torch.zeros(n, 2, device=dev)
        self.target = torch.zeros(n, 2, device=dev)
        self.last_action = torch.zeros(n, 2, device=dev)
        self.episode_length_buf = torch.zeros(n, dtype=torch.long, device=dev)
        self.episode_sums = {name: torch.zeros(n, device=dev) for name in self.reward_cfg}
        self.extras: dict[str, Any] = {}
        self._reset_idx(torch.arange(n, device=dev))
        self.extras = {}

    # ------------------------------------------------------------------ rsl-rl VecEnv API

    def get_observations(self) -> TensorDict:
        """Return the current observations (rsl-rl calls this once before the first rollout)."""
        return self._compute_obs()

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        """Advance all envs by one ``dt``; envs whose episode ended are reset in place (Isaac Lab semantics)."""
        action = torch.clamp(actions.to(self.device, torch.float32), -1.0, 1.0)
        accel = action * float(self.cfg["max_accel"]) - float(self.cfg["damping"]) * self.vel
        self.vel = self.vel + accel * self.dt
        speed = torch.linalg.vector_norm(self.vel, dim=1, keepdim=True)
        max_speed = float(self.cfg["max_speed"])
        self.vel = self.vel * torch.clamp(max_speed / (speed + 1e-8), max=1.0)
        self.pos = self.pos + self.vel * self.dt
        self.episode_length_buf += 1

        terms = self.reward_terms(action)
        rewards = torch.zeros(self.num_envs, device=self.device)
        for name, value in terms.items():
            weighted = value * float(self.reward_cfg[name]["weight"]) * self.dt
            self.episode_sums[name] += weighted
            rewards += weighted
        self.last_action = action

        half = float(self.cfg["arena_half_size"])
        out_of_bounds = (self.pos.abs() > half).any(dim=1)
        time_outs = self.episode_length_buf >= self.max_episode_length
        dones = out_of_bounds | time_outs

        self.extras = {"time_outs": time_outs.clone()}
        reset_ids = dones.nonzero(as_tuple=False).flatten()
        if reset_ids.numel() > 0:
            self.extras["log"] = self._episode_log(reset_ids, time_outs, out_of_bounds)
            self._reset_idx(reset_ids)
        return self._compute_obs(), rewards, dones.to(torch.long), self.extras

    # ------------------------------------------------------------------ reward terms

    def reward_terms(self, action: torch.Tensor) -> dict[str, torch.Tensor]:
        """Unweighted value of every reward term for the current state (shape ``(num_envs,)`` each).

        Kept public so tests can check the shaping directly; the weights and ``dt`` are applied in :meth:`step`.
        """
        err = self.target - self.pos
        pos_std = float(self.reward_cfg["position_tracking"]["std"])
        vel_std = float(self.reward_cfg["velocity_tracking"]["std"])
        if self.world:
            # World frame: a per-axis (x, y) Laplacian kernel on the position error, and a squared-error *penalty*
            # on the per-axis world-frame velocity against the reference clip(gain * error).  The penalty's best
            # value is 0 instead of the base kernel's 1, which is what makes the two variants' levels differ.
            position = torch.exp(-err.abs().sum(dim=1) / pos_std)
            ref_vel = torch.clamp(float(self.cfg["world_velocity_gain"]) * err, -1.0, 1.0)
            velocity = -torch.sum((self.vel - ref_vel) ** 2, dim=1) / vel_std**2
        else:
            # Target frame: rotation-invariant distance kernel and speed along the direction to the target.
            dist = torch.linalg.vector_norm(err, dim=1)
            position = torch.exp(-(dist**2) / pos_std**2)
            direction = err / (dist.unsqueeze(1) + 1e-6)
            progress = torch.sum(self.vel * direction, dim=1)
            # Far from the target: reward approach speed; near it (inside ~std): reward being still (holding).
            near = torch.clamp(1.0 - dist / vel_std, min=0.0)
            velocity = (1.0 - near) * torch.clamp(progress, -1.0, 1.0) + near * torch.exp(
                -torch.sum(self.vel**2, dim=1) / vel_std**2
            )
        action_l2 = torch.sum(action**2, dim=1)
        return {"position_tracking": position, "velocity_tracking": velocity, "action_l2": action_l2}

    # ------------------------------------------------------------------ internals

    def _compute_obs(self) -> TensorDict:
        """Pack the ``"policy"`` observation group (relative target, velocity, previous action)."""
        policy = torch.cat((self.target - self.pos, self.vel, self.last_action), dim=1)
        return TensorDict({"policy": policy}, batch_size=[self.num_envs], device=self.device)

    def _episode_log(self, env_ids: torch.Tensor, time_outs: torch.Tensor, out_of_bounds: torch.Tensor) -> dict:
        """Isaac-Lab-style episode statistics for the envs about to be reset.

        ``Episode_Reward/<term>`` is the mean over finished envs of the term's episode sum divided by the maximum
        episode length in seconds, and ``Episode_Termination/<term>`` counts finished envs per termination cause,
        matching what Isaac Lab's managers put into ``extras["log"]``.
        """
        log: dict[str, float] = {}
        for name, sums in self.episode_sums.items():
            log[f"Episode_Reward/{name}"] = (torch.mean(sums[env_ids]) / self.max_episode_length_s).item()
        log["Episode_Termination/time_out"] = float(torch.count_nonzero(time_outs[env_ids]).item())
        log["Episode_Termination/out_of_bounds"] = float(
            torch.count_nonzero(out_of_bounds[env_ids] & ~time_outs[env_ids]).item()
        )
        return log

    def _reset_idx(self, env_ids: torch.Tensor) -> None:
        """Re-spawn the given envs: random start and target, zero velocity, cleared episode sums."""
        k = env_ids.numel()
        spawn = float(self.cfg["spawn_half_size"])
        tgt = float(self.cfg["target_half_size"])
        self.pos[env_ids] = (torch.rand(k, 2, generator=self.generator, device=self.device) * 2.0 - 1.0) * spawn
        self.target[env_ids] = (torch.rand(k, 2, generator=self.generator, device=self.device) * 2.0 - 1.0) * tgt
        self.vel[env_ids] = 0.0
        self.last_action[env_ids] = 0.0
        self.episode_length_buf[env_ids] = 0
        for sums in self.episode_sums.values():
            sums[env_ids] = 0.0


def optimal_episode_return_bound(cfg: dict[str, Any]) -> float:
    """Upper bound on the undiscounted episode return: every positive term at its maximum (1) for every step.

    Useful as a sanity scale when reading reward levels; no policy reaches it because the mass must travel first.
    """
    positive = sum(max(float(t["weight"]), 0.0) for t in cfg["rewards"].values())
    return positive * float(cfg["dt"]) * int(cfg["episode_length"])


__all__ = ["DEFAULT_ENV_CFG", "TASK_NAME", "PointMassEnv", "make_env_cfg", "optimal_episode_return_bound"]
