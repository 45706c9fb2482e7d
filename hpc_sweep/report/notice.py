"""The few lines a notification carries when a sweep has been collected: counts, the best group, the figures' paths.

Read from ``training_results.json`` (its ``experiments`` for the counts, its ``groups`` for the best group by IQM of
the final score, with the 95% bootstrap CI), so the message says what the result files say. Plain text with
Markdown-style backticks, which Slack and Mattermost render and e-mail shows as is.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Run states in the order a count line names them; any other state follows.
_ORDER = ("completed", "failed", "cancelled")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def best_group(groups: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The group with the highest IQM of final scores (groups without one are skipped); None when none has one."""
    scored = [group for group in groups if _number(group.get("iqm")) is not None]
    return max(scored, key=lambda group: float(group["iqm"])) if scored else None


def counts_line(experiments: Sequence[dict[str, Any]]) -> str:
    """``3 of 4 runs completed, 1 failed``."""
    counts = Counter(str(run.get("status")) for run in experiments)
    parts = [f"{counts.pop('completed', 0)} of {len(experiments)} runs completed"]
    parts += [f"{counts.pop(state)} {state}" for state in _ORDER[1:] if state in counts]
    parts += [f"{n} {state}" for state, n in sorted(counts.items())]
    return ", ".join(parts)


def group_line(group: dict[str, Any]) -> str:
    """``best group `lr=0.001`: IQM 12.3 (95% CI 11.0 to 13.5), n=5`` (no CI for a group of one run)."""
    low, high = [*(group.get("iqm_ci") or []), None, None][:2]
    interval = (
        f" (95% CI {low:.4g} to {high:.4g})"
        if _number(low) is not None and _number(high) is not None
        else " (no CI: one run)"
    )
    return f"best group `{group.get('group')}`: IQM {float(group['iqm']):.4g}{interval}, n={group.get('n')}"


def notice_text(sweep_dir: Path, figures: Sequence[Path] = (), problems: Sequence[str] = ()) -> str:
    """The message: which sweep, its run counts, its best group, the figures that exist, and anything that went
    wrong while collecting (one line each)."""
    lines = [f"hpc-sweep: sweep `{Path(sweep_dir).name}` collected ({sweep_dir})"]
    try:
        results = json.loads((Path(sweep_dir) / "training_results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        results = None
    if isinstance(results, dict):
        experiments = [e for e in results.get("experiments") or [] if isinstance(e, dict)]
        lines.append(counts_line(experiments))
        best = best_group([g for g in results.get("groups") or [] if isinstance(g, dict)])
        lines.append(group_line(best) if best is not None else "no group has a final score")
    else:
        lines.append("no training_results.json: collect did not finish")
    shown = [str(path) for path in figures if Path(path).is_file()]
    if shown:
        lines.append("figures: " + ", ".join(shown))
    lines += [f"problem: {problem}" for problem in problems]
    return "\n".join(lines)
