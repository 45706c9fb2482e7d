"""Reading a sweep's TensorBoard files: our reader against EventAccumulator and tbparse, same files, same run.

Builds once (cached under benchmarks/.cache/) 100 Isaac-Lab-like run dirs x 2000 iterations x 21 scalar tags with
PyTorch's SummaryWriter (what RSL-RL uses), then times each reader in a fresh process (median of --repeats), checks
that all of them return identical values (steps and float32 values hashed per run and tag), and prints seconds,
speed-up against EventAccumulator (size_guidance 0 = keep every point) and peak memory.

    python benchmarks/collect_bench.py [--runs 100] [--iterations 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"
TAGS = [
    "Train/mean_reward",
    "Train/mean_episode_length",
    "Loss/value_function",
    "Loss/surrogate",
    "Loss/entropy",
    "Loss/learning_rate",
    "Policy/mean_noise_std",
    "Perf/total_fps",
    "Perf/collection time",
    "Perf/learning_time",
    "Train/mean_reward/time",
    "Train/mean_episode_length/time",
    *[f"Episode_Reward/term_{k}" for k in range(6)],
    "Episode_Termination/time_out",
    "Episode_Termination/base_contact",
    "Metrics/base_velocity/error_vel_xy",
]

# Each reader prints one JSON line: {"hash": {run/tag: sha256}, "maxrss_mb": ...}.
READERS = {
    "hpc_sweep (2 processes)": """
import sys
from pathlib import Path
from hpc_sweep.collect.results import collect
collection = collect(Path(sys.argv[1]), workers=2)
out = {}
for run in collection.runs:
    for tag, (steps, values, _) in run.scalars.items():
        out[(Path(run.source.log_dirs[0]).name, tag)] = (steps, values)
""",
    "hpc_sweep (1 process)": """
import sys
from pathlib import Path
from hpc_sweep.collect.events import iter_event_files, read_event_files
out = {}
for run_dir in sorted(Path(sys.argv[1]).glob("*/*/*")):
    for tag, s in read_event_files(iter_event_files(run_dir)).scalars.items():
        out[(run_dir.name, tag)] = (s.step, s.value)
""",
    "EventAccumulator": """
import sys
from pathlib import Path
import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
out = {}
for run_dir in sorted(Path(sys.argv[1]).glob("*/*/*")):
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    for tag in acc.Tags()["scalars"]:
        events = acc.Scalars(tag)
        out[(run_dir.name, tag)] = (np.array([e.step for e in events]), np.array([e.value for e in events]))
""",
    "tbparse": """
import sys
from pathlib import Path
from tbparse import SummaryReader
frame = SummaryReader(sys.argv[1], extra_columns={"dir_name"}).scalars
out = {}
for (dir_name, tag), group in frame.groupby(["dir_name", "tag"]):
    out[(Path(dir_name).name, tag)] = (group["step"].to_numpy(), group["value"].to_numpy())
""",
}
EPILOGUE = """
import hashlib, json, resource
import numpy as np
digest = {}
for (run, tag), (steps, values) in sorted(out.items()):
    order = np.argsort(steps, kind="stable")
    h = hashlib.sha256(np.asarray(steps)[order].astype("<i8").tobytes())
    h.update(np.asarray(values)[order].astype("<f4").tobytes())
    digest[f"{run}|{tag}"] = h.hexdigest()
print(json.dumps({"hash": digest, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _write_run(args: tuple[Path, int, int]) -> None:
    import numpy as np
    from torch.utils.tensorboard import SummaryWriter

    root, index, iterations = args
    run_dir = root / "rsl_rl" / "bench" / f"2026-01-01_00-00-{index:02d}_bench_seed{index}"
    rng = np.random.default_rng(index)
    writer = SummaryWriter(str(run_dir), flush_secs=120)
    values = rng.normal(size=(iterations, len(TAGS))).cumsum(axis=0)
    for step in range(iterations):
        for k, tag in enumerate(TAGS):
            writer.add_scalar(tag, float(values[step, k]), step)
    writer.close()


def build(runs: int, iterations: int) -> Path:
    """The cached fixture tree (built on first use, in parallel)."""
    root = CACHE / f"collect_{runs}x{iterations}x{len(TAGS)}" / "logs"
    done = root.parent / "complete"
    if done.exists():
        return root
    print(f"building {runs} runs x {iterations} iterations x {len(TAGS)} tags under {root} (once)...", flush=True)
    started = time.time()
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(_write_run, [(root, i, iterations) for i in range(runs)]))
    done.write_text("ok")
    print(f"built in {time.time() - started:.0f} s", flush=True)
    return root


def run_reader(name: str, root: Path) -> tuple[float, dict]:
    env = {**os.environ, "GIT_PYTHON_REFRESH": "quiet"}
    started = time.time()
    result = subprocess.run(
        [sys.executable, "-c", READERS[name] + EPILOGUE, str(root)], capture_output=True, text=True, env=env
    )
    seconds = time.time() - started
    if result.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{result.stderr[-3000:]}")
    return seconds, json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--readers", nargs="+", default=list(READERS), choices=list(READERS))
    args = parser.parse_args()
    root = build(args.runs, args.iterations)
    size = sum(p.stat().st_size for p in root.rglob("events.out.tfevents.*")) / 1e6
    results: dict[str, tuple[float, float]] = {}
    hashes: dict[str, dict] = {}
    for name in args.readers:
        times = []
        for _ in range(args.repeats):
            seconds, output = run_reader(name, root)
            times.append(seconds)
        results[name] = (statistics.median(times), output["maxrss_mb"])
        hashes[name] = output["hash"]
        print(f"  {name}: {results[name][0]:.2f} s", flush=True)
    reference = hashes[args.readers[0]]
    identical = {name: digest == reference for name, digest in hashes.items()}
    base = results.get("EventAccumulator", (None, None))[0]
    print()
    print(f"{args.runs} runs x {args.iterations} iterations x {len(TAGS)} tags ({size:.0f} MB of event files), "
          f"{os.cpu_count()} cores, median of {args.repeats} fresh processes")  # fmt: skip
    print(f"{'reader':<28}{'seconds':>10}{'vs EventAccumulator':>22}{'peak MB':>10}{'same values':>13}")
    for name, (seconds, memory) in results.items():
        ratio = f"{base / seconds:.1f}x faster" if base else "-"
        print(f"{name:<28}{seconds:>10.2f}{ratio:>22}{memory:>10.0f}{'yes' if identical[name] else 'NO':>13}")
    print(f"(points per reader: {len(reference)} run/tag series)")
    return 0 if all(identical.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
