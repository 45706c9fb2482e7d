"""Stand-in of ``isaaclab_tasks.utils``: ``get_checkpoint_path``, ``load_cfg_from_registry`` (see ``parse_cfg``)."""

from .parse_cfg import get_checkpoint_path, load_cfg_from_registry

__all__ = ["get_checkpoint_path", "load_cfg_from_registry"]
