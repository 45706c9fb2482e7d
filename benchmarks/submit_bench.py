"""Submitting a thousand-run sweep to a real Slurm cluster, and asking for its status, against the naive ways.

Why: a cluster punishes tools that call ``sbatch`` or ``sacct`` once per job. This measures, on the real test
cluster (``tests/slurm/local_cluster.sh start``), in one run:

* ``hpc-sweep submit`` of ``--runs`` trivial runs (each run's "training" is a script that only creates its run
  dir): wall time of the CLI process and how many times it called ``sbatch``;
* ``hpc-sweep status`` of that sweep: wall time of the CLI process and how many times it called ``sacct``
  (measured while the runs are queued, and again once they all ended with ``--drain``);
* the naive ways users would otherwise script it: one ``sbatch`` per run and one ``sacct -j`` per run, timed over
  ``--baseline_runs`` runs and scaled to ``--runs`` (each call costs the same, so the scaling is linear).

Calls are counted through shims on ``PATH`` that log each call and ``exec`` the real command. The benchmark's jobs
are cancelled at the end (unless ``--drain`` waited for them to finish).

    python benchmarks/submit_bench.py                 # 1000 runs; status while queued
    python benchmarks/submit_bench.py --drain         # also waits for all 1000 to run (~5 min on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHIM = """#!/bin/sh
echo "$(basename "$0")" >> "{calls}"
exec "{real}" "$@"
"""
#: The trivial "training": creates its Isaac-Lab-layout run dir and says where, so the run completes.
TRIVIAL = """import os, sys
name = sys.argv[sys.argv.index("--run_name") + 1]
os.makedirs(os.path.join("logs", "rsl_rl", "bench", "2026-01-01_00-00-00_" + name), exist_ok=True)
print("[INFO] Logging experiment in directory: " + os.path.abspath(os.path.join("logs", "rsl_rl", "bench")))
print("Exact experiment name requested from command line: 2026-01-01_00-00-00")
"""
PROFILE = """description = "submit benchmark: every run is a trivial script"
[command]
launcher = ["{{python}}"]
script = "{script}"
workdir = "{{sweep_dir}}"
flags = ["run_name"]
resume = "none"
[slurm]
partition = "debug"
time = "00:05:00"
cpus_per_task = 1
mem_gb = 0.25
"""


def _shims(root: Path, calls: Path) -> dict[str, str]:
    """A PATH directory whose sbatch and sacct log each call to ``calls``, then run the real ones."""
    shim_dir = root / "shims"
    shim_dir.mkdir()
    for name in ("sbatch", "sacct"):
        real = shutil.which(name)
        if real is None:
            sys.exit(f"{name} is not on PATH: start the test cluster (sudo tests/slurm/local_cluster.sh start)")
        path = shim_dir / name
        path.write_text(SHIM.format(calls=calls, real=real))
        path.chmod(0o755)
    return {**os.environ, "PATH": f"{shim_dir}{os.pathsep}{os.environ['PATH']}", "GIT_PYTHON_REFRESH": "quiet"}


def _count(calls: Path, name: str) -> int:
    return calls.read_text().split().count(name) if calls.exists() else 0


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, result


def _max_array_size() -> int:
    out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("MaxArraySize"):
            return int(line.split("=")[1])
    return 1001


def naive_sbatch(root: Path, count: int) -> tuple[float, list[str]]:
    """One ``sbatch --wrap true`` per run, as a shell loop over seeds would do; returns seconds and job ids."""
    ids: list[str] = []
    start = time.perf_counter()
    for k in range(count):
        out = subprocess.run(
            ["sbatch", "--parsable", "-p", "debug", "-t", "5", "--mem=256M", "-o", str(root / f"naive_{k}.out"),
             "--wrap", "true"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        ids.append(out.strip().split(";")[0])
    return time.perf_counter() - start, ids


def naive_sacct(job_ids: list[str]) -> float:
    """One ``sacct -j <id>`` per run, as a status loop over job ids would do; returns seconds."""
    start = time.perf_counter()
    for job_id in job_ids:
        subprocess.run(["sacct", "-j", job_id, "-n", "-P", "-X", "-o", "JobID,State"], capture_output=True, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--baseline_runs", type=int, default=100, help="runs the naive loops are timed over")
    parser.add_argument("--drain", action="store_true", help="wait for every run to end, then time status again")
    args = parser.parse_args()
    limit = _max_array_size()
    with tempfile.TemporaryDirectory(prefix="submit_bench_", dir=Path.cwd()) as tmp:
        root = Path(tmp)
        calls = root / "calls.txt"
        env = _shims(root, calls)
        (root / "trivial.py").write_text(TRIVIAL)
        profile = root / "trivial.toml"
        profile.write_text(PROFILE.format(script=root / "trivial.py"))
        sweep = root / "sweep"
        cli = [sys.executable, "-m", "hpc_sweep.cli"]
        seeds = [str(k) for k in range(args.runs)]
        submit_s, result = _timed(
            [*cli, "submit", "--executor", "slurm", "--profile", str(profile), "--seeds", *seeds,
             "--max_iterations", "1", "--num_envs", "1", "--common_folder", "bench", "--output_dir", str(sweep),
             "--then", "none"],  # the arrays only: no collect job (its own sbatch) to time or to cancel
            env,
        )  # fmt: skip
        if result.returncode != 0:
            sys.exit(f"hpc-sweep submit failed: {result.stderr.strip()}")
        sbatch_calls = _count(calls, "sbatch")
        arrays = [job["array_id"] for job in json.loads((sweep / "sweep.json").read_text())["jobs"]]
        before = _count(calls, "sacct")
        status_s, status = _timed([*cli, "status", str(sweep)], env)
        if status.returncode not in (0, 1):  # 1: not every run completed (yet)
            sys.exit(f"hpc-sweep status failed: {status.stderr.strip()}")
        sacct_calls = _count(calls, "sacct") - before
        drained: tuple[float, int] | None = None
        try:
            if args.drain:
                deadline = time.monotonic() + 3600
                while time.monotonic() < deadline:
                    queued = subprocess.run(["squeue", "-h", "-r", "-j", ",".join(arrays)], capture_output=True,
                                            text=True).stdout  # fmt: skip
                    if not queued.strip():
                        break
                    time.sleep(5)
                before = _count(calls, "sacct")
                seconds, final = _timed([*cli, "status", str(sweep)], env)
                drained = (seconds, _count(calls, "sacct") - before)
                print(final.stdout.strip().splitlines()[-1])
        finally:
            subprocess.run(["scancel", *arrays], check=False)
        naive_submit_s, naive_ids = naive_sbatch(root, args.baseline_runs)
        naive_status_s = naive_sacct(naive_ids)
        subprocess.run(["scancel", *naive_ids], check=False, capture_output=True)

    scale = args.runs / args.baseline_runs
    naive_submit, naive_status = naive_submit_s * scale, naive_status_s * scale
    print(f"\n{args.runs} trivial runs on the local Slurm test cluster (MaxArraySize {limit}, {os.cpu_count()} cores)")
    print(f"naive loops timed over {args.baseline_runs} runs and scaled x{scale:g}\n")
    print(f"| {'what':<48} | {'seconds':>8} | {'calls':>6} | {'vs naive':>8} |")
    print(f"|{'-' * 50}|{'-' * 9}:|{'-' * 7}:|{'-' * 9}:|")
    print(f"| {'hpc-sweep submit (sbatch calls)':<48} | {submit_s:>8.2f} | {sbatch_calls:>6} | "
          f"{naive_submit / submit_s:>7.1f}x |")  # fmt: skip
    print(f"| {'naive: one sbatch per run':<48} | {naive_submit:>8.2f} | {args.runs:>6} | {1:>7.1f}x |")
    print(f"| {'hpc-sweep status, runs queued (sacct calls)':<48} | {status_s:>8.2f} | {sacct_calls:>6} | "
          f"{naive_status / status_s:>7.1f}x |")  # fmt: skip
    if drained:
        print(f"| {'hpc-sweep status, runs ended (sacct calls)':<48} | {drained[0]:>8.2f} | {drained[1]:>6} | "
              f"{naive_status / drained[0]:>7.1f}x |")  # fmt: skip
    print(f"| {'naive: one sacct -j per run':<48} | {naive_status:>8.2f} | {args.runs:>6} | {1:>7.1f}x |")
    most = math.ceil(args.runs / limit)
    print(f"\ngoals: submit < 5 s with <= {most} sbatch calls -> "
          f"{'met' if submit_s < 5 and sbatch_calls <= most else 'NOT met'}; "
          f"status < 2 s with 1 sacct call -> {'met' if status_s < 2 and sacct_calls == 1 else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
