"""Write a run's ``params/agent.yaml`` / ``params/env.yaml`` the way Isaac Lab's ``dump_yaml`` lays them out.

A module of its own, stdlib only, because two writers share it: the demo's ``train.py`` (for every demo run) and
``tests/fixtures/make_rsl_rl_fixtures.py`` (for the committed logs of older rsl-rl-lib releases), so both emit the
same YAML and hpc_sweep's readers are tested on one format.  The built-in emitter exists because PyYAML is not a
dependency of hpc_sweep (nor installed on every compute node); :func:`dump_yaml` still prefers PyYAML when present,
as Isaac Lab itself uses it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any


def _yaml_scalar(value: Any) -> str:
    """Render one scalar as YAML (the subset PyYAML would read back to the same Python value).

    A callable (e.g. rsl-rl's symmetry ``data_augmentation_func``) is written as ``module:qualname``, the string
    Isaac Lab's ``class_to_dict`` stores for callables in a config.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return ".nan"
        if value in (float("inf"), float("-inf")):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    if callable(value):
        return f"{value.__module__}:{value.__qualname__}"
    text = str(value)
    reserved = {"true", "false", "null", "yes", "no", "on", "off", "~", ""}
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_./-]*", text) and text.lower() not in reserved:
        return text
    return json.dumps(text)


def _yaml_lines(value: Any, indent: int) -> list[str]:
    """Block-style YAML lines for a dict/list, shaped like ``yaml.dump(default_flow_style=False)`` output."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict) and item:
                lines.append(f"{pad}{_yaml_scalar(key)}:")
                lines.extend(_yaml_lines(item, indent + 2))
            elif isinstance(item, (list, tuple)) and item:
                lines.append(f"{pad}{_yaml_scalar(key)}:")
                lines.extend(_yaml_lines(list(item), indent))
            else:
                empty = "{}" if isinstance(item, dict) else "[]" if isinstance(item, (list, tuple)) else None
                lines.append(f"{pad}{_yaml_scalar(key)}: {empty or _yaml_scalar(item)}")
    else:
        for item in value:
            if isinstance(item, (dict, list, tuple)) and item:
                nested = _yaml_lines(item if isinstance(item, dict) else list(item), indent + 2)
                lines.append(f"{pad}- {nested[0].lstrip()}")
                lines.extend(nested[1:])
            else:
                empty = "{}" if isinstance(item, dict) else "[]" if isinstance(item, (list, tuple)) else None
                lines.append(f"{pad}- {empty or _yaml_scalar(item)}")
    return lines


def yaml_text(data: dict[str, Any]) -> str:
    """``data`` as block-style YAML text from the built-in emitter (never PyYAML), ending in one newline.

    Use this where the bytes must not depend on whether PyYAML is installed (the committed test fixtures).
    """
    return "\n".join(_yaml_lines(data, 0)) + "\n"


def dump_yaml(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as YAML like Isaac Lab's ``dump_yaml``; falls back to :func:`yaml_text` without PyYAML."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import yaml
    except ImportError:
        path.write_text(yaml_text(data), encoding="utf-8")
        return
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(data, handle, default_flow_style=False, sort_keys=False)
