"""What the user asked for: a sweep spec (task, seeds, grid, flags) and its expansion into one RunSpec per run.

Pure data and validation; nothing here touches the filesystem or a cluster.

Names. A grid point has two names (see :mod:`hpc_sweep.names`). Its *group*, what people read in ``collect`` and
``compare``, is :func:`hpc_sweep.names.point_label` (``learning_rate=0.001``; ``<common_folder>`` without a grid).
Its *folder* is ``<common_folder>_<point label>`` (just ``<common_folder>`` without a grid), a plain name (see
:func:`hpc_sweep.names.check_path_component`), and the run name is ``<folder>_seed<seed>``. Point labels are distinct
for distinct grid points, also when values sanitise alike (``a b`` and ``a_b`` get a hash of the raw value appended,
see :func:`hpc_sweep.names.point_labels`), so two points never share a group or a folder and two runs never share a
run name or a log directory. Each run's ``point`` (and the manifest) holds each key's value exactly as the run's
override spells it (``{"agent.policy.actor_hidden_dims": "[256,128]"}``), where ``compare --by`` reads it. With a
grid, the folder is also the run's ``common_folder`` (BALLU's ``--common_folder``, whose logs are
``<common_folder>/seed_<seed>``), so that grid points with the same seed do not write into one directory.

Grid values and overrides are Hydra's grammar, parsed by hydra-core (:mod:`hpc_sweep.grid`): a grid value is one
Hydra value, and each run's override ``key=value`` is one Hydra accepts. A key is set once: twice in the grid, or in
the grid and a pass-through override, is refused.

Flags the tool sets. The training command's ``--task --seed --max_iterations --num_envs --run_name
--common_folder --headless --world --distributed`` and its resume flags are hpc-sweep's: each is recorded in the
manifest, and a second copy in ``--additional_args`` (or after ``--``) would silently contradict the record, so it
is refused with the hpc-sweep flag to use (also as ``--flag=value``, with dashes, or abbreviated, as argparse
accepts abbreviations). ``--headless`` is refused too, although a duplicate would be harmless when it is on: one
rule, and ``--no-headless`` is the way to turn it off. Hydra overrides that set the same values
(``agent.max_iterations``, ``agent.seed``, ``env.seed``, ``env.scene.num_envs``, ``agent.run_name`` and the
agent's resume keys) are refused in ``--grid`` and in pass-through arguments alike, and so is a pass-through override
of one of our own grid keys (``num_envs=256``: use ``--num_envs``), which is no Hydra key.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from hpc_sweep.errors import UsageError
from hpc_sweep.grid import FLAG_KEYS, check_hydra_value, is_override_token, parse_override
from hpc_sweep.grid import parse_grid as parse_grid  # re-exported: the command line imports it from here
from hpc_sweep.grid import split_overrides as split_overrides
from hpc_sweep.names import (
    RUN_NAME_MAX,
    bare_key,
    check_one_line,
    check_path_component,
    group_labels,
    point_labels,
    shown,
)

DEFAULT_TASK = "Demo-PointMass-v0"
DEFAULT_SEEDS = (42, 123, 456, 789, 999)
DEFAULT_MAX_ITERATIONS = 1000
DEFAULT_NUM_ENVS = 4096

#: A task name (a gym id without namespace): it may name directories, so no '/' and no leading '-' or '.'.
_TASK = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]*")
_RESUME = "--resume (or hpc-sweep resubmit), which resumes each run from its own checkpoints"
#: Flags of the training command that hpc-sweep sets itself -> the hpc-sweep flag to use instead.
OWNED_FLAGS: dict[str, str] = {
    "task": "--task",
    "seed": "--seeds",
    "max_iterations": "--max_iterations",
    "num_envs": "--num_envs",
    "run_name": "--common_folder (run names are <common_folder>[_<grid point>]_seed<seed>)",
    "common_folder": "--common_folder",
    "headless": "--headless (on by default) or --no-headless",
    "world": "--world",
    "distributed": "--gpus_per_run or --nodes",
    "resume": _RESUME,
    "load_run": _RESUME,
    "checkpoint": _RESUME,
    "resume_path": _RESUME,
}
#: Hydra override keys that set what those flags set -> the hpc-sweep flag to use instead.
OWNED_OVERRIDES: dict[str, str] = {
    "agent.max_iterations": "--max_iterations (or --grid max_iterations=...)",
    "agent.seed": "--seeds",
    "env.seed": "--seeds",
    "env.scene.num_envs": "--num_envs (or --grid num_envs=...)",
    "agent.run_name": "--common_folder",
    "agent.resume": _RESUME,
    "agent.load_run": _RESUME,
    "agent.load_checkpoint": _RESUME,
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class SweepSpec:
    """One sweep as the user described it, before expansion into runs."""

    task: str = DEFAULT_TASK
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    max_iterations: int = DEFAULT_MAX_ITERATIONS
    num_envs: int = DEFAULT_NUM_ENVS
    common_folder: str = ""
    headless: bool = True
    world: bool = False
    additional_args: tuple[str, ...] = ()
    grid: tuple[tuple[str, tuple[str, ...]], ...] = ()
    gpus_per_run: int = 1
    runs_per_gpu: int = 1
    nodes: int = 1  # nodes per run: > 1 spreads one run over several nodes (torch.distributed.run, --distributed)

    def validate(self) -> None:
        """Raise :class:`UsageError` naming the first problem and its fix."""
        check_task("--task", self.task)
        if not self.seeds:
            raise UsageError("--seeds is empty: give at least one integer seed, e.g. --seeds 42 123")
        duplicates = sorted({seed for seed in self.seeds if self.seeds.count(seed) > 1})
        if duplicates:
            raise UsageError(f"--seeds repeats {', '.join(map(str, duplicates))}: give each seed once")
        _require_positive("--max_iterations", self.max_iterations)
        _require_positive("--num_envs", self.num_envs)
        _require_positive("--gpus_per_run", self.gpus_per_run)
        _require_positive("--runs_per_gpu", self.runs_per_gpu)
        _require_positive("--nodes", self.nodes)
        if self.nodes > 1 and self.runs_per_gpu > 1:
            raise UsageError(
                "--runs_per_gpu shares one GPU between runs and --nodes spreads one run over several nodes: "
                "give only one of them"
            )
        if self.gpus_per_run > 1 and self.runs_per_gpu > 1:
            raise UsageError(
                "--runs_per_gpu shares one GPU between runs and --gpus_per_run spreads one run over several: "
                "give only one of them"
            )
        check_path_component("--common_folder", self.common_folder)
        for arg in self.additional_args:
            check_passthrough(arg)
        for key, values in self.grid:
            self._check_grid_axis(key, values)
        self._check_keys_set_once()

    def _check_keys_set_once(self) -> None:
        """No key in two grid axes (``x`` and ``+x``), nor in the grid and a pass-through override, nor in two of those:
        which one would win is nobody's guess."""
        seen: dict[str, str] = {}
        given = [(key, f"--grid {key}") for key, _ in self.grid]
        given += [
            (parse_override(arg, "override").key_or_group, arg) for arg in self.additional_args if _is_override(arg)
        ]
        for key, where in given:
            bare = bare_key(key).partition("@")[0]
            if bare in seen:
                raise UsageError(f"{bare} is set twice ({shown(seen[bare])} and {shown(where)}): set it once")
            seen[bare] = where

    def _check_grid_axis(self, key: str, values: tuple[str, ...]) -> None:
        """One grid axis: a valid key, one-line values, and no two values that set one of our flags alike."""
        check_one_line("--grid key", key)
        if not values:
            raise UsageError(f"--grid {shown(key)} has no values: give at least one, e.g. {key}=A,B")
        for value in values:
            check_one_line(f"--grid {key}=", value, allow_tab=True)
        applied = [_apply_grid_value(self, key, value)[0] for value in values]
        settings = [getattr(a, key) if key in FLAG_KEYS else v for a, v in zip(applied, values, strict=True)]
        twice = next((values[i] for i, setting in enumerate(settings) if settings.index(setting) != i), None)
        if twice is not None:
            raise UsageError(
                f"--grid {key}={shown(','.join(values))} gives {key} the same value twice ({shown(twice)}): "
                "give each value once"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as stored in the manifest."""
        data = asdict(self)
        data["grid"] = {key: list(values) for key, values in self.grid}
        return data


@dataclass(frozen=True)
class RunSpec:
    """One training run: a seed at one grid point, with every flag resolved."""

    run_id: str
    index: int
    seed: int
    task: str
    max_iterations: int
    num_envs: int
    world: bool
    headless: bool
    run_name: str
    group: str
    common_folder: str
    point: dict[str, str] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()
    additional_args: tuple[str, ...] = ()
    gpus_per_run: int = 1
    nodes: int = 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as stored in the manifest."""
        data = asdict(self)
        data["overrides"] = list(self.overrides)
        data["additional_args"] = list(self.additional_args)
        return data


def expand_runs(spec: SweepSpec) -> list[RunSpec]:
    """Expand the Cartesian product of the grid times the seeds into runs, grid-major then seed order."""
    spec.validate()
    keys = [key for key, _ in spec.grid]
    points = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(v for _, v in spec.grid))]
    runs: list[RunSpec] = []
    names = zip(points, point_labels(spec.grid, points), group_labels(points), strict=True)
    for point, label, readable in names:
        point_spec = spec
        overrides: list[str] = []
        for key, value in point.items():
            point_spec, override = _apply_grid_value(point_spec, key, value)
            if override:
                overrides.append(override)
        folder = f"{spec.common_folder}_{label}" if label else spec.common_folder
        group = readable or spec.common_folder
        for seed in spec.seeds:
            index = len(runs)
            run_name = f"{folder}_seed{seed}"
            if len(run_name.encode()) > RUN_NAME_MAX:
                raise UsageError(
                    f"run name {run_name[:40]}... is over {RUN_NAME_MAX} bytes (it becomes a directory name); "
                    "shorten --common_folder or the grid's keys"
                )
            runs.append(
                RunSpec(
                    run_id=f"{index:04d}",
                    index=index,
                    seed=seed,
                    task=point_spec.task,
                    max_iterations=point_spec.max_iterations,
                    num_envs=point_spec.num_envs,
                    world=point_spec.world,
                    headless=spec.headless,
                    run_name=check_path_component("run name", run_name),
                    group=group,
                    common_folder=folder,
                    point=dict(point),
                    overrides=tuple(overrides),
                    additional_args=spec.additional_args,
                    gpus_per_run=spec.gpus_per_run,
                    nodes=spec.nodes,
                )
            )
    return runs


def check_task(where: str, task: str) -> str:
    """A task name as a gym id without namespace (``Isaac-Velocity-Rough-Anymal-C-v0``): letters, digits, ``_ . :
    -``, not starting with ``-`` or ``.`` (it is passed as one argument and may name directories)."""
    check_one_line(where, task)
    if not _TASK.fullmatch(task):
        raise UsageError(
            f"{where} {shown(task)} is not a task name: use letters, digits, '_', '.', ':' and '-', starting with a "
            "letter or digit (e.g. --task Demo-PointMass-v0)"
        )
    return task


def check_passthrough(arg: str) -> str:
    """A pass-through argument (``--additional_args``, after ``--``, or a trailing override): one line, not a flag or
    Hydra override that sets what hpc-sweep sets (see the module docstring), and, when it reads as a Hydra override
    (:func:`hpc_sweep.grid.is_override_token`), one that Hydra accepts with one value."""
    check_one_line("--additional_args", arg, allow_tab=True)
    if arg.startswith("--"):
        name = arg[2:].partition("=")[0].replace("-", "_")
        owned = name if name in OWNED_FLAGS else next((f for f in OWNED_FLAGS if name and f.startswith(name)), None)
        if owned is not None:
            spelled = "" if owned == name else f" (argparse reads it as --{owned})"
            raise UsageError(
                f"--additional_args {shown(arg)}{spelled}: hpc-sweep sets --{owned} itself and records it; "
                f"use {OWNED_FLAGS[owned]} instead"
            )
    elif _is_override(arg):
        override = parse_override(arg, "override")
        where = f"override {shown(arg)}"
        _check_override_key(override.key_or_group, where)
        if override.key_or_group in FLAG_KEYS:
            raise UsageError(
                f"{where}: {override.key_or_group} is hpc-sweep's own flag, not a Hydra key: use "
                f"--{override.key_or_group} (or {override.key_or_group}=A,B to sweep it)"
            )
        if override.is_sweep_override():
            raise UsageError(
                f"{where} is a Hydra sweep, and one run takes one value: give it as a plain argument (not after "
                "--additional_args or --) or in --grid, where it becomes a grid axis (quote strings with commas: 'a,b')"
            )
    return arg


def _is_override(arg: str) -> bool:
    """A pass-through argument that reads as a Hydra override (not a flag, nor a flag's plain value)."""
    return not arg.startswith("-") and is_override_token(arg)


def _check_override_key(key: str, where: str) -> None:
    bare = bare_key(key.strip()).partition("@")[0]
    if bare in OWNED_OVERRIDES:
        raise UsageError(f"{where}: {bare} is what hpc-sweep sets; use {OWNED_OVERRIDES[bare]} instead")


def _apply_grid_value(spec: SweepSpec, key: str, value: str) -> tuple[SweepSpec, str | None]:
    """Return the spec with one grid value applied, and the Hydra override it becomes (None for our own flags)."""
    if key in ("num_envs", "max_iterations"):
        try:
            number = int(value)
        except ValueError:
            raise UsageError(f"--grid {key}={value!r}: {key} takes integers, e.g. {key}=2048,4096") from None
        _require_positive(f"--grid {key}", number)
        return replace(spec, **{key: number}), None
    if key == "world":
        lowered = value.lower()
        if lowered not in _TRUE | _FALSE:
            raise UsageError(f"--grid world={value!r}: world takes true/false, e.g. world=false,true")
        return replace(spec, world=lowered in _TRUE), None
    if key == "task":
        return replace(spec, task=check_task("--grid task", value)), None
    bare = bare_key(key).partition("@")[0]
    if bare in ("seed", "seeds"):
        raise UsageError("--grid cannot vary the seed: list seeds with --seeds")
    if bare in FLAG_KEYS:
        raise UsageError(f"--grid {shown(key)}: {bare} is hpc-sweep's own flag: write {bare}=A,B without a prefix")
    _check_override_key(key, f"--grid {shown(key)}")
    return spec, check_hydra_value(key, value)


def _require_positive(name: str, value: int) -> None:
    if value <= 0:
        raise UsageError(f"{name} must be a positive integer, got {value}")
