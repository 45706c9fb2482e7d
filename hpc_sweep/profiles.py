"""Cluster/training profiles: TOML files in ``slurm_templates/`` that say how a run's command is launched.

The shipped profiles are package data (``hpc_sweep/slurm_templates/``; the repository's top-level
``slurm_templates`` is a link to that directory, so there is one copy to edit), read through
:mod:`importlib.resources`: a checkout, an editable install and a wheel install see the same files. Users add their
own in ``./slurm_templates`` or in directories named by ``$HPC_SWEEP_PROFILE_PATH`` (see :func:`profile_dirs`).

A profile names the launcher prefix (``python``, ``./isaaclab.sh -p``, an ``apptainer exec`` line), the training
script, the working directory, which optional flags the script accepts, and Slurm resources (``[slurm]``; ``[then]``
for the collect job that follows the sweep, see :func:`hpc_sweep.resources.then_parameters`). Profiles are
validated here, at the edge, so that a typo fails before anything is created or submitted.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from hpc_sweep.errors import UsageError
from hpc_sweep.logs.layouts import LAYOUTS
from hpc_sweep.names import check_one_line, shown
from hpc_sweep.resources import BY_NAME as SLURM_RESOURCES
from hpc_sweep.resources import resource_value, then_parameters

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: Optional flags a training script may accept; the command builder passes only those the profile lists.
KNOWN_FLAGS = frozenset({"headless", "run_name", "common_folder", "world"})
_SECTIONS = {
    "description": str,
    "command": dict,
    "slurm": dict,
    "then": dict,
    "vars": dict,
}
_COMMAND_KEYS = frozenset({"launcher", "script", "workdir", "flags", "extra_args", "resume", "layout"})
#: How a training script resumes from a checkpoint (see hpc_sweep.command.TrainingCommand.argv).
RESUME_STYLES = frozenset({"isaaclab", "checkpoint_path", "resume_path", "none"})
DEFAULT_RESUME = "isaaclab"
DEFAULT_LAYOUT = "isaaclab"
_PLACEHOLDER = re.compile(r"(?<!\$)\{(\w+)\}")
_DEMO_TASK_PREFIX = "Demo-"
#: The shipped profiles' directory inside the package (package data; the repository's top-level one links here).
SHIPPED_DIR = "slurm_templates"


@dataclass(frozen=True)
class Profile:
    """A validated profile. Strings may hold ``{python}``, ``{sweep_dir}``, ``{<var>}`` and ``$ENV`` placeholders."""

    name: str
    source: str
    description: str = ""
    launcher: tuple[str, ...] = ("{python}",)
    script: str = "train.py"
    workdir: str = "{sweep_dir}"
    flags: frozenset[str] = frozenset({"headless", "run_name"})
    extra_args: tuple[str, ...] = ()
    resume: str = DEFAULT_RESUME
    layout: str = DEFAULT_LAYOUT
    slurm: dict[str, Any] = field(default_factory=dict)
    then: dict[str, Any] = field(default_factory=dict)  # the collect job's resources (see resources.then_parameters)
    vars: dict[str, str] = field(default_factory=dict)

    def with_overrides(
        self, launcher: str | None = None, script: str | None = None, workdir: str | None = None
    ) -> Profile:
        """Return a copy with command-line overrides applied (flags win over the file)."""
        updated = self
        if launcher is not None:
            updated = replace(updated, launcher=tuple(split_words(launcher, "--launcher")))
        if script is not None:
            updated = replace(updated, script=check_one_line("--train_script", script, allow_tab=True))
        if workdir is not None:
            updated = replace(updated, workdir=check_one_line("--workdir", workdir, allow_tab=True))
        return updated

    def expand(self, text: str, sweep_dir: Path, python: str) -> str:
        """Fill placeholders and environment variables; an unresolved one is a :class:`UsageError`."""
        values = {"python": python, "sweep_dir": str(sweep_dir), **self.vars}

        def substitute(match: re.Match[str]) -> str:
            key = match.group(1)
            if key not in values:
                raise UsageError(
                    f"profile {self.name!r}: unknown placeholder {{{key}}}; define it under [vars] in {self.source}"
                )
            return values[key]

        expanded = os.path.expandvars(_PLACEHOLDER.sub(substitute, text))
        missing = re.search(r"\$\{?(\w+)", expanded)
        if missing:
            raise UsageError(
                f"profile {self.name!r}: environment variable {missing.group(1)} is not set; "
                f"export it or override the path with a flag (--workdir/--train_script/--launcher)"
            )
        return expanded

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """The profile a manifest recorded (:meth:`to_dict`'s inverse): a tune controller plans new runs with it."""
        return cls(
            name=data["name"],
            source=data["source"],
            description=data.get("description", ""),
            launcher=tuple(data.get("launcher", ("{python}",))),
            script=data.get("script", "train.py"),
            workdir=data.get("workdir", "{sweep_dir}"),
            flags=frozenset(data.get("flags", ())),
            extra_args=tuple(data.get("extra_args", ())),
            resume=data.get("resume", DEFAULT_RESUME),
            layout=data.get("layout", DEFAULT_LAYOUT),
            slurm=dict(data.get("slurm", {})),
            then=dict(data.get("then", {})),
            vars=dict(data.get("vars", {})),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the manifest."""
        return {
            "name": self.name,
            "source": self.source,
            "description": self.description,
            "launcher": list(self.launcher),
            "script": self.script,
            "workdir": self.workdir,
            "flags": sorted(self.flags),
            "extra_args": list(self.extra_args),
            "resume": self.resume,
            "layout": self.layout,
            "slurm": self.slurm,
            "then": self.then,
            "vars": self.vars,
        }


def profile_dirs() -> list[Path]:
    """Where profiles are looked up, first match wins: each directory of ``$HPC_SWEEP_PROFILE_PATH`` (``os.pathsep``
    separated), then ``./slurm_templates`` in the working directory, then the profiles shipped in the package.

    Directories that do not exist are left out, and one reached twice (the repository's top-level
    ``slurm_templates`` is a link to the shipped directory) is listed once.
    """
    dirs = [Path(p) for p in os.environ.get("HPC_SWEEP_PROFILE_PATH", "").split(os.pathsep) if p]
    dirs.append(Path.cwd() / "slurm_templates")
    shipped = shipped_profile_dir()
    if shipped is not None:
        dirs.append(shipped)
    unique: list[Path] = []
    for directory in dirs:
        if directory.is_dir() and directory.resolve() not in {d.resolve() for d in unique}:
            unique.append(directory)
    return unique


def shipped_profile_dir() -> Path | None:
    """The profiles installed with the package (``hpc_sweep/slurm_templates``, package data), found through
    :mod:`importlib.resources` so that a checkout, an editable install and a wheel install all see the same files.

    None when the package is not on a filesystem (imported from a zip archive): profiles are then looked up only in
    the other directories.
    """
    shipped = resources.files("hpc_sweep") / SHIPPED_DIR
    return shipped if isinstance(shipped, Path) and shipped.is_dir() else None


def available_profiles() -> dict[str, Path]:
    """Every profile name visible from here, mapped to its file (earlier directories shadow later ones)."""
    found: dict[str, Path] = {}
    for directory in profile_dirs():
        for path in sorted(directory.glob("*.toml")):
            found.setdefault(path.stem, path)
    return found


def default_profile_name(task: str) -> str:
    """The profile used when none is given: the demo for built-in tasks, BALLU's for BALLU tasks, else Isaac Lab's."""
    if task.startswith(_DEMO_TASK_PREFIX):
        return "demo"
    if "ballu" in task.lower():
        return "ballu"
    return "isaaclab"


def load_profile(name_or_path: str) -> Profile:
    """Load and validate a profile by name (see :func:`profile_dirs`) or by path to a ``.toml`` file."""
    candidate = Path(name_or_path).expanduser()
    if name_or_path.endswith(".toml") or os.sep in name_or_path:
        if not candidate.is_file():
            raise UsageError(
                f"--profile {shown(name_or_path)}: no such file; give a profile name or an existing .toml path"
            )
        path = candidate
    else:
        profiles = available_profiles()
        if name_or_path not in profiles:
            searched = ", ".join(str(directory) for directory in profile_dirs()) or "no profile directory exists"
            names = ", ".join(sorted(profiles)) or f"none found (searched: {searched})"
            raise UsageError(f"--profile {name_or_path!r} is unknown; available: {names} (or a path to a .toml file)")
        path = profiles[name_or_path]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"profile {path} is not UTF-8 text; save it as UTF-8") from None
    except (OSError, tomllib.TOMLDecodeError) as error:
        reason = " ".join(str(error).split())
        raise UsageError(f"profile {path}: cannot be read as TOML ({reason}); fix the file") from None
    return parse_profile(data, name=path.stem, source=str(path))


def parse_profile(data: dict[str, Any], name: str, source: str) -> Profile:
    """Validate a profile's parsed TOML; unknown keys and values of the wrong type are errors naming the file, the
    key and what it takes."""
    _check_keys(data.keys(), _SECTIONS.keys(), f"profile {source}")
    for key, kind in _SECTIONS.items():
        if key in data and not isinstance(data[key], kind):
            expected = "a table" if kind is dict else "a string"
            raise UsageError(f"profile {source}: '{key}' must be {expected}, got {shown(data[key])}")
    command = data.get("command", {})
    _check_keys(command.keys(), _COMMAND_KEYS, f"profile {source} [command]")
    where = f"profile {source} [command]"
    flags = _strings(command.get("flags", ["headless", "run_name"]), f"{where} flags", "a list of flag names")
    _check_keys(flags, KNOWN_FLAGS, f"{where} flags")
    slurm = dict(data.get("slurm", {}))
    _check_keys(slurm.keys(), SLURM_RESOURCES.keys(), f"profile {source} [slurm]")
    for key, value in slurm.items():
        resource_value(key, value, f"profile {source} [slurm] {key}")
    then = dict(data.get("then", {}))
    then_parameters(then, f"profile {source} [then]")
    resume = _string(command.get("resume", DEFAULT_RESUME), f"{where} resume")
    if resume not in RESUME_STYLES:
        raise UsageError(f"{where} resume: {shown(resume)}; valid: {', '.join(sorted(RESUME_STYLES))}")
    layout = _string(command.get("layout", DEFAULT_LAYOUT), f"{where} layout")
    if layout not in LAYOUTS:
        raise UsageError(f"{where} layout: {shown(layout)}; valid: {', '.join(sorted(LAYOUTS))}")
    launcher = command.get("launcher", ["{python}"])
    if isinstance(launcher, str):
        launcher = split_words(launcher, f"{where} launcher")
    variables = data.get("vars", {})
    return Profile(
        name=name,
        source=source,
        description=_string(data.get("description", ""), f"profile {source} description", allow_tab=True),
        launcher=tuple(_strings(launcher, f"{where} launcher", "a string or a list of strings")),
        script=_string(command.get("script", "train.py"), f"{where} script"),
        workdir=_string(command.get("workdir", "{sweep_dir}"), f"{where} workdir"),
        flags=frozenset(flags),
        extra_args=tuple(_strings(command.get("extra_args", []), f"{where} extra_args", "a list of strings")),
        resume=resume,
        layout=layout,
        slurm=slurm,
        then=then,
        vars={str(k): _string(v, f"profile {source} [vars] {k}") for k, v in variables.items()},
    )


def split_words(text: str, where: str) -> list[str]:
    """``text`` split into words as a shell would (``./isaaclab.sh -p``); unbalanced quotes are a UsageError."""
    check_one_line(where, text, allow_tab=True)
    try:
        return shlex.split(text)
    except ValueError as error:
        raise UsageError(f"{where} {shown(text)} cannot be split into words ({error}); balance its quotes") from None


def _string(value: Any, where: str, allow_tab: bool = True) -> str:
    """A profile value that must be one line of text (it becomes an argv element, a path or a name)."""
    if not isinstance(value, str):
        raise UsageError(f"{where} must be a string, got {shown(value)}")
    return check_one_line(where, value, allow_tab=allow_tab)


def _strings(value: Any, where: str, expected: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UsageError(f"{where} must be {expected}, got {shown(value)}")
    return [_string(item, where) for item in value]


def _check_keys(keys: Any, valid: Any, where: str) -> None:
    unknown = sorted(set(keys) - set(valid))
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(valid))}")
