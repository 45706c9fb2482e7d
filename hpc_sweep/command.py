"""The one place that turns a run into the training command's argv (never a shell string).

The argv follows Isaac Lab's ``train.py`` CLI: our flags first (``--task --seed --max_iterations --num_envs``, then
the optional flags the profile declares), then the user's pass-through arguments, then Hydra overrides.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hpc_sweep.errors import UsageError
from hpc_sweep.profiles import Profile
from hpc_sweep.spec import RunSpec


@dataclass(frozen=True)
class ResolvedCommand:
    """A run's command, ready for ``subprocess``: argv plus the directory it runs in."""

    argv: tuple[str, ...]
    workdir: str


def build_command(run: RunSpec, profile: Profile, sweep_dir: Path, python: str) -> ResolvedCommand:
    """Return the argv and working directory of ``run`` under ``profile``.

    ``python`` fills the ``{python}`` placeholder: the interpreter that will run the job (the current one locally,
    the profile's ``slurm.python`` on a cluster).
    """
    if run.world and "world" not in profile.flags:
        raise UsageError(
            f"--world: profile {profile.name!r} declares no --world flag for its training script; "
            'use a profile whose [command].flags include "world" (e.g. --profile ballu)'
        )
    expand = lambda text: profile.expand(text, sweep_dir, python)  # noqa: E731 - a closure keeps the calls short
    argv = [expand(part) for part in profile.launcher]
    if run.gpus_per_run > 1:
        argv = _distributed_launcher(argv, run.gpus_per_run)
    argv.append(expand(profile.script))
    argv += ["--task", run.task, "--seed", str(run.seed)]
    argv += ["--max_iterations", str(run.max_iterations), "--num_envs", str(run.num_envs)]
    if run.headless and "headless" in profile.flags:
        argv.append("--headless")
    if "run_name" in profile.flags:
        argv += ["--run_name", run.run_name]
    if "common_folder" in profile.flags:
        argv += ["--common_folder", run.common_folder]
    if run.world:
        argv.append("--world")
    argv += [expand(arg) for arg in profile.extra_args]
    if run.gpus_per_run > 1:
        argv.append("--distributed")
    argv += list(run.additional_args)
    argv += list(run.overrides)
    return ResolvedCommand(argv=tuple(argv), workdir=expand(profile.workdir))


def _distributed_launcher(launcher: list[str], nproc: int) -> list[str]:
    """Wrap the launcher in ``torch.distributed.run`` over ``nproc`` GPUs of one node (Isaac Lab's documented way).

    ``python -m pkg.train`` becomes ``python -m torch.distributed.run ... -m pkg.train``; ``./isaaclab.sh -p`` becomes
    ``./isaaclab.sh -p -m torch.distributed.run ... script.py``.
    """
    module = bool(launcher) and launcher[-1] == "-m"
    base = launcher[:-1] if module else launcher
    wrapped = [*base, "-m", "torch.distributed.run", "--nnodes=1", f"--nproc_per_node={nproc}"]
    return [*wrapped, "-m"] if module else wrapped
