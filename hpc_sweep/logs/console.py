"""The RSL-RL console scanner: progress, rewards, log-dir lines and failure signs from a training's text output.

Stdlib only: the job wrapper on each compute node uses it, and so do ``status`` and the collector's fallback.

Attempts: the job wrapper appends every attempt of a run (requeued, resubmitted, resumed) to the same
``runs/<id>/train.log``, each starting with a header line ``=== hpc_sweep run <id> attempt <n> on <host> at <time>``.
An attempt's state and failure come from its own part only (:func:`scan_log` with ``last_attempt=True``); a log
without a header (a foreign job log) is one attempt.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
ITERATION = re.compile(r"Learning iteration\s+(\d+)\s*/\s*(\d+)")
MEAN_REWARD = re.compile(r"^\s*Mean reward:\s*(" + r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf|-inf" + r")\s*$")
LOG_ROOT = re.compile(r"\[INFO\] Logging experiment in directory:\s*(.+?)\s*$")
EXACT_NAME = re.compile(r"Exact experiment name requested from command line:\s*(.+?)\s*$")
TRACEBACK = "Traceback (most recent call last):"
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)\b(?::.*)?$")
CUDA_OOM = re.compile(r"CUDA out of memory|torch\.(?:cuda\.)?OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED")
#: The job wrapper's first line of each attempt in ``train.log`` (see :mod:`hpc_sweep.job`).
#: ``torch.distributed.run``'s prefix on its workers' lines (``[rank1]: RuntimeError: ...``).
RANK_PREFIX = re.compile(r"^\[(?:default)?rank\d+\]:\s?")
#: What ``torch.distributed.run`` raises itself when a worker failed: the worker's own exception is the cause.
_CHILD_FAILED = "ChildFailedError"
ATTEMPT_HEADER = re.compile(r"^=== hpc_sweep run \S+ attempt (\d+)\b")
_HEADER_MARK = b"=== hpc_sweep run "
_BLOCK = 1 << 16


def strip_ansi(text: str) -> str:
    """Remove terminal colour codes (RSL-RL prints its iteration header in bold)."""
    return ANSI.sub("", text)


@dataclass
class LogScan:
    """What a streaming scan of a training log has seen so far."""

    iteration: int | None = None
    total_iterations: int | None = None
    iterations_seen: int = 0
    last_mean_reward: float | None = None
    first_mean_reward: float | None = None
    log_root: str | None = None
    exact_name: str | None = None
    traceback: bool = False
    exception: str | None = None
    cuda_oom: bool = False
    tail: list[str] = field(default_factory=list)

    def feed(self, raw_line: str, keep_tail: int = 20) -> None:
        """Update the scan with one line of output."""
        line = strip_ansi(raw_line).rstrip("\r\n")
        if keep_tail and line.strip():
            self.tail.append(line)
            del self.tail[:-keep_tail]
        if match := ITERATION.search(line):
            self.iteration, self.total_iterations = int(match.group(1)), int(match.group(2))
            self.iterations_seen += 1
        elif match := MEAN_REWARD.match(line):
            self.last_mean_reward = float(match.group(1))
            if self.first_mean_reward is None:
                self.first_mean_reward = self.last_mean_reward
        elif match := LOG_ROOT.search(line):
            self.log_root = match.group(1)
        elif match := EXACT_NAME.search(line):
            self.exact_name = match.group(1)
        elif TRACEBACK in (bare := RANK_PREFIX.sub("", line)):
            self.traceback = True
        elif (
            self.traceback
            and EXCEPTION_LINE.match(bare.strip())
            and not (self.exception and _CHILD_FAILED in bare)  # the worker's exception is the cause, not the wrapper's
        ):
            self.exception = bare.strip()
        if CUDA_OOM.search(line):
            self.cuda_oom = True

    def failure_reason(self) -> str | None:
        """A one-line reason when the log shows a failure (even if the process exited 0), else None."""
        if self.cuda_oom:
            return "CUDA out of memory" + (f": {self.exception}" if self.exception else "")
        if self.traceback:
            return f"Python exception: {self.exception or 'traceback in log'}"
        return None


def scan_log(path: Path, max_bytes: int | None = None, last_attempt: bool = False) -> LogScan:
    """Scan a log file and return what it shows: the whole file, only its last ``max_bytes`` (enough for live
    progress), or with ``last_attempt`` only the last attempt's part (from its header on; see the module docstring).
    Both limits may be given: the scan then starts at the later of the two points."""
    scan = LogScan()
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            start = _last_attempt_offset(handle, size) if last_attempt else 0
            if max_bytes is not None and size - max_bytes > start:
                handle.seek(size - max_bytes)
                handle.readline()  # drop the partial first line
            else:
                handle.seek(start)
            for raw in handle:
                scan.feed(raw.decode("utf-8", errors="replace"))
    except OSError:
        pass
    return scan


def last_attempt_offset(path: Path) -> int:
    """The byte offset where the last attempt of a job log begins (its header line); 0 for a log without a header
    (a foreign log: one attempt) or an unreadable one."""
    try:
        with open(path, "rb") as handle:
            return _last_attempt_offset(handle, handle.seek(0, os.SEEK_END))
    except OSError:
        return 0


def _last_attempt_offset(handle: BinaryIO, size: int) -> int:
    """Search backwards from the end in blocks for the last attempt header, so that finding it costs the size of the
    last attempt, not of the whole log. Blocks overlap by one byte less than the marker, so a header that straddles
    two blocks is seen once; a candidate is checked against the whole header line before it counts."""
    mark = b"\n" + _HEADER_MARK
    end = size
    while end > 0:
        start = max(0, end - _BLOCK)
        handle.seek(start)
        block = handle.read(end - start + len(mark) - 1)
        stop = len(block)
        while (found := block.rfind(mark, 0, stop)) >= 0:
            if _is_attempt_header(handle, start + found + 1):
                return start + found + 1
            stop = found + len(mark) - 1
        if start == 0 and block.startswith(_HEADER_MARK) and _is_attempt_header(handle, 0):
            return 0
        end = start
    return 0


def _is_attempt_header(handle: BinaryIO, offset: int) -> bool:
    handle.seek(offset)
    return bool(ATTEMPT_HEADER.match(handle.readline(512).decode("utf-8", errors="replace")))


_VALUE_LINE = re.compile(
    r"^\s*([A-Za-z_][\w /.\-]*?):\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf|-inf)\s*(?:s)?\s*$"
)
#: Console labels (RSL-RL 1.x/2.x/5.x) -> TensorBoard tags, so text fallbacks land on the same canonical metrics.
_CONSOLE_TAGS = {
    "Mean reward": "Train/mean_reward",
    "Mean episode length": "Train/mean_episode_length",
    "Value function loss": "Loss/value_function",
    "Surrogate loss": "Loss/surrogate",
    "Mean action noise std": "Policy/mean_noise_std",
    "Mean action std": "Policy/mean_std",
    "Mean extrinsic reward": "Rnd/mean_extrinsic_reward",
    "Mean intrinsic reward": "Rnd/mean_intrinsic_reward",
    "Collection time": "Perf/collection_time",
    "Learning time": "Perf/learning_time",
    "Steps per second": "Perf/total_fps",
}
#: Loss keys that RSL-RL 2.x/3.x print bare (``value_function: 0.09``) before any episode has finished.
_BARE_LOSSES = frozenset({"value_function", "value", "surrogate", "entropy", "symmetry", "mirror_symmetry", "rnd"})
#: RSL-RL 2.x/3.x timing line: ``Computation: 2428 steps/s (collection: 0.011s, learning 0.042s)``.
_COMPUTATION = re.compile(
    r"^\s*Computation:\s*([\d.]+)\s*steps/s\s*\(collection:\s*([\d.]+)s,\s*learning\s*([\d.]+)s\)"
)
_COMPUTATION_TAGS = ("Perf/total_fps", "Perf/collection time", "Perf/learning_time")
_MEAN_LOSS = re.compile(r"^Mean (\w+) loss$")
_MEAN_EPISODE = re.compile(r"^Mean episode (\w+)$")


def parse_console_metrics(path: Path) -> dict[str, list[tuple[int, float]]]:
    """Per-iteration scalars from an RSL-RL console log (2.x and 5.x formats, ANSI codes stripped).

    Each ``Learning iteration k/N`` block gives step ``k``; a later block with the same ``k`` replaces the earlier
    one. Where the job wrapper's attempt headers split the log, each attempt's first iteration ``s`` drops every
    earlier attempt's point at steps ``>= s``: a resumed attempt redoes from its checkpoint's iteration on, and a
    fresh restart (``s = 0``) replaces the whole curve, so the result is the run's curve as its last attempt left it
    (the iterations before a resume's checkpoint come from the attempts that reached them).
    """
    series: dict[str, dict[int, float]] = {}
    step: int | None = None
    new_attempt = False
    try:
        with open(path, "rb") as handle:
            for raw in handle:
                line = strip_ansi(raw.decode("utf-8", errors="replace")).rstrip()
                if line.startswith("=== hpc_sweep run ") and ATTEMPT_HEADER.match(line):
                    new_attempt, step = True, None
                    continue
                if match := ITERATION.search(line):
                    step = int(match.group(1))
                    if new_attempt:
                        _drop_from(series, step)
                        new_attempt = False
                    continue
                if step is not None and (match := _COMPUTATION.match(line)):
                    for tag, text in zip(_COMPUTATION_TAGS, match.groups(), strict=True):
                        series.setdefault(tag, {})[step] = float(text)
                    continue
                if step is None or not (match := _VALUE_LINE.match(line)):
                    continue
                tag = console_tag(match.group(1).strip())
                if tag:
                    series.setdefault(tag, {})[step] = float(match.group(2))
    except OSError:
        return {}
    return {tag: sorted(points.items()) for tag, points in series.items() if points}


def _drop_from(series: dict[str, dict[int, float]], first: int) -> None:
    """Forget every point at step ``first`` or later (a new attempt redoes them)."""
    for points in series.values():
        for step in [s for s in points if s >= first]:
            del points[step]


def console_tag(label: str) -> str | None:
    """The TensorBoard tag a console label stands for, or None for lines that are not metrics."""
    if label in _CONSOLE_TAGS:
        return _CONSOLE_TAGS[label]
    if label in _BARE_LOSSES:
        return f"Loss/{label}"
    if "/" in label:  # Isaac Lab episode extras, e.g. Episode_Reward/track_lin_vel_xy_exp
        return label
    if match := _MEAN_LOSS.match(label):
        return f"Loss/{match.group(1)}"
    if match := _MEAN_EPISODE.match(label):
        return f"Episode/{match.group(1)}"
    return None


#: summaries.txt columns (tab-separated) -> tags.
_SUMMARY_TAGS = {
    "Reward/mean": "Train/mean_reward",
    "Reward/std": "Train/reward_std",
    "Episode Length/mean": "Train/mean_episode_length",
}


def parse_summaries(path: Path) -> tuple[dict[str, list[tuple[int, float]]], list[str]]:
    """Scalars from a ``summaries.txt`` (tab-separated, ``Iteration`` first); bad lines are skipped with a warning."""
    series: dict[str, list[tuple[int, float]]] = {}
    warnings: list[str] = []
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as error:
        return {}, [f"{path}: unreadable ({error})"]
    if not lines:
        return {}, [f"{path}: empty"]
    header = [name.strip() for name in lines[0].split("\t")]
    if not header or header[0] != "Iteration":
        return {}, [f"{path}: no 'Iteration' header; skipped"]
    bad = 0
    for line in lines[1:]:
        cells = line.split("\t")
        try:
            step = int(float(cells[0]))
            values = [float(cell) for cell in cells[1 : len(header)]]
        except (ValueError, IndexError):
            bad += 1
            continue
        for name, value in zip(header[1:], values, strict=False):
            series.setdefault(_SUMMARY_TAGS.get(name, name), []).append((step, value))
    if bad:
        warnings.append(f"{path}: {bad} malformed line(s) skipped")
    return series, warnings
