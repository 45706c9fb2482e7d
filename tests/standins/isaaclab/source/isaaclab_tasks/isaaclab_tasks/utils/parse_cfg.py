"""Stand-in of Isaac Lab ``source/isaaclab_tasks/isaaclab_tasks/utils/parse_cfg.py``: ``get_checkpoint_path`` with
upstream's exact rules, and ``load_cfg_from_registry`` over the stand-in registry.

How ``train.py --resume --load_run RUN --checkpoint CKPT`` finds the checkpoint (``get_checkpoint_path``):

1. ``RUN`` and ``CKPT`` are REGULAR EXPRESSIONS applied with ``re.match``: anchored at the start only, so they are
   PREFIX matches (``..._seed1`` also matches ``..._seed10`` and ``..._seed11``) and ``.`` matches any character.
2. Runs: the directories directly under ``log_path`` (the experiment's ``logs/rsl_rl/<experiment>``) whose name
   matches ``RUN``, sorted as full paths alphabetically (``sort_alpha=True``, the default; else by mtime); the LAST
   one is taken. ``RUN=None`` means ``".*"``: the latest run. Nothing matches: ``ValueError("No runs present in the
   directory: ...")``. A missing ``log_path`` raises ``FileNotFoundError`` (only ``IndexError`` is caught upstream).
3. Checkpoints: the entries of that run directory whose name matches ``CKPT``, sorted by the key ``f"{name:0>15}"``
   (the name left-padded with zeros to 15 characters, so ``model_9.pt`` < ``model_10.pt``; names of 15 characters
   or more are not padded, so ``model_1000000.pt`` sorts BEFORE ``model_999999.pt``); the LAST one is taken. None
   matches: ``ValueError("No checkpoints in the directory: ...")``.

Standard library only, and importable on its own (tests load this file by path).
"""

from __future__ import annotations

import os
import re
from typing import Any


def get_checkpoint_path(
    log_path: str,
    run_dir: str | None = ".*",
    checkpoint: str = ".*",
    other_dirs: list[str] | None = None,
    sort_alpha: bool = True,
) -> str:
    """The checkpoint ``<log_path>/<last run matching run_dir>/<*other_dirs>/<last file matching checkpoint>``."""
    if run_dir is None:
        run_dir = ".*"
    try:
        runs = [
            os.path.join(log_path, run) for run in os.scandir(log_path) if run.is_dir() and re.match(run_dir, run.name)
        ]
        if sort_alpha:
            runs.sort()
        else:
            runs = sorted(runs, key=os.path.getmtime)
        run_path = os.path.join(runs[-1], *other_dirs) if other_dirs is not None else runs[-1]
    except IndexError:
        raise ValueError(f"No runs present in the directory: '{log_path}' match: '{run_dir}'.") from None

    model_checkpoints = [name for name in os.listdir(run_path) if re.match(checkpoint, name)]
    if len(model_checkpoints) == 0:
        raise ValueError(f"No checkpoints in the directory: '{run_path}' match '{checkpoint}'.")
    model_checkpoints.sort(key=checkpoint_sort_key)
    return os.path.join(run_path, model_checkpoints[-1])


def checkpoint_sort_key(name: str) -> str:
    """Upstream's checkpoint order: the name left-padded with ``0`` to 15 characters (``f"{name:0>15}"``)."""
    return f"{name:0>15}"


def load_cfg_from_registry(task_name: str, entry_point_key: str) -> dict[str, Any]:
    """A fresh copy of the task's default config for ``entry_point_key`` (``env_cfg_entry_point``, ...)."""
    from isaaclab_tasks import spec

    cfg_entry_point = spec(task_name).kwargs.get(entry_point_key)
    if cfg_entry_point is None:
        raise ValueError(
            f"Could not find configuration for the environment: '{task_name}'."
            f" Please check that the gym registry has the entry point: '{entry_point_key}'."
        )
    print(f"[INFO]: Parsing configuration from: {task_name}:{entry_point_key}", flush=True)
    return cfg_entry_point()
