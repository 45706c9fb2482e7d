"""Stand-in of Isaac Lab ``source/isaaclab_tasks/isaaclab_tasks/utils/hydra.py`` (``hydra_task_config``) and of the
parts of Hydra 1.3 it relies on: the command line's leftover ``key=value`` overrides of the ``env`` / ``agent`` dicts.

Upstream: ``train.py`` parses its own flags with ``parse_known_args`` and sets ``sys.argv = [argv0] + leftovers``;
``@hydra_task_config(task, entry_point)`` stores ``{"env": env_cfg.to_dict(), "agent": agent_cfg.to_dict()}`` in
Hydra's ConfigStore and runs ``@hydra.main(config_path=None, config_name=task, version_base="1.3")``, which parses
``sys.argv[1:]`` as overrides, composes the config in STRUCT mode, writes ``outputs/<date>/<time>/.hydra/`` under the
current directory, updates the configs and calls the decorated ``main(env_cfg, agent_cfg)``.

Hydra rules reproduced (messages as Hydra prints them, then exit status):

* ``a.b=v`` on an existing key: set it, the value typed by Hydra's grammar (int, float, ``true``/``false`` in any
  case, ``null``, quoted string, ``[list]``, ``{dict}``, else the raw string).
* ``a.b=v`` on a missing key: ``Could not override 'a.b'.`` / ``To append to your config use +a.b=v`` /
  ``Key 'b' is not in struct`` ... exit 1.  ``+a.b=v`` adds it (``Could not append to config. An item is already at
  'a.b'.`` if present); ``++a.b=v`` sets or adds; ``~a.b`` deletes.
* ``a=1,2`` (a sweep, without ``--multirun``): ``Ambiguous value for argument 'a=1,2'`` ... exit 1.
* a leftover with no ``=``: ``Error parsing override '<x>'`` / ``missing EQUAL at '<EOF>'`` ... exit 1.
* a leftover flag Hydra does not know (``--foo``): argparse's ``unrecognized arguments: --foo``, exit 2.
* an exception in ``main``: ``Error executing job with overrides: [...]``, the traceback, exit 1.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from datetime import datetime
from typing import Any

_FULL_ERROR = "\nSet the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace."
_HYDRA_FLAGS = ("--help", "-h", "--hydra-help", "--version", "--cfg", "-c", "--resolve", "--package", "-p", "--run")
_HYDRA_FLAGS += ("-r", "--multirun", "-m", "--shell-completion", "-sc", "--config-path", "-cp", "--config-name")
_HYDRA_FLAGS += ("-cn", "--config-dir", "-cd", "--experimental-rerun", "--info", "-i")


class HydraOverrideError(Exception):
    """An override Hydra rejects; the message is Hydra's (printed, then exit 1)."""


def parse_value(raw: str) -> Any:
    """A value as Hydra's override grammar types it."""
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if text.startswith("[") and text.endswith("]"):
        return [parse_value(item) for item in _split_top_level(text[1:-1])] if text[1:-1].strip() else []
    if text.startswith("{") and text.endswith("}"):
        pairs = [item.split(":", 1) for item in _split_top_level(text[1:-1])] if text[1:-1].strip() else []
        return {key.strip(): parse_value(value) for key, value in pairs}
    return text


def _split_top_level(text: str) -> list[str]:
    """``text`` split at commas outside brackets and quotes."""
    parts, depth, quote, current = [], 0, "", ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += char
    return [*parts, current]


def apply_override(cfg: dict[str, Any], override: str) -> None:
    """Apply one Hydra override to ``cfg`` (``{"env": ..., "agent": ...}``) in place, as Hydra would."""
    if override.startswith("~"):
        parent, leaf = _walk(cfg, override[1:].split("=", 1)[0], override, create=False)
        if leaf not in parent:
            raise HydraOverrideError(f"Could not delete from config. '{override[1:]}' does not exist.")
        del parent[leaf]
        return
    key, sep, raw = override.partition("=")
    if not sep:
        raise HydraOverrideError(
            f"Error parsing override '{override}'\nmissing EQUAL at '<EOF>'\n"
            "See https://hydra.cc/docs/1.2/advanced/override_grammar/basic for details"
        )
    mode = "force" if key.startswith("++") else "append" if key.startswith("+") else "override"
    key = key.lstrip("+")
    if len(_split_top_level(raw)) > 1:
        raise HydraOverrideError(
            f"Ambiguous value for argument '{override}'\n1. To use it as a list, use key=[value1,value2]\n"
            "2. To use it as string, quote the value: key=\\'value1,value2\\'\n"
            "3. To sweep over it, add --multirun to your command line"
        )
    parent, leaf = _walk(cfg, key, override, create=mode != "override")
    if mode == "override" and leaf not in parent:
        raise HydraOverrideError(
            f"Could not override '{key}'.\nTo append to your config use +{override}\n"
            f"Key '{leaf}' is not in struct\n    full_key: {key}\n    object_type=dict"
        )
    if mode == "append" and leaf in parent:
        raise HydraOverrideError(f"Could not append to config. An item is already at '{key}'.")
    parent[leaf] = parse_value(raw)


def _walk(cfg: dict[str, Any], key: str, override: str, create: bool) -> tuple[dict[str, Any], str]:
    """The dict that holds ``key``'s last part, and that part (intermediate dicts created when ``create``)."""
    parts = key.split(".")
    node = cfg
    for depth, part in enumerate(parts[:-1]):
        if not isinstance(node.get(part), dict):
            if create and part not in node:
                node[part] = {}
            else:
                full_key = ".".join(parts[: depth + 1])
                raise HydraOverrideError(
                    f"Could not override '{key}'.\nTo append to your config use +{override}\n"
                    f"Key '{part}' is not in struct\n    full_key: {full_key}\n    object_type=dict"
                )
        node = node[part]
    return node, parts[-1]


def apply_overrides(cfg: dict[str, Any], overrides: list[str]) -> None:
    """Apply Hydra's leftovers in order; a flag Hydra does not know exits 2 (argparse), a bad override exits 1."""
    for item in overrides:
        if item.startswith("-") and not item.startswith("~"):
            name = item.split("=", 1)[0]
            prog = os.path.basename(sys.argv[0])
            if name not in _HYDRA_FLAGS:
                usage = f"usage: {prog} [--help] [--hydra-help] [--version] [--cfg {{job,hydra,all}}] [--resolve]"
                print(
                    f"{usage}\n       [--package PACKAGE] [--run] [--multirun] [--info] [overrides ...]",
                    file=sys.stderr,
                )
                print(f"{prog}: error: unrecognized arguments: {item}", file=sys.stderr, flush=True)
                sys.exit(2)
            continue  # a Hydra flag of its own: accepted and ignored by the stand-in
        apply_override(cfg, item)


def _write_hydra_outputs(overrides: list[str], cfg: dict[str, Any]) -> None:
    """Hydra's run directory, ``outputs/<YYYY-MM-DD>/<HH-MM-SS>/.hydra/`` under the current directory."""
    from isaaclab.utils.io import dump_yaml

    now = datetime.now()
    hydra_dir = os.path.join("outputs", now.strftime("%Y-%m-%d"), now.strftime("%H-%M-%S"), ".hydra")
    os.makedirs(hydra_dir, exist_ok=True)
    with open(os.path.join(hydra_dir, "overrides.yaml"), "w", encoding="utf-8") as handle:
        handle.writelines(f"- {item}\n" for item in overrides)
    dump_yaml(os.path.join(hydra_dir, "config.yaml"), cfg)


def hydra_task_config(task_name: str | None, agent_cfg_entry_point: str) -> Callable:
    """Decorator: ``main(env_cfg, agent_cfg)`` gets the task's default configs updated by the Hydra overrides."""

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> None:
            from isaaclab_tasks.utils.parse_cfg import load_cfg_from_registry

            overrides = sys.argv[1:]
            try:
                env_cfg = load_cfg_from_registry(task_name, "env_cfg_entry_point")
                agent_cfg = load_cfg_from_registry(task_name, agent_cfg_entry_point) if agent_cfg_entry_point else None
                cfg = {"env": env_cfg, "agent": agent_cfg}
                apply_overrides(cfg, overrides)
            except HydraOverrideError as error:
                print(f"{error}\n{_FULL_ERROR}", file=sys.stderr, flush=True)
                sys.exit(1)
            _write_hydra_outputs(overrides, cfg)
            try:
                func(cfg["env"], cfg["agent"], *args, **kwargs)
            except Exception:
                print(f"Error executing job with overrides: {overrides!r}", file=sys.stderr, flush=True)
                traceback.print_exc()
                print(_FULL_ERROR, file=sys.stderr, flush=True)
                sys.exit(1)

        return wrapper

    return decorator
