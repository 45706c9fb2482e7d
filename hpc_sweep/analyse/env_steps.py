"""Iterations as environment steps: one RSL-RL iteration collects ``num_steps_per_env`` steps in each of ``num_envs``
environments, so iteration ``i`` is ``i * num_steps_per_env * num_envs`` environment steps.

Both numbers are read from what the run itself wrote: ``num_steps_per_env`` from ``params/agent.yaml`` and
``num_envs`` from ``params/env.yaml`` (Isaac Lab: ``scene.num_envs``; the demo: a top-level ``num_envs``) of the
run's first log dir, with the planned ``num_envs`` of a sweep's run (its grid point, else its command's
``--num_envs``) when ``env.yaml`` says nothing. The two small YAML files are read line by line with regexes, as
:func:`hpc_sweep.logs.layouts.read_agent_params` reads ``agent.yaml`` (no YAML parser: Isaac Lab's dumps hold Python
tags a safe loader refuses).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpc_sweep.collect.results import RunData

_STEPS_PER_ENV = re.compile(r"^num_steps_per_env:\s*(\d+)\s*$", re.MULTILINE)
_NUM_ENVS = re.compile(r"^(\s*)num_envs:\s*(\d+)\s*$")
_TOP_KEY = re.compile(r"^([A-Za-z_][\w.]*):")


def num_steps_per_env(agent_yaml: str) -> int | None:
    """The top-level ``num_steps_per_env`` of an ``agent.yaml`` text, or None."""
    match = _STEPS_PER_ENV.search(agent_yaml)
    return int(match.group(1)) if match else None


def num_envs(env_yaml: str) -> int | None:
    """``num_envs`` of an ``env.yaml`` text: a top-level key, or one inside the top-level ``scene`` block; or None."""
    section = None
    for line in env_yaml.splitlines():
        if top := _TOP_KEY.match(line):
            section = top.group(1)
        match = _NUM_ENVS.match(line)
        if match and (not match.group(1) or section == "scene"):
            return int(match.group(2))
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _planned_num_envs(info: dict[str, Any]) -> int | None:
    """The ``num_envs`` a sweep planned for a run: its grid point's, else its command's ``--num_envs``."""
    value = info.get("point", {}).get("num_envs")
    command = info.get("command") or []
    if value is None and isinstance(command, list) and "--num_envs" in command[:-1]:
        value = command[command.index("--num_envs") + 1]
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def steps_per_iteration(run: RunData) -> int | None:
    """Environment steps one iteration of ``run`` collects, or None when its files do not say."""
    if not run.source.log_dirs:
        return None
    params = Path(run.source.log_dirs[0]) / "params"
    per_env = num_steps_per_env(_read(params / "agent.yaml"))
    envs = num_envs(_read(params / "env.yaml")) or _planned_num_envs(run.source.info)
    return per_env * envs if per_env and envs else None
