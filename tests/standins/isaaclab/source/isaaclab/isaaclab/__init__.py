"""Test stand-in of Isaac Lab's core ``isaaclab`` package: only ``isaaclab.app`` and ``isaaclab.utils.io``."""
