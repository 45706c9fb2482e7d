"""Stand-in of BALLU's ``scripts/rsl_rl/cli_args.py``: BALLU ships its own copy of Isaac Lab's RSL-RL ``cli_args.py``
(the extension template does), so this stand-in re-exports the Isaac Lab stand-in's (see that file for the rules).

Found like ``train.py`` finds the Isaac Lab stand-in: the sibling ``../isaaclab`` of this stand-in, else
``$ISAACLAB_PATH``.
"""

from __future__ import annotations

import importlib.util
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
_SIBLING = os.path.normpath(os.path.join(_HERE, "..", "..", "..", "isaaclab"))
_ISAACLAB = _SIBLING if os.path.isdir(_SIBLING) else os.environ.get("ISAACLAB_PATH", _SIBLING)
_PATH = os.path.join(_ISAACLAB, "scripts", "reinforcement_learning", "rsl_rl", "cli_args.py")

_spec = importlib.util.spec_from_file_location("_isaaclab_rsl_rl_cli_args", _PATH)
assert _spec is not None and _spec.loader is not None, f"Isaac Lab stand-in not found at {_PATH}"
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)

add_rsl_rl_args = _module.add_rsl_rl_args
update_rsl_rl_cfg = _module.update_rsl_rl_cfg

__all__ = ["add_rsl_rl_args", "update_rsl_rl_cfg"]
