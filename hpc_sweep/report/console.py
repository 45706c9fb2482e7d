"""The terminal we print to: rich, at the terminal's width, or 160 columns when output goes to a file or CI log."""

from __future__ import annotations

import os
import sys

from rich.console import Console


def make_console(stderr: bool = False) -> Console:
    """A rich Console; pipes and CI logs get 160 columns (rich's 80 would squeeze the run tables)."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else 160
    return Console(stderr=stderr, width=width)
