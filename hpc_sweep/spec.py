"""What the user asked for: a sweep spec (task, seeds, grid, flags) and its expansion into one RunSpec per run.

Pure data and validation; nothing here touches the filesystem or a cluster.

Names. A run's group is ``<common_folder>_<point label>`` (just ``<common_folder>`` without a grid) and its run name
``<group>_seed<seed>``; both become directory names, so they are plain names (see
:func:`hpc_sweep.names.check_path_component`). Point labels are distinct for distinct grid points, also when values
sanitise alike (``a b`` and ``a_b`` get a hash of the raw value appended, see :func:`hpc_sweep.names.point_labels`),
so two points never share a group and two runs never share a run name or a log directory. The raw values stay in
each run's ``point`` (and the manifest), where ``compare --by`` reads them. With a grid, the group is also the
run's ``common_folder`` (BALLU's ``--common_folder``, whose logs are ``<common_folder>/seed_<seed>``), so that grid
points with the same seed do not write into one directory.

Flags the tool sets. The training command's ``--task --seed --max_iterations --num_envs --run_name
--common_folder --headless --world --distributed`` and its resume flags are hpc-sweep's: each is recorded in the
manifest, and a second copy in ``--additional_args`` (or after ``--``) would silently contradict the record, so it
is refused with the hpc-sweep flag to use (also as ``--flag=value``, with dashes, or abbreviated, as argparse
accepts abbreviations). ``--headless`` is refused too, although a duplicate would be harmless when it is on: one
rule, and ``--no-headless`` is the way to turn it off. Hydra overrides that set the same values
(``agent.max_iterations``, ``agent.seed``, ``env.seed``, ``env.scene.num_envs``, ``agent.run_name`` and the
agent's resume keys) are refused in ``--grid`` and in pass-through arguments alike.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from hpc_sweep.errors import UsageError
from hpc_sweep.names import RUN_NAME_MAX, check_one_line, check_path_component, point_labels, shown

DEFAULT_TASK = "Demo-PointMass-v0"
DEFAULT_SEEDS = (42, 123, 456, 789, 999)
DEFAULT_MAX_ITERATIONS = 1000
DEFAULT_NUM_ENVS = 4096

#: Grid keys that set one of our own flags instead of becoming a Hydra override.
FLAG_KEYS = ("task", "num_envs", "max_iterations", "world")

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
    "distributed": "--gpus_per_run",
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

    def _check_grid_axis(self, key: str, values: tuple[str, ...]) -> None:
        """One grid axis: a valid key, one-line values, and no two values that set one of our flags alike."""
        check_one_line("--grid key", key)
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as stored in the manifest."""
        data = asdict(self)
        data["overrides"] = list(self.overrides)
        data["additional_args"] = list(self.additional_args)
        return data


def parse_grid(items: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Parse ``KEY=V1,V2`` items into an ordered grid; repeated keys and empty values are errors."""
    grid: dict[str, tuple[str, ...]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        values = tuple(value.strip() for value in raw.split(","))
        if not sep or not key or any(not value for value in values):
            raise UsageError(f"--grid {item!r} is malformed: write KEY=V1,V2 (e.g. --grid num_envs=2048,4096)")
        if key in grid:
            raise UsageError(f"--grid names {key!r} twice: give all its values once, e.g. {key}=A,B")
        if len(set(values)) != len(values):
            raise UsageError(f"--grid {item!r} repeats a value: give each value once")
        grid[key] = values
    return tuple(grid.items())


def expand_runs(spec: SweepSpec) -> list[RunSpec]:
    """Expand the Cartesian product of the grid times the seeds into runs, grid-major then seed order."""
    spec.validate()
    keys = [key for key, _ in spec.grid]
    points = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(v for _, v in spec.grid))]
    runs: list[RunSpec] = []
    for point, label in zip(points, point_labels(spec.grid, points), strict=True):
        point_spec = spec
        overrides: list[str] = []
        for key, value in point.items():
            point_spec, override = _apply_grid_value(point_spec, key, value)
            if override:
                overrides.append(override)
        group = f"{spec.common_folder}_{label}" if label else spec.common_folder
        for seed in spec.seeds:
            index = len(runs)
            run_name = f"{group}_seed{seed}"
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
                    common_folder=group,
                    point=dict(point),
                    overrides=tuple(overrides),
                    additional_args=spec.additional_args,
                    gpus_per_run=spec.gpus_per_run,
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
    """A pass-through argument (``--additional_args`` or after ``--``): one line, and not a flag or Hydra override
    that sets what hpc-sweep sets (see the module docstring)."""
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
    elif "=" in arg and not arg.startswith("-"):
        _check_override_key(arg.partition("=")[0], f"--additional_args {shown(arg)}")
    return arg


def _check_override_key(key: str, where: str) -> None:
    bare = key.strip().lstrip("+~")
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
    if key in ("seed", "seeds"):
        raise UsageError("--grid cannot vary the seed: list seeds with --seeds")
    if not re.fullmatch(r"[A-Za-z_][\w.\-/]*", key, re.ASCII):
        raise UsageError(
            f"--grid key {shown(key)} is not a flag or a Hydra key: use e.g. agent.algorithm.learning_rate=A,B"
        )
    _check_override_key(key, f"--grid {shown(key)}")
    return spec, f"{key}={value}"


def _require_positive(name: str, value: int) -> None:
    if value <= 0:
        raise UsageError(f"{name} must be a positive integer, got {value}")
