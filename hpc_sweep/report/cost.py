"""What a sweep cost, in words: the totals line of ``hpc-sweep status`` and its ``--runs_per_gpu`` hint.

The numbers come from :mod:`hpc_sweep.analyse.cost` (GPU-hours from the scheduler's accounting, GPU utilisation
from the job wrapper's ``nvidia-smi`` samples); this module only words them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hpc_sweep.analyse.cost import LOW_UTIL_PERCENT, suggested_runs_per_gpu, sweep_run_costs, total_cost


def cost_lines(manifest: Mapping[str, Any]) -> list[str]:
    """The totals line of a sweep (its merged manifest, refreshed by its launcher): GPU-hours so far, CPU
    efficiency, peak memory and mean GPU utilisation, whichever were measured; then, when the GPUs were busy less
    than :data:`~hpc_sweep.analyse.cost.LOW_UTIL_PERCENT` of the time on average, the ``--runs_per_gpu`` to try.
    Console markup; no line at all when nothing was measured."""
    total = total_cost(sweep_run_costs(manifest).values())
    parts = []
    if total["gpu_hours"] is not None:
        parts.append(f"{total['gpu_hours']:.3f} GPU-hours so far ({total['runs_with_gpu_hours']}/{total['runs']} runs)")
    if total["cpu_efficiency"] is not None:
        parts.append(f"CPU efficiency {total['cpu_efficiency']:.0%}")
    if total["max_rss_mb"] is not None:
        parts.append(f"peak memory {total['max_rss_mb']:.0f} MB")
    util = total["gpu_util_mean"]
    if util is not None:
        parts.append(f"mean GPU utilisation {util:.0f}%")
    lines = [f"cost: {', '.join(parts)}"] if parts else []
    spec = manifest.get("spec")
    runs_per_gpu = int(spec.get("runs_per_gpu") or 1) if isinstance(spec, Mapping) else 1
    suggested = suggested_runs_per_gpu(util, runs_per_gpu)
    if suggested is not None:
        lines.append(
            f"[yellow]hint:[/yellow] the GPUs were {util:.0f}% busy on average (under {LOW_UTIL_PERCENT:.0f}%): "
            f"--runs_per_gpu {suggested} would share each GPU between {suggested} runs in your next sweep"
        )
    return lines
