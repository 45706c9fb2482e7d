"""Several demo runs sharing one GPU (``--runs_per_gpu K``) against one run per GPU: total iterations per second.

Why: small Isaac Lab tasks leave most of a large GPU idle, so packing K runs onto it can finish a multi-seed sweep
sooner on the same GPU hours; large tasks gain nothing and run out of memory. This measures the gain for the demo
task on the GPU at hand, through the real path: ``hpc-sweep submit --executor local --runs_per_gpu K`` with K seeds
on one GPU (``CUDA_VISIBLE_DEVICES`` = the first GPU), the demo training on ``cuda:0``.

Throughput of one K is the sum over its runs of iterations / that run's training time (the trainer's own
"Training time" line, which excludes process start-up and imports); the ratio column is against K = 1, the one run
per GPU that users get without packing. Without a GPU it runs on the CPU and says so: those numbers say nothing about
GPU packing.

    python benchmarks/gpu_packing_bench.py                      # K = 1 2 4 8, 4096 envs, 150 iterations
    python benchmarks/gpu_packing_bench.py --packs 1 2 --num_envs 1024 --iterations 50
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

_TRAINING_TIME = re.compile(r"^Training time: ([0-9.]+) seconds", re.MULTILINE)


def _gpu() -> tuple[str | None, str]:
    """The first GPU's index and name (from nvidia-smi), or (None, "CPU") without one."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index,name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, f"CPU ({os.cpu_count()} cores)"
    index, name, memory = (part.strip() for part in out.splitlines()[0].split(","))
    return index, f"{name} ({memory})"


def run_pack(root: Path, k: int, args: argparse.Namespace, gpu: str | None) -> float:
    """Run K demo runs at once on one GPU through hpc-sweep; return the total iterations per second."""
    sweep = root / f"k{k}"
    env = {**os.environ, "GIT_PYTHON_REFRESH": "quiet", "CUDA_VISIBLE_DEVICES": gpu if gpu is not None else ""}
    device = ["--additional_args", "--device", "cuda:0"] if gpu is not None else []
    result = subprocess.run(
        [sys.executable, "-m", "hpc_sweep.cli", "submit", "--task", "Demo-PointMass-v0", "--executor", "local",
         "--seeds", *map(str, range(1, k + 1)), "--runs_per_gpu", str(k), "--max_parallel", str(k),
         "--max_iterations", str(args.iterations), "--num_envs", str(args.num_envs), "--common_folder", f"k{k}",
         "--output_dir", str(sweep), *device],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    if result.returncode != 0:
        sys.exit(f"K={k}: hpc-sweep submit failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    total = 0.0
    for log in sorted(sweep.glob("runs/*/train.log")):
        times = _TRAINING_TIME.findall(log.read_text())
        if not times:
            sys.exit(f"K={k}: no 'Training time' line in {log}")
        total += args.iterations / float(times[-1])
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packs", type=int, nargs="+", default=[1, 2, 4, 8], help="values of K")
    parser.add_argument("--num_envs", type=int, default=4096)
    parser.add_argument("--iterations", type=int, default=150)
    args = parser.parse_args()
    gpu, device = _gpu()
    rows: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory(prefix="gpu_packing_") as tmp:
        for k in args.packs:
            rows.append((k, run_pack(Path(tmp), k, args, gpu)))
            print(f"K={k}: {rows[-1][1]:.1f} it/s", file=sys.stderr, flush=True)
    base = dict(rows).get(1)
    print(f"\nDemo-PointMass-v0, {args.num_envs} envs, {args.iterations} iterations per run, on {device}")
    if gpu is None:
        print("no GPU here: these are CPU numbers and say nothing about sharing a GPU")
    print(f"\n| {'runs on the GPU (K)':<20} | {'total it/s':>10} | {'per run it/s':>12} | {'vs K = 1':>8} |")
    print(f"|{'-' * 22}|{'-' * 11}:|{'-' * 13}:|{'-' * 9}:|")
    for k, total in rows:
        ratio = f"{total / base:.2f}x" if base else "-"
        print(f"| {k:<20} | {total:>10.1f} | {total / k:>12.1f} | {ratio:>8} |")


if __name__ == "__main__":
    main()
