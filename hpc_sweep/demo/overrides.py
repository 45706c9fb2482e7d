"""Hydra-style ``agent.x=v`` / ``env.x=v`` overrides and command-line flags -> the demo's agent / env config dicts.

Split out of the demo's ``train.py`` (which imports everything here and re-exports it) so the config plumbing can
be read and tested without the training loop.  Stdlib only: ``train.py`` imports it before torch, so a usage error
is reported without paying for the torch import.  Precedence, as in Isaac Lab: defaults < Hydra overrides
(:func:`apply_overrides`) < explicit flags (:func:`apply_flags`, driven by the :data:`FLAG_TARGETS` table).
"""

from __future__ import annotations

import argparse
import ast
from typing import Any


class UsageError(Exception):
    """A command-line problem that should end the script with a one-line message and exit status 1."""


def parse_override_value(text: str) -> Any:
    """Interpret an override value the way Hydra would: bool, null, int, float, list, else the string itself."""
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if lowered in ("null", "none", "~"):
        return None
    for convert in (int, float):
        try:
            return convert(stripped)
        except ValueError:
            pass
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "'\"":
        return stripped[1:-1]
    if stripped.startswith("[") and stripped.endswith("]"):
        try:
            return ast.literal_eval(stripped)
        except (ValueError, SyntaxError):
            inner = stripped[1:-1].strip()
            return [parse_override_value(item) for item in inner.split(",")] if inner else []
    if stripped.startswith("{") and stripped.endswith("}"):
        try:
            return ast.literal_eval(stripped)
        except (ValueError, SyntaxError):
            return stripped
    return stripped


def apply_overrides(overrides: list[str], agent_cfg: dict[str, Any], env_cfg: dict[str, Any]) -> None:
    """Apply ``agent.x.y=v`` / ``env.x.y=v`` overrides in place; an unknown key raises :class:`UsageError`.

    Unknown keys are errors (as with Hydra's structured configs) because a typo in a sweep would otherwise run the
    whole sweep with the default silently.
    """
    roots = {"agent": agent_cfg, "env": env_cfg}
    for item in overrides:
        if "=" not in item:
            raise UsageError(f"unrecognized argument {item!r} (expected agent.<key>=<value> or env.<key>=<value>)")
        key, raw = item.split("=", 1)
        add = key.startswith("+")
        key = key.lstrip("+")
        parts = key.split(".")
        if len(parts) < 2 or parts[0] not in roots or not all(parts):
            raise UsageError(f"unrecognized argument {item!r} (expected agent.<key>=<value> or env.<key>=<value>)")
        node: Any = roots[parts[0]]
        for depth, part in enumerate(parts[1:-1], start=1):
            if not isinstance(node, dict) or part not in node:
                raise UsageError(f"unknown config key {'.'.join(parts[: depth + 1])!r} in override {item!r}")
            node = node[part]
        leaf = parts[-1]
        if not isinstance(node, dict):
            raise UsageError(f"config key {'.'.join(parts[:-1])!r} is not a group; cannot set {key!r}")
        if leaf not in node and not add:
            raise UsageError(f"unknown config key {key!r} in override {item!r} (prefix it with '+' to add it)")
        node[leaf] = parse_override_value(raw)


FLAG_TARGETS: dict[str, tuple[str, str]] = {
    "seed": ("agent", "seed"),
    "max_iterations": ("agent", "max_iterations"),
    "device": ("agent", "device"),
    "experiment_name": ("agent", "experiment_name"),
    "run_name": ("agent", "run_name"),
    "resume": ("agent", "resume"),
    "load_run": ("agent", "load_run"),
    "checkpoint": ("agent", "load_checkpoint"),
    "logger": ("agent", "logger"),
    "num_envs": ("env", "num_envs"),
    "world": ("env", "world"),
}
"""Command-line flag (argparse dest) -> (config, key) it sets, as Isaac Lab's ``cli_args.update_rsl_rl_cfg`` and
``train.py`` copy flags into the agent / env config.  Adding a flag here is one line plus its ``add_argument``.

Values are stored as argparse typed them (``type=int`` for ``--seed``/``--max_iterations``/``--num_envs``).
"""


def apply_flags(args: argparse.Namespace, agent_cfg: dict[str, Any], env_cfg: dict[str, Any]) -> None:
    """Copy every flag of :data:`FLAG_TARGETS` that was given into its config key, in place.

    Flags run after the Hydra overrides so that, as in Isaac Lab, an explicit flag wins over ``agent.x=...``.  A flag
    counts as not given when it holds ``None`` (the default of every valued flag and of ``--resume``) or ``False``
    (an absent ``store_true`` switch such as ``--world``), so a switch can only turn its key on, never reset a value
    an override set.  ``0`` and ``""`` are real values and are applied.
    """
    roots = {"agent": agent_cfg, "env": env_cfg}
    for flag, (root, key) in FLAG_TARGETS.items():
        value = getattr(args, flag)
        if value is None or value is False:
            continue
        roots[root][key] = value
