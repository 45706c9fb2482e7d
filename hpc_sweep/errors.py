"""Exception types of our own, so the CLI can turn expected failures into one-line messages with exit status 2."""

from __future__ import annotations


class HpcSweepError(Exception):
    """Base class of every error hpc_sweep raises on purpose."""


class UsageError(HpcSweepError):
    """The user's input is wrong (a flag, a profile, a path); the message names the problem and the fix."""
