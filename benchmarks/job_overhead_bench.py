"""How long the job wrapper takes from its process start to the training command's exec, against a bare Python.

Each measurement starts a fresh interpreter that runs one job (the real ``TrainingJob`` with a real
``JobRequest``) whose "training" is ``sh -c 'date +%s.%N'``: the child's timestamp minus the moment the parent
spawned the interpreter is the wrapper's start-up overhead (interpreter start, imports, record writing, Popen). The
baseline is the same interpreter running the same command through ``subprocess`` with no hpc_sweep import. Also
listed: which heavy modules the wrapper imports.

    python benchmarks/job_overhead_bench.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WRAPPER = r"""
import sys
from hpc_sweep.command import JobRequest, TrainingCommand
from hpc_sweep.job import TrainingJob
program = ("sh", "-c", "date +%s.%N", "sh")  # the training flags that follow are sh's ignored positional arguments
command = TrainingCommand(program, "Bench", 0, 1, 1, (), (), sys.argv[1], "isaaclab")
record = TrainingJob()(JobRequest(sweep_dir=sys.argv[1], run_id="0000", command=command, run_name="bench",
                                  common_folder="bench", layout="isaaclab"))
heavy = sorted(m for m in ("pandas", "matplotlib", "torch", "numpy", "scipy", "rich") if m in sys.modules)
print("HEAVY", ",".join(heavy) or "none")
"""
SUBMITIT_FIRST = "import submitit, cloudpickle\n" + WRAPPER
BASELINE = r"""
import subprocess, sys
subprocess.run(["sh", "-c", "date +%s.%N"], check=True)
"""


def _child_time(log: str) -> float:
    for line in log.splitlines():
        line = line.strip()
        if line.replace(".", "", 1).isdigit():
            return float(line)
    raise RuntimeError(f"no timestamp in output: {log[:200]}")


def measure(code: str, sweep: Path | None) -> tuple[float, str]:
    env = {**os.environ, "GIT_PYTHON_REFRESH": "quiet"}
    args = [sys.executable, "-c", code] + ([str(sweep)] if sweep else [])
    start = time.time()
    out = subprocess.run(args, capture_output=True, text=True, check=True, env=env).stdout
    if sweep is not None:
        (sweep / "sweep.json").write_text(json.dumps({"runs": [{"run_id": "0000"}]}))
        log = (sweep / "runs" / "0000" / "train.log").read_text()
        return _child_time(log) - start, out
    return _child_time(out) - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    wrapper, with_submitit, baseline, heavy = [], [], [], ""
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            sweep = Path(tmp)
            (sweep / "sweep.json").write_text(json.dumps({"runs": [{"run_id": "0000"}]}))
            seconds, out = measure(WRAPPER, sweep)
            wrapper.append(seconds)
            heavy = out.split("HEAVY", 1)[1].strip()
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "sweep.json").write_text(json.dumps({"runs": [{"run_id": "0000"}]}))
            with_submitit.append(measure(SUBMITIT_FIRST, Path(tmp))[0])
        baseline.append(measure(BASELINE, None)[0])
    w, b = statistics.median(wrapper), statistics.median(baseline)
    print(f"job start -> training exec, median of {args.repeats} fresh processes ({os.cpu_count()} cores)")
    print(f"{'what':<44}{'seconds':>10}{'ratio':>8}")
    print(f"{'bare python + subprocess (baseline)':<44}{b:>10.3f}{1.0:>8.2f}")
    print(f"{'hpc_sweep TrainingJob wrapper':<44}{w:>10.3f}{w / b:>8.2f}")
    s = statistics.median(with_submitit)
    print(f"{'... plus importing submitit (as on a node)':<44}{s:>10.3f}{s / b:>8.2f}")
    print(f"{'wrapper overhead beyond the baseline':<44}{w - b:>10.3f}")
    print(f"heavy modules imported by the wrapper: {heavy}")
    print(f"goal: wrapper (with submitit) < 0.1 s -> {'met' if s < 0.1 else 'NOT met'}")


if __name__ == "__main__":
    main()
