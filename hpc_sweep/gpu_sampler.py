"""How busy a job's GPUs were: ``nvidia-smi`` sampled every 30 s while the training runs, summarised per attempt.

Why: GPU-hours say what a sweep cost, not whether the GPUs were busy. Small tasks often leave a big GPU mostly idle,
and then several runs could share it (``--runs_per_gpu``); ``status`` suggests that from these samples. The job
wrapper keeps one :class:`GpuSampler` per attempt and stores its :meth:`~GpuSampler.stop` summary in the attempt's
entry of ``record.json`` (``gpu_usage``).

Stdlib only (it runs in the job wrapper). Sampling is best effort and never fails a run: no ``nvidia-smi`` on PATH,
no GPU given to the job (``CUDA_VISIBLE_DEVICES`` unset or empty), or a query that fails or times out means no
sample, and an attempt without samples records ``None``. The interval is ``$HPC_SWEEP_GPU_SAMPLE_S`` (seconds,
default 30; tests use a fraction of a second with a stub ``nvidia-smi``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
from typing import Any

SAMPLE_ENV = "HPC_SWEEP_GPU_SAMPLE_S"
DEFAULT_INTERVAL_S = 30.0
_QUERY = ["--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits"]
_TIMEOUT_S = 10.0


def sample_interval() -> float:
    """Seconds between samples: ``$HPC_SWEEP_GPU_SAMPLE_S`` when it is a positive number, else 30."""
    with contextlib.suppress(ValueError):
        value = float(os.environ.get(SAMPLE_ENV, ""))
        if value > 0:
            return value
    return DEFAULT_INTERVAL_S


def parse_sample(text: str) -> tuple[float, float] | None:
    """One sample from ``nvidia-smi``'s CSV lines (``util %, memory MiB`` per GPU): the mean utilisation over the
    job's GPUs and the memory they use together; None when no line holds two numbers (``[N/A]``, errors)."""
    utils, memory = [], []
    for line in text.splitlines():
        util, _, mem = line.partition(",")
        with contextlib.suppress(ValueError):
            utils.append(float(util))
            memory.append(float(mem))
    if not utils or len(utils) != len(memory):
        return None
    return sum(utils) / len(utils), sum(memory)


class GpuSampler:
    """Samples the given GPUs (``CUDA_VISIBLE_DEVICES``'s spelling: indices or UUIDs) from a daemon thread: one
    sample at start, then one per interval, until :meth:`stop`."""

    def __init__(self, devices: str | None, interval_s: float | None = None) -> None:
        self.devices = (devices or "").strip()
        self.interval_s = interval_s if interval_s is not None else sample_interval()
        self.samples: list[tuple[float, float]] = []
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._binary = shutil.which("nvidia-smi")

    def start(self) -> GpuSampler:
        """Start sampling when there is a GPU to ask about and ``nvidia-smi`` to ask; return self."""
        if self._binary and self.devices and self.devices != "NoDevFiles":
            self._thread = threading.Thread(target=self._loop, name="gpu-sampler", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> dict[str, Any] | None:
        """Stop sampling; the summary of the samples taken (None when there are none): ``samples``, ``interval_s``,
        ``util_mean`` and ``util_max`` (percent, mean over the job's GPUs), ``mem_max_mb`` (MiB, summed over them)."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=_TIMEOUT_S)
        samples = list(self.samples)
        if not samples:
            return None
        utils = [util for util, _ in samples]
        return {
            "samples": len(samples),
            "interval_s": self.interval_s,
            "util_mean": round(sum(utils) / len(utils), 2),
            "util_max": max(utils),
            "mem_max_mb": max(mem for _, mem in samples),
        }

    def _loop(self) -> None:
        while not self._stopped.is_set():
            sample = self._sample()
            if sample is not None:
                self.samples.append(sample)
            self._stopped.wait(self.interval_s)

    def _sample(self) -> tuple[float, float] | None:
        assert self._binary is not None
        try:
            result = subprocess.run(
                [self._binary, *_QUERY, "-i", self.devices],
                capture_output=True,
                text=True,
                timeout=_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return parse_sample(result.stdout) if result.returncode == 0 else None
