"""The one place that turns a run into the training command's argv (never a shell string), fresh or resumed.

The argv follows Isaac Lab's ``train.py`` CLI: our flags first (``--task --seed --max_iterations --num_envs``, then
the optional flags the profile declares), then the user's pass-through arguments, then Hydra overrides, then (for a
resumed attempt) the profile's resume flags. A command is kept in parts (:class:`TrainingCommand`), so the job
wrapper builds a resumed attempt's argv from the run, with the remaining iterations, instead of patching a list.
Imports only the standard library at run time: the job wrapper on every node builds its resume argv here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpc_sweep.errors import UsageError

if TYPE_CHECKING:  # the job wrapper imports this module: the planning code stays off the compute node
    from hpc_sweep.profiles import Profile
    from hpc_sweep.spec import RunSpec


@dataclass(frozen=True)
class TrainingCommand:
    """A run's training command in parts, with placeholders and environment variables already expanded."""

    program: tuple[str, ...]  # launcher (wrapped in torch.distributed.run for several GPUs) + training script
    task: str
    seed: int
    max_iterations: int
    num_envs: int
    options: tuple[str, ...]  # the profile's optional flags (--headless, --run_name ..., --world) and extra args
    passthrough: tuple[str, ...]  # the user's additional arguments, then Hydra overrides
    workdir: str
    resume: str  # the profile's resume style (see hpc_sweep.profiles.RESUME_STYLES)

    @property
    def argv(self) -> tuple[str, ...]:
        """The argv of a fresh attempt: every planned iteration."""
        return self._argv(self.max_iterations, ())

    def resume_argv(self, checkpoint: tuple[Path, int]) -> tuple[str, ...]:
        """The argv of an attempt that resumes from ``checkpoint`` (its path and iteration ``k``).

        RSL-RL's runner continues from the checkpoint's iteration ``k`` (redoing ``k``), so ``max_iterations - k``
        more iterations end exactly at the planned last iteration. Styles: ``isaaclab`` (``--resume --load_run
        ^<dir>$ --checkpoint ^<file>$``, escaped regular expressions), ``checkpoint_path`` (newer Isaac Lab:
        ``--resume --checkpoint <path>``), ``resume_path`` (BALLU: ``--resume_path <path>``); ``none`` starts over.
        """
        if self.resume == "none":
            return self.argv
        path, iteration = checkpoint
        remaining = max(1, self.max_iterations - iteration)
        if self.resume == "checkpoint_path":
            flags: tuple[str, ...] = ("--resume", "--checkpoint", str(path))
        elif self.resume == "resume_path":
            flags = ("--resume_path", str(path))
        else:
            # Isaac Lab matches both as regular expressions with re.match (a prefix match) and takes the last
            # match in sorted order: "..._seed1" would also select "..._seed10". Anchored and escaped, each selects
            # exactly this run's own directory and file.
            flags = ("--resume", "--load_run", _exactly(path.parent.name), "--checkpoint", _exactly(path.name))
        return self._argv(remaining, flags)

    def _argv(self, iterations: int, resume_flags: tuple[str, ...]) -> tuple[str, ...]:
        head = ("--task", self.task, "--seed", str(self.seed))
        sizes = ("--max_iterations", str(iterations), "--num_envs", str(self.num_envs))
        return (*self.program, *head, *sizes, *self.options, *self.passthrough, *resume_flags)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as stored in the manifest (``resubmit`` rebuilds the command from it)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingCommand:
        """The command a manifest recorded."""
        tuples = ("program", "options", "passthrough")
        return cls(**{key: tuple(value) if key in tuples else value for key, value in data.items()})


@dataclass(frozen=True)
class JobRequest:
    """Everything one job needs, as plain picklable values (the node imports no planning code)."""

    sweep_dir: str
    run_id: str
    command: TrainingCommand
    run_name: str
    common_folder: str
    layout: str
    gpu: str | None = None
    echo: bool = False
    #: Variables the training gets on top of the job's environment, planned once and recorded in the manifest
    #: (``resubmit`` rebuilds them from there): W&B's run identity, see :func:`hpc_sweep.plan.wandb_env`.
    env: tuple[tuple[str, str], ...] = ()

    @property
    def seed(self) -> int:
        return self.command.seed

    @property
    def workdir(self) -> str:
        return self.command.workdir

    @property
    def argv(self) -> tuple[str, ...]:
        """The fresh attempt's argv."""
        return self.command.argv


def _exactly(name: str) -> str:
    """A regular expression that ``re.match`` accepts for ``name`` and nothing else."""
    return f"^{re.escape(name)}$"


def build_command(run: RunSpec, profile: Profile, sweep_dir: Path, python: str) -> TrainingCommand:
    """Return the command of ``run`` under ``profile``.

    ``python`` fills the ``{python}`` placeholder: the interpreter that will run the job (the current one locally,
    the profile's ``slurm.python`` on a cluster).
    """
    if run.world and "world" not in profile.flags:
        raise UsageError(
            f"--world: profile {profile.name!r} declares no --world flag for its training script; "
            'use a profile whose [command].flags include "world" (e.g. --profile ballu)'
        )
    expand = lambda text: profile.expand(text, sweep_dir, python)  # noqa: E731 - a closure keeps the calls short
    launcher = [expand(part) for part in profile.launcher]
    if run.gpus_per_run > 1 or run.nodes > 1:
        launcher = _distributed_launcher(launcher, run.gpus_per_run, run.nodes)
    options: list[str] = []
    if run.headless and "headless" in profile.flags:
        options.append("--headless")
    if "run_name" in profile.flags:
        options += ["--run_name", run.run_name]
    if "common_folder" in profile.flags:
        options += ["--common_folder", run.common_folder]
    if run.world:
        options.append("--world")
    options += [expand(arg) for arg in profile.extra_args]
    if run.gpus_per_run > 1 or run.nodes > 1:
        options.append("--distributed")
    return TrainingCommand(
        program=(*launcher, expand(profile.script)),
        task=run.task,
        seed=run.seed,
        max_iterations=run.max_iterations,
        num_envs=run.num_envs,
        options=tuple(options),
        passthrough=(*run.additional_args, *run.overrides),
        workdir=expand(profile.workdir),
        resume=profile.resume,
    )


def _distributed_launcher(launcher: list[str], nproc: int, nodes: int = 1) -> list[str]:
    """Wrap the launcher in ``torch.distributed.run`` over ``nproc`` GPUs of each of ``nodes`` nodes (Isaac Lab's
    documented way).

    ``python -m pkg.train`` becomes ``python -m torch.distributed.run ... -m pkg.train``; ``./isaaclab.sh -p`` becomes
    ``./isaaclab.sh -p -m torch.distributed.run ... script.py``. Over several nodes the rendezvous is static: each
    node's task passes its own ``--node_rank`` and the first node of the allocation as master (see
    :func:`place_on_node`, which fills the placeholders on the node), so global rank 0, the rank that logs and saves
    checkpoints, runs on the first node, whose task writes the run's record from its console.
    """
    module = bool(launcher) and launcher[-1] == "-m"
    base = launcher[:-1] if module else launcher
    if nodes > 1:
        where = [f"--node_rank={NODE_RANK}", f"--master_addr={MASTER_ADDR}", f"--master_port={MASTER_PORT}"]
        wrapped = [*base, "-m", "torch.distributed.run", f"--nnodes={nodes}", f"--nproc_per_node={nproc}", *where]
    else:
        wrapped = [*base, "-m", "torch.distributed.run", "--nnodes=1", f"--nproc_per_node={nproc}"]
    return [*wrapped, "-m"] if module else wrapped


#: Placeholders of a multi-node command, filled on each node by :func:`place_on_node`.
NODE_RANK, MASTER_ADDR, MASTER_PORT = "{node_rank}", "{master_addr}", "{master_port}"


def place_on_node(argv: Sequence[str], node_rank: int, master_addr: str, master_port: int) -> list[str]:
    """A multi-node command as one node runs it: its rank among the run's nodes and the master's address and port."""
    values = {NODE_RANK: str(node_rank), MASTER_ADDR: master_addr, MASTER_PORT: str(master_port)}
    placed = []
    for token in argv:
        for key, value in values.items():
            token = token.replace(key, value)
        placed.append(token)
    return placed


def is_multi_node(argv: Sequence[str]) -> bool:
    """Whether a command spans several nodes (it holds the placeholders :func:`place_on_node` fills)."""
    return any(NODE_RANK in token for token in argv)
