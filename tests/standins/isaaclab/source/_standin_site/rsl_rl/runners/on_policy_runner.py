"""Stand-in of RSL-RL's ``OnPolicyRunner`` (``rsl_rl/runners/on_policy_runner.py`` of leggedrobotics/rsl_rl, 2.x):
the iteration bookkeeping, checkpoints, console blocks and TensorBoard tags, with no torch and no learning.

Rules reproduced from the real runner:

* ``learn(num_learning_iterations)`` runs ``range(start_iter, start_iter + num_learning_iterations)`` where
  ``start_iter = current_learning_iteration`` (0 for a fresh runner; the checkpoint's ``iter`` after ``load``), so a
  resumed run REDOES the checkpoint's iteration and the console says ``Learning iteration k/<start + n>``.
* after iteration ``it``: ``current_learning_iteration = it``; log (console block + TensorBoard scalars at step
  ``it``); if ``it % save_interval == 0`` save ``model_{it}.pt``; after the loop save ``model_{current}.pt`` again.
* ``save`` stores ``{"model_state_dict", "optimizer_state_dict", "iter", "infos"}``; ``load`` restores the policy and
  sets ``current_learning_iteration = loaded["iter"]``.
* the ``logger`` config key picks the writer; only ``tensorboard`` is provided here (``wandb``/``neptune`` raise).
* multi-GPU / multi-node (``_configure_multi_gpu``): ``WORLD_SIZE > 1`` makes the run distributed, with
  ``RANK``/``LOCAL_RANK`` from ``torch.distributed.run``; ``disable_logs = is_distributed and gpu_global_rank != 0``,
  so only global rank 0 opens the writer, prints the console blocks and saves checkpoints.

Stand-in differences: checkpoints are small JSON files (``torch.save`` writes a zip), the TensorBoard writer is
tensorboard's own ``EventFileWriter`` (what ``torch.utils.tensorboard.SummaryWriter`` wraps, without importing
torch), nothing is learned and no ``git/*.diff`` code state is stored.

The "policy" is a seed-specific pair ``(gain, bias)`` drawn from the agent config's seed when the runner is built and
REPLACED by the checkpoint's on ``load``; the environment's reward depends on it (see ``isaaclab_tasks``). So a run
resumed from the right checkpoint continues its uninterrupted curve exactly, and one resumed from another seed's
checkpoint visibly does not. ``STANDIN_FAIL_AT_ITERATION`` / ``STANDIN_SLEEP`` are read from ``standin_knobs``.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from typing import Any

import standin_knobs

WIDTH, PAD = 80, 35


def initial_policy(seed: int) -> dict[str, Any]:
    """The freshly initialised "policy" of a run seeded with ``seed`` (stands in for the network's weights)."""
    rng = random.Random(f"policy:{seed}")
    return {"gain": round(rng.uniform(0.6, 1.4), 6), "bias": round(rng.uniform(-2.0, 2.0), 6), "init_seed": seed}


class OnPolicyRunner:
    """The runner's contract: iterations, checkpoints, resume, console and TensorBoard output."""

    def __init__(self, env: Any, train_cfg: dict[str, Any], log_dir: str | None = None, device: str = "cpu"):
        self.cfg = train_cfg
        self.alg_cfg = train_cfg["algorithm"]
        self.device = device
        self.env = env
        self.num_steps_per_env = int(train_cfg["num_steps_per_env"])
        self.save_interval = int(train_cfg["save_interval"])
        self.policy = initial_policy(int(train_cfg["seed"]))
        self.log_dir = log_dir
        self.writer: _TensorboardWriter | None = None
        self.tot_timesteps = 0
        self.tot_time = 0.0
        self.current_learning_iteration = 0
        self.gpu_world_size = int(os.getenv("WORLD_SIZE", "1"))
        self.is_distributed = self.gpu_world_size > 1
        self.gpu_global_rank = int(os.getenv("RANK", "0")) if self.is_distributed else 0
        self.disable_logs = self.is_distributed and self.gpu_global_rank != 0
        self.git_status_repos = [__file__]
        self.run_key = "__".join(
            [str(train_cfg.get("experiment_name")), str(train_cfg.get("run_name")), f"seed{train_cfg['seed']}"]
            + [os.path.basename(os.path.dirname(log_dir))] * bool(log_dir)
        )

    def add_git_repo_to_log(self, repo_file_path: str) -> None:
        self.git_status_repos.append(repo_file_path)

    def learn(self, num_learning_iterations: int, init_at_random_ep_len: bool = False) -> None:
        """Run ``num_learning_iterations`` iterations from ``current_learning_iteration``."""
        if self.log_dir is not None and self.writer is None and not self.disable_logs:
            logger_type = str(self.cfg.get("logger", "tensorboard")).lower()
            if logger_type != "tensorboard":
                raise ValueError(f"Logger type {logger_type!r} is not provided by the stand-in; use 'tensorboard'.")
            self.writer = _TensorboardWriter(self.log_dir)
        start_iter = self.current_learning_iteration
        tot_iter = start_iter + num_learning_iterations
        pause = standin_knobs.sleep_per_iteration()
        for it in range(start_iter, tot_iter):
            start = time.time()
            if standin_knobs.should_fail_now(it, self.run_key):
                raise RuntimeError(f"stand-in failure injected at iteration {it} (STANDIN_FAIL_AT_ITERATION)")
            rollout = self.env.rollout(self.policy, it)
            if pause:
                time.sleep(pause)
            collection_time = time.time() - start
            loss_dict = _losses(self.policy, it)
            learn_time = max(time.time() - start - collection_time, 1e-6)
            self.current_learning_iteration = it
            if self.log_dir is not None and not self.disable_logs:
                self.log(
                    it, start_iter, tot_iter, num_learning_iterations, rollout, loss_dict, collection_time, learn_time
                )
                if it % self.save_interval == 0:
                    self.save(os.path.join(self.log_dir, f"model_{it}.pt"))
        if self.log_dir is not None and not self.disable_logs:
            self.save(os.path.join(self.log_dir, f"model_{self.current_learning_iteration}.pt"))
        if self.writer is not None:
            self.writer.close()

    def log(
        self,
        it: int,
        start_iter: int,
        tot_iter: int,
        num_learning_iterations: int,
        rollout: dict[str, float],
        loss_dict: dict[str, float],
        collection_time: float,
        learn_time: float,
    ) -> None:
        """One iteration's TensorBoard scalars (step ``it``) and console block, as RSL-RL 2.x writes them."""
        assert self.writer is not None
        collection_size = self.num_steps_per_env * self.env.num_envs
        self.tot_timesteps += collection_size
        iteration_time = collection_time + learn_time
        self.tot_time += iteration_time
        fps = int(collection_size / iteration_time)
        noise_std = 1.0 * math.exp(-it / 200.0)
        learning_rate = float(self.alg_cfg.get("learning_rate", 1e-3))
        for key, value in loss_dict.items():
            self.writer.add_scalar(f"Loss/{key}", value, it)
        self.writer.add_scalar("Loss/learning_rate", learning_rate, it)
        self.writer.add_scalar("Policy/mean_noise_std", noise_std, it)
        self.writer.add_scalar("Perf/total_fps", fps, it)
        self.writer.add_scalar("Perf/collection time", collection_time, it)
        self.writer.add_scalar("Perf/learning_time", learn_time, it)
        self.writer.add_scalar("Train/mean_reward", rollout["mean_reward"], it)
        self.writer.add_scalar("Train/mean_episode_length", rollout["mean_episode_length"], it)
        self.writer.add_scalar("Train/mean_reward/time", rollout["mean_reward"], int(self.tot_time))
        self.writer.add_scalar("Train/mean_episode_length/time", rollout["mean_episode_length"], int(self.tot_time))
        self.writer.flush()  # every iteration: a run that dies keeps what it logged (tests read it back)

        header = f" \033[1m Learning iteration {it}/{tot_iter} \033[0m "
        lines = [
            "#" * WIDTH,
            header.center(WIDTH, " "),
            "",
            f"{'Computation:':>{PAD}} {fps:.0f} steps/s (collection: {collection_time:.3f}s,"
            f" learning {learn_time:.3f}s)",
            f"{'Mean action noise std:':>{PAD}} {noise_std:.2f}",
        ]
        lines += [f"{f'Mean {key} loss:':>{PAD}} {value:.4f}" for key, value in loss_dict.items()]
        lines += [
            f"{'Mean reward:':>{PAD}} {rollout['mean_reward']:.2f}",
            f"{'Mean episode length:':>{PAD}} {rollout['mean_episode_length']:.2f}",
            "-" * WIDTH,
            f"{'Total timesteps:':>{PAD}} {self.tot_timesteps}",
            f"{'Iteration time:':>{PAD}} {iteration_time:.2f}s",
            f"{'Time elapsed:':>{PAD}} {time.strftime('%H:%M:%S', time.gmtime(self.tot_time))}",
        ]
        done = it - start_iter + 1
        eta = self.tot_time / done * (start_iter + num_learning_iterations - it)
        lines.append(f"{'ETA:':>{PAD}} {time.strftime('%H:%M:%S', time.gmtime(eta))}")
        print("\n".join(lines) + "\n", flush=True)

    def save(self, path: str, infos: Any = None) -> None:
        """Write a checkpoint (JSON here; a torch zip upstream) holding the policy and the iteration."""
        saved = {
            "model_state_dict": self.policy,
            "optimizer_state_dict": {"learning_rate": self.alg_cfg.get("learning_rate")},
            "iter": self.current_learning_iteration,
            "infos": infos,
        }
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(saved, handle)

    def load(self, path: str, load_optimizer: bool = True) -> Any:
        """Restore the policy and ``current_learning_iteration`` from a checkpoint written by :meth:`save`."""
        with open(path, encoding="utf-8") as handle:
            loaded = json.load(handle)
        self.policy = dict(loaded["model_state_dict"])
        self.current_learning_iteration = int(loaded["iter"])
        return loaded["infos"]


def _losses(policy: dict[str, Any], it: int) -> dict[str, float]:
    """Deterministic stand-in losses (RSL-RL 2.x keys), so every attempt logs the same values for an iteration."""
    return {
        "value_function": round(policy["gain"] / (1.0 + it), 6),
        "surrogate": round(-0.01 * policy["gain"] * math.exp(-it / 50.0), 6),
        "entropy": round(1.42 - 0.001 * it, 6),
    }


class _TensorboardWriter:
    """``add_scalar`` over tensorboard's ``EventFileWriter`` (``events.out.tfevents.<time>.<host>.<pid>.<n>``)."""

    def __init__(self, log_dir: str):
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._event, self._summary = Event, Summary
        self._writer = EventFileWriter(log_dir, max_queue_size=1000, flush_secs=10)

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        summary = self._summary(value=[self._summary.Value(tag=tag, simple_value=float(value))])
        self._writer.add_event(self._event(wall_time=time.time(), step=int(step), summary=summary))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
