"""Stand-in of ``isaaclab.utils.io`` (``dump_yaml``, ``dump_pickle``): a run's ``params/*.yaml`` and ``*.pkl``.

The YAML is hpc_sweep's own Isaac-Lab-shaped emitter (``hpc_sweep.demo.params_yaml.yaml_text``: block style, keys in
order, the layout ``yaml.dump(default_flow_style=False, sort_keys=False)`` gives) when hpc_sweep is importable in the
stand-in's python, else PyYAML, else JSON (which YAML readers accept). Like the real functions, the parent directory
is created and a ``.yaml`` / ``.pkl`` suffix is added when missing.
"""

from __future__ import annotations

import json
import os
import pickle
from typing import Any


def _yaml_text(data: dict[str, Any]) -> str:
    try:
        from hpc_sweep.demo.params_yaml import yaml_text
    except ImportError:
        try:
            import yaml
        except ImportError:
            return json.dumps(data, indent=2, default=str) + "\n"
        return yaml.dump(data, default_flow_style=False, sort_keys=False)
    return yaml_text(data)


def dump_yaml(filename: str, data: dict[str, Any], sort_keys: bool = False) -> None:
    """Write ``data`` (a config dict) as YAML to ``filename``."""
    if not filename.endswith("yaml"):
        filename += ".yaml"
    os.makedirs(os.path.dirname(filename) or ".", exist_ok=True)
    with open(filename, "w", encoding="utf-8") as handle:
        handle.write(_yaml_text(dict(sorted(data.items())) if sort_keys else data))


def dump_pickle(filename: str, data: Any) -> None:
    """Pickle ``data`` to ``filename``."""
    if not filename.endswith("pkl"):
        filename += ".pkl"
    os.makedirs(os.path.dirname(filename) or ".", exist_ok=True)
    with open(filename, "wb") as handle:
        pickle.dump(data, handle)
