"""Benchmark: reading a sweep's TensorBoard files with our reader, tensorboard's EventAccumulator and tbparse.

Why: collection must read every point of every run of a sweep, exactly, and quickly; this measures that claim on
realistic files, against the readers people would otherwise use, in the same run on the same machine.

Builds once (cached under ``benchmarks/.cache/``, gitignored) Isaac-Lab-like run dirs
(``logs/rsl_rl/bench/<timestamp>_seed<k>/``) of ``--iterations`` iterations x 21 RSL-RL scalar tags, written by
PyTorch's ``SummaryWriter`` (what RSL-RL uses). Then every reader runs in a fresh process, ``--repeats`` times (the
median is reported); each child hashes its steps and float32 values per run and tag, and all readers must agree.
Exit status 1 when any reader's values differ.

Our rows measure exactly what ``hpc-sweep collect`` does to read a log tree: ``discover_runs`` then ``read_runs`` (the
one reading driver), with 1 worker and with its default worker count (the CPU count, at most 8).

    python benchmarks/collect_bench.py                                       # 100 runs x 2000 iterations, 3 repeats
    python benchmarks/collect_bench.py --runs 10 --iterations 300 --repeats 1  # quick
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

# Each child gets the log root as argv[1], imports what it needs, sets ``t0`` and fills
# ``out[(run dir name, tag)] = (steps, values)``; the epilogue hashes it and prints one JSON line.
PROLOGUE = """
import sys, time
from pathlib import Path
root = Path(sys.argv[1])
"""
READERS = {
    "hpc_sweep read_runs (default workers)": """
from hpc_sweep.collect.discover import discover_runs
from hpc_sweep.collect.results import read_runs
t0 = time.perf_counter()
runs = read_runs(discover_runs(root))
out = {(r.source.log_dirs[0].name, tag): (steps, values) for r in runs for tag, (steps, values, _) in r.scalars.items()}
""",
    "hpc_sweep read_runs (1 worker)": """
from hpc_sweep.collect.discover import discover_runs
from hpc_sweep.collect.results import read_runs
t0 = time.perf_counter()
runs = read_runs(discover_runs(root), workers=1)
out = {(r.source.log_dirs[0].name, tag): (steps, values) for r in runs for tag, (steps, values, _) in r.scalars.items()}
""",
    "EventAccumulator (keep all)": """
import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
t0 = time.perf_counter()
out = {}
for run_dir in sorted(root.glob("rsl_rl/*/*")):
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    for tag in acc.Tags()["scalars"]:
        events = acc.Scalars(tag)
        out[(run_dir.name, tag)] = (np.array([e.step for e in events]), np.array([e.value for e in events]))
""",
    "tbparse SummaryReader": """
from tbparse import SummaryReader
t0 = time.perf_counter()
frame = SummaryReader(str(root), extra_columns={"dir_name"}).scalars
out = {}
for (dir_name, tag), group in frame.groupby(["dir_name", "tag"]):
    out[(Path(dir_name).name, tag)] = (group["step"].to_numpy(), group["value"].to_numpy())
""",
}
EPILOGUE = """
reading = time.perf_counter() - t0
import hashlib, json, resource
import numpy as np
digest = {}
for (run, tag), (steps, values) in sorted(out.items()):
    order = np.argsort(steps, kind="stable")
    h = hashlib.sha256(np.asarray(steps)[order].astype("<i8").tobytes())
    h.update(np.asarray(values)[order].astype("<f4").tobytes())
    digest[f"{run}|{tag}"] = h.hexdigest()
points = int(sum(np.asarray(steps).size for steps, _ in out.values()))
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"hash": digest, "points": points, "reading_s": reading, "maxrss_mb": own, "workers_mb": workers}))
"""


def _write_run(job: tuple[Path, int, int]) -> None:
    """One run dir, written as RSL-RL writes it: 21 add_scalar calls per iteration."""
    import numpy as np
    from torch.utils.tensorboard import SummaryWriter

    root, index, iterations = job
    run_dir = root / "rsl_rl" / "bench" / f"2026-01-01_00-00-{index:02d}_bench_seed{index}"
    rng = np.random.default_rng(index)
    writer = SummaryWriter(str(run_dir), flush_secs=120)
    values = rng.normal(size=(iterations, len(TAGS))).cumsum(axis=0)
    for step in range(iterations):
        for k, tag in enumerate(TAGS):
            writer.add_scalar(tag, float(values[step, k]), step)
    writer.close()


def build(runs: int, iterations: int) -> Path:
    """The cached fixture tree, built on first use with all cores."""
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
    """One fresh process running one reader: its wall-clock seconds and its JSON report."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", PROLOGUE + READERS[name] + EPILOGUE, str(root)],
        capture_output=True,
        text=True,
        env={**os.environ, "GIT_PYTHON_REFRESH": "quiet", "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{result.stderr[-3000:]}")
    return seconds, json.loads(result.stdout.strip().splitlines()[-1])


def _print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(title)
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            print(
                "  ".join(
                    cell.ljust(w) if i == 0 else cell.rjust(w)
                    for i, (cell, w) in enumerate(zip(row, widths, strict=True))
                )
            )
        return
    table = Table(title=title)
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    Console(width=150).print(table)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--readers", nargs="+", default=list(READERS), choices=list(READERS))
    args = parser.parse_args()
    root = build(args.runs, args.iterations)
    files = list(root.rglob("events.out.tfevents.*"))
    size_mb = sum(p.stat().st_size for p in files) / 1e6
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    print(f"machine: {cores} cores ({usable} usable by this process); {len(files)} event files, {size_mb:.0f} MB")
    measured: dict[str, tuple[float, float, dict]] = {}
    for name in args.readers:
        totals, readings, report = [], [], {}
        for _ in range(args.repeats):
            seconds, report = run_reader(name, root)
            totals.append(seconds)
            readings.append(report["reading_s"])
        measured[name] = (statistics.median(totals), statistics.median(readings), report)
        print(f"  {name}: {measured[name][0]:.2f} s (reading {measured[name][1]:.2f} s)", flush=True)
    reference_name = args.readers[0]
    reference = measured[reference_name][2]["hash"]
    base = measured.get("EventAccumulator (keep all)")
    rows = []
    for name, (total, reading, report) in measured.items():
        same = report["hash"] == reference
        ratio = f"{base[1] / reading:.1f}x" if base else "-"
        memory = f"{report['maxrss_mb']:.0f}" + (f" + {report['workers_mb']:.0f}" if report["workers_mb"] > 1 else "")
        rows.append(
            [name, f"{total:.2f}", f"{reading:.2f}", ratio, memory, f"{report['points']:,}", "yes" if same else "NO"]
        )
    title = (
        f"{args.runs} runs x {args.iterations} iterations x {len(TAGS)} tags ({size_mb:.0f} MB), {cores} cores, "
        f"median of {args.repeats} fresh processes"
    )
    header = ["reader", "process s", "reading s", "speed vs EA", "peak MB (+ workers)", "points", "same values"]
    _print_table(title, header, rows)
    differing = [name for name, (_, _, report) in measured.items() if report["hash"] != reference]
    if differing:
        print(f"VALUES DIFFER from {reference_name}: {', '.join(differing)}", file=sys.stderr)
        return 1
    print(f"all readers returned identical steps and float32 values ({len(reference)} run/tag series)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
