"""Runners of the ``rsl_rl`` stand-in."""

from .on_policy_runner import OnPolicyRunner

__all__ = ["OnPolicyRunner"]
