"""What the user asked for: a sweep spec (task, seeds, grid, flags) and its expansion into one RunSpec per run.

Pure data and validation; nothing here touches the filesystem or a cluster.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from hpc_sweep.errors import UsageError

DEFAULT_TASK = "Demo-PointMass-v0"
DEFAULT_SEEDS = (42, 123, 456, 789, 999)
DEFAULT_MAX_ITERATIONS = 1000
DEFAULT_NUM_ENVS = 4096

#: Grid keys that set one of our own flags instead of becoming a Hydra override.
FLAG_KEYS = ("task", "num_envs", "max_iterations", "world")

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
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
        if not self.task.strip():
            raise UsageError("--task is empty: give a task name, e.g. --task Demo-PointMass-v0")
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
        if not self.common_folder or _SAFE_NAME.search(self.common_folder):
            raise UsageError(
                f"--common_folder {self.common_folder!r} must be a plain name of letters, digits, '.', '_' or '-'"
            )
        for key, values in self.grid:
            for value in values:
                _apply_grid_value(self, key, value)

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
    for point in points:
        point_spec = spec
        overrides: list[str] = []
        for key, value in point.items():
            point_spec, override = _apply_grid_value(point_spec, key, value)
            if override:
                overrides.append(override)
        label = point_label(point)
        group = f"{spec.common_folder}_{label}" if label else spec.common_folder
        for seed in spec.seeds:
            index = len(runs)
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
                    run_name=f"{group}_seed{seed}",
                    group=group,
                    common_folder=spec.common_folder,
                    point=dict(point),
                    overrides=tuple(overrides),
                    additional_args=spec.additional_args,
                    gpus_per_run=spec.gpus_per_run,
                )
            )
    return runs


def point_label(point: dict[str, str]) -> str:
    """A filesystem-safe label of a grid point, e.g. ``num_envs-2048_lr-0.001``; empty for no grid."""
    parts = [f"{key.rsplit('.', 1)[-1]}-{value}" for key, value in point.items()]
    return _SAFE_NAME.sub("_", "_".join(parts))


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
        return replace(spec, task=value), None
    if key in ("seed", "seeds"):
        raise UsageError("--grid cannot vary the seed: list seeds with --seeds")
    if not re.fullmatch(r"[A-Za-z_][\w.\-/]*", key):
        raise UsageError(f"--grid key {key!r} is not a flag or a Hydra key: use e.g. agent.algorithm.learning_rate=A,B")
    return spec, f"{key}={value}"


def _require_positive(name: str, value: int) -> None:
    if value <= 0:
        raise UsageError(f"{name} must be a positive integer, got {value}")
