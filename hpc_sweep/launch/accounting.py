"""Reading Slurm's accounting text: what each attempt of each job used (time, GPUs, CPUs, CPU time, peak memory).

One ``sacct -D`` call (see :func:`hpc_sweep.launch.sacct.job_report`) lists every attempt of every job of a sweep:
an allocation line (``123_4``: elapsed time, ``AllocTRES`` with ``gres/gpu=N``, CPUs, CPU time, state) followed by
its steps (``123_4.batch``, ``123_4.0``: where ``MaxRSS`` lives). A requeued job has one allocation line per
attempt (``-D``, duplicates), each followed by its own steps, in the order they ran. This module turns that text
into plain dicts, one per attempt (:data:`ATTEMPT_KEYS`), which :mod:`hpc_sweep.analyse.cost` turns into GPU-hours.

Slurm's spellings handled here: durations ``[DD-[HH:]]MM:SS[.mmm]`` (``Elapsed``, ``TotalCPU``), memory with a unit
suffix (``MaxRSS``: ``1234K``, ``56.50M``, ``2G``), and TRES lists (``billing=2,cpu=2,gres/gpu=1,mem=2G,node=1``; a
typed GPU may appear twice, as ``gres/gpu=2`` and ``gres/gpu:a100=2``, and counts once).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

#: ``sacct --format`` of :func:`parse_accounting`, in this order.
ACCOUNTING_FORMAT = "JobID,ElapsedRaw,AllocTRES,AllocCPUS,TotalCPU,MaxRSS,State"
#: The keys of one attempt's dict: seconds it ran (so far, while running), GPUs and CPUs allocated, CPU seconds its
#: steps used, the largest resident memory of its steps in MB (None when Slurm gathered none), its Slurm state.
ATTEMPT_KEYS = ("elapsed_s", "gpus", "cpus", "total_cpu_s", "max_rss_mb", "state")
_RANGE = re.compile(r"^(\d+)_\[(.+?)\]$")
_DURATION = re.compile(r"^(?:(?:(\d+)-)?(\d+):)?(\d+):(\d+(?:\.\d+)?)$")
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)([KMGTP]?)$", re.IGNORECASE)
_MB_PER = {"": 1 / 1024**2, "K": 1 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0**2, "P": 1024.0**3}


@dataclass
class JobReport:
    """The scheduler's view of a sweep's jobs, from one call.

    ``states``: job id (``123_4``) -> Slurm state of its latest attempt; ``attempts``: job id -> one dict per
    attempt that started (:data:`ATTEMPT_KEYS`), in the order they ran; empty when only ``squeue`` answered
    (``accounted`` False).
    """

    states: dict[str, str] = field(default_factory=dict)
    attempts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    accounted: bool = False


def expand_job_id(job_id: str) -> list[str]:
    """``123_[0-2,5%4]`` -> ``123_0 123_1 123_2 123_5`` (pending array tasks); plain ids unchanged."""
    match = _RANGE.match(job_id)
    if not match:
        return [job_id]
    base, spec = match.group(1), match.group(2).split("%")[0]
    ids: list[str] = []
    for part in spec.split(","):
        first, _, last = part.partition("-")
        ids += [f"{base}_{k}" for k in range(int(first), int(last or first) + 1)]
    return ids


def parse_duration(text: str) -> float:
    """Seconds in a Slurm duration ``[DD-[HH:]]MM:SS[.mmm]`` (``1-02:03:04``, ``02:03:04``, ``03:04.567``).

    Raises: ValueError for anything else (``INVALID``, empty).
    """
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"not a Slurm duration: {text!r}")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)


def parse_memory_mb(text: str) -> float | None:
    """Megabytes in a Slurm memory value (``1234K``, ``56.50M``, ``2G``; a bare number is bytes); None when empty.

    Raises: ValueError for a value of another shape.
    """
    text = text.strip()
    if not text:
        return None
    match = _MEMORY.match(text)
    if not match:
        raise ValueError(f"not a Slurm memory value: {text!r}")
    return float(match.group(1)) * _MB_PER[match.group(2).upper()]


def parse_tres(text: str) -> dict[str, str]:
    """``billing=2,cpu=2,gres/gpu=1,mem=2G,node=1`` -> ``{"billing": "2", "cpu": "2", "gres/gpu": "1", ...}``."""
    pairs = (item.partition("=") for item in text.strip().split(",") if item)
    return {name: value for name, sep, value in pairs if sep}


def tres_gpus(text: str) -> int:
    """GPUs in a TRES list: ``gres/gpu=N`` (Slurm also lists a typed GPU as ``gres/gpu:<type>=N``: the untyped count
    wins; without it the typed counts add up). 0 when the list names none."""
    tres = parse_tres(text)
    if "gres/gpu" in tres:
        return int(tres["gres/gpu"])
    return sum(int(value) for name, value in tres.items() if name.startswith("gres/gpu:"))


def parse_accounting(text: str) -> JobReport:
    """The :class:`JobReport` of ``sacct -D -n -P -o`` :data:`ACCOUNTING_FORMAT` output (every attempt's allocation
    line followed by its steps). Lines of another shape, and values Slurm leaves empty or ``INVALID``, are skipped
    or count as unknown; the peak memory of an attempt is the largest ``MaxRSS`` of its steps. A cluster that
    gathers no per-process accounting (``JobAcctGatherType=jobacct_gather/none``) reports 0 CPU time and no
    ``MaxRSS``: such an attempt's CPU time is unknown (None), not 0."""
    report = JobReport(accounted=True)
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) != len(ACCOUNTING_FORMAT.split(",")) or not fields[0]:
            continue
        job_id, elapsed, tres, cpus, total_cpu, max_rss, state = fields
        base, dot, _step = job_id.partition(".")
        if dot:  # a step of the latest attempt of ``base``
            attempts = report.attempts.get(base)
            rss = _or_none(parse_memory_mb, max_rss)
            if attempts and rss is not None:
                attempts[-1]["max_rss_mb"] = max(attempts[-1]["max_rss_mb"] or 0.0, rss)
            continue
        state = state.split()[0] if state.strip() else "UNKNOWN"  # "CANCELLED by 0" -> "CANCELLED"
        for expanded in expand_job_id(job_id):
            report.states[expanded] = state
        if job_id != base or _RANGE.match(job_id) or not elapsed.strip().isdigit():
            continue  # a range of pending array tasks: nothing used yet
        report.attempts.setdefault(job_id, []).append(
            {
                "elapsed_s": int(elapsed),
                "gpus": _or_none(tres_gpus, tres) or 0,
                "cpus": int(cpus) if cpus.strip().isdigit() else _tres_cpus(tres),
                "total_cpu_s": _or_none(parse_duration, total_cpu),
                "max_rss_mb": _or_none(parse_memory_mb, max_rss),
                "state": state,
            }
        )
    for attempt in (a for attempts in report.attempts.values() for a in attempts):
        if attempt["total_cpu_s"] == 0 and attempt["max_rss_mb"] is None:
            attempt["total_cpu_s"] = None  # nothing gathered (jobacct_gather/none): unknown, not an idle job
    return report


def _tres_cpus(tres: str) -> int:
    value = parse_tres(tres).get("cpu", "0")
    return int(value) if value.isdigit() else 0


def _or_none(parse: Any, text: str) -> Any:
    """``parse(text)``, or None for a value Slurm left empty or spelled another way."""
    try:
        return parse(text)
    except ValueError:
        return None
