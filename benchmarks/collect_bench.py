"""Benchmark: collecting a sweep's TensorBoard files, reader by reader and end to end as the user runs it.

Why: collection must read every point of every run of a sweep, exactly, and quickly; this measures that claim on
realistic files, against the readers and the script people would otherwise use, in the same run on the same machine.

Fixture: built once (cached under ``benchmarks/.cache/collect_<runs>x<iterations>x21/``, gitignored) Isaac-Lab-like
run dirs (``logs/rsl_rl/bench/<timestamp>_bench_seed<k>/``) of ``--iterations`` iterations x 21 RSL-RL scalar tags,
written by PyTorch's ``SummaryWriter`` (what RSL-RL uses), every run generated (seeded by its index, nothing copied),
by ``--build-workers`` processes (default 2). The 1000-run tree is built the same way: ~2.4 GB of event files.

Reader rows: every reader runs in a fresh process, ``--repeats`` times (the median is reported); each child hashes its
steps and float32 values per run and tag, and all readers must agree. Our rows measure the reading ``hpc-sweep
collect`` does on a cold cache: ``discover_runs``, then ``read_run`` for every run through the same parallel driver
(``read_runs`` -> ``map_runs``), with 1 worker and with its default count.

End-to-end rows: whole processes, each under a fresh small measuring process (wall time; peak RSS of the largest
process of the command's tree from ``getrusage(RUSAGE_CHILDREN)``; the tree's summed RSS sampled every 0.1 s):
``hpc-sweep collect <tree> --output_dir <out>`` cold (``<out>`` and its cache removed), again (warm cache), and after
one more run dir appeared (a copy of run 0's dir under a new timestamp and seed, removed afterwards); then the seed
script's way (``seed_baseline.py``: EventAccumulator keep-all, ``training_results.json``, its six-panel figure).
``<out>/metrics.parquet`` must hold the same steps and float32 values per (run, tag) as EventAccumulator's keep-all
read (``--reference``); the +1 row expects the copied run's series too. Exit status 1 when any values differ.

    python benchmarks/collect_bench.py                                       # 100 runs x 2000 iterations, 3 repeats
    python benchmarks/collect_bench.py --runs 10 --iterations 300 --repeats 1  # quick
    python benchmarks/collect_bench.py --runs 1000 --repeats 1 --end-to-end-only --reference ours --skip-baseline
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

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
EA, OURS1 = "EventAccumulator (keep all)", "hpc_sweep read_runs (1 worker)"
SHORT = {"ours": "hpc_sweep read_runs (default workers)", "ours1": OURS1, "ea": EA, "tbparse": "tbparse SummaryReader"}
CHILD_ENV = {**os.environ, "GIT_PYTHON_REFRESH": "quiet", "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg"}
COLD, WARM, PLUS = "hpc-sweep collect, cold", "hpc-sweep collect, warm cache", "hpc-sweep collect, +1 run"
SEED = "seed's way: EA + json + figure"
LOG_NAMES = {COLD: "cold", WARM: "warm", PLUS: "plus1", SEED: "seed"}
FLAGS_HELP = """\
rows: reader rows (--readers, or none with --end-to-end-only) then end-to-end rows (none with --readers-only).
1000 runs: python benchmarks/collect_bench.py --runs 1000 --repeats 1 --skip-readers --reference ours [--skip-baseline]
"""
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


def run_dir_name(index: int) -> str:
    """Run ``index``'s dir name: an Isaac Lab timestamp (one second apart) and the seed."""
    return f"2026-01-01_{index // 3600:02d}-{index // 60 % 60:02d}-{index % 60:02d}_bench_seed{index}"


def _write_runs(job: tuple[Path, list[int], int]) -> None:
    """Run dirs written as RSL-RL writes them: 21 add_scalar calls per iteration, seeded by the run index."""
    import numpy as np
    from torch.utils.tensorboard import SummaryWriter

    root, indices, iterations = job
    for index in indices:
        run_dir = root / "rsl_rl" / "bench" / run_dir_name(index)
        rng = np.random.default_rng(index)
        writer = SummaryWriter(str(run_dir), flush_secs=120)
        values = rng.normal(size=(iterations, len(TAGS))).cumsum(axis=0)
        for step in range(iterations):
            for k, tag in enumerate(TAGS):
                writer.add_scalar(tag, float(values[step, k]), step)
        writer.close()


def build(runs: int, iterations: int, workers: int = 2) -> Path:
    """The cached fixture tree, built on first use by ``workers`` processes (each run generated, none copied)."""
    root = CACHE / f"collect_{runs}x{iterations}x{len(TAGS)}" / "logs"
    done = root.parent / "complete"
    if done.exists():
        return root
    if root.exists():  # an interrupted build: SummaryWriter would add a second event file to each run dir
        shutil.rmtree(root)
    need = runs * iterations * len(TAGS) * 60  # ~60 bytes per scalar event on disk
    free = shutil.disk_usage(CACHE.parent).free
    print(
        f"building {runs} runs x {iterations} iterations x {len(TAGS)} tags under {root} (once, {workers} "
        f"processes, ~{need / 1e9:.2f} GB of {free / 1e9:.0f} GB free)...",
        flush=True,
    )
    if need * 1.2 > free:
        raise SystemExit(f"not enough disk space under {CACHE} for the fixture tree (~{need / 1e9:.1f} GB)")
    started = time.time()
    chunks = [list(range(i, runs, workers * 8)) for i in range(min(runs, workers * 8))]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_write_runs, [(root, chunk, iterations) for chunk in chunks]))
    done.write_text(f"built in {time.time() - started:.0f} s with {workers} processes\n")
    print(f"built in {time.time() - started:.0f} s", flush=True)
    return root


def run_reader(name: str, root: Path) -> tuple[float, dict]:
    """One fresh process running one reader: its wall-clock seconds and its JSON report."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", PROLOGUE + READERS[name] + EPILOGUE, str(root)],
        capture_output=True,
        text=True,
        env=CHILD_ENV,
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
    Console(width=160).print(table)


def bench_readers(args: argparse.Namespace, root: Path, size_mb: float) -> tuple[dict[str, dict], bool]:
    """The reader rows: each reader in fresh processes; their reports by name, and whether all agreed."""
    cores = os.cpu_count()
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
    base = measured.get(EA)
    rows = []
    for name, (total, reading, report) in measured.items():
        same = report["hash"] == reference
        ratio = f"{base[1] / reading:.1f}x" if base else "-"
        memory = f"{report['maxrss_mb']:.0f}" + (f" + {report['workers_mb']:.0f}" if report["workers_mb"] > 1 else "")
        rows.append(
            [name, f"{total:.2f}", f"{reading:.2f}", ratio, memory, f"{report['points']:,}", "yes" if same else "NO"]
        )
    title = (
        f"readers: {args.runs} runs x {args.iterations} iterations x {len(TAGS)} tags ({size_mb:.0f} MB), "
        f"{cores} cores, median of {args.repeats} fresh processes"
    )
    header = ["reader", "process s", "reading s", "speed vs EA", "peak MB (+ workers)", "points", "same values"]
    _print_table(title, header, rows)
    differing = [name for name, (_, _, report) in measured.items() if report["hash"] != reference]
    if differing:
        print(f"VALUES DIFFER from {reference_name}: {', '.join(differing)}", file=sys.stderr)
    else:
        print(f"all readers returned identical steps and float32 values ({len(reference)} run/tag series)")
    return {name: report for name, (_, _, report) in measured.items()}, not differing


# --- end to end: whole processes, as the user runs them ------------------------------------------------------------

# A fresh small process per measurement: it starts argv (argv[1], JSON; output to the file argv[2]), samples the
# summed RSS of the process tree under it from /proc every 0.1 s, and reports the wall time, the exact peak RSS of the
# largest process below it (getrusage RUSAGE_CHILDREN: never the benchmark's own) and the sampled tree peak.
MEASURE = r"""
import json, os, resource, subprocess, sys, threading, time
argv, log = json.loads(sys.argv[1]), sys.argv[2]
page = os.sysconf("SC_PAGE_SIZE")

def tree_rss(root):
    parent, rss = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            parent[int(entry)], rss[int(entry)] = int(fields[1]), int(fields[21]) * page
    total, stack = 0, [root]
    children = {}
    for pid, ppid in parent.items():
        children.setdefault(ppid, []).append(pid)
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total

peak, done = [0], threading.Event()
def sample(pid):
    while not done.is_set():
        peak[0] = max(peak[0], tree_rss(pid))
        done.wait(0.1)

with open(log, "w") as out:
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    sampler = threading.Thread(target=sample, args=(proc.pid,), daemon=True)
    sampler.start()
    rc = proc.wait()
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"rc": rc, "wall_s": wall, "maxrss_mb": maxrss, "tree_mb": peak[0] / 2**20}))
"""


def measure(argv: list[str], log: Path) -> dict:
    """Run ``argv`` under a fresh measuring process: wall s, peak RSS MB (largest process), sampled tree MB."""
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, json.dumps(argv), str(log)], capture_output=True, text=True, env=CHILD_ENV
    )
    if result.returncode != 0:
        raise RuntimeError(f"measuring {argv[:3]} failed:\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if report["rc"] != 0:
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        raise RuntimeError(f"{shlex.join(argv)} exited {report['rc']}:\n{tail}")
    return report


def cli_argv(root: Path, out: Path, extra: list[str]) -> list[str]:
    """``hpc-sweep collect <root> --output_dir <out>`` with this interpreter's console script."""
    script = Path(sys.executable).parent / "hpc-sweep"
    prefix = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "import sys; from hpc_sweep.cli import main; sys.exit(main())"]
    )
    return [*prefix, "collect", str(root), "--output_dir", str(out), *extra]


def series_digests(steps: np.ndarray, values: np.ndarray, keys: dict[str, np.ndarray]) -> dict[str, str]:
    """``{"<run>|<tag>": sha256}``, hashed as the readers' EPILOGUE hashes (steps <i8, values <f4, step order)."""
    digest = {}
    for key, index in keys.items():
        order = np.argsort(steps[index], kind="stable")
        h = hashlib.sha256(steps[index][order].astype("<i8").tobytes())
        h.update(values[index][order].astype("<f4").tobytes())
        digest[key] = h.hexdigest()
    return digest


def parquet_digests(path: Path, run_names: set[str]) -> dict[str, str] | None:
    """Hashes per (run dir name, tag) of ``<out>/metrics.parquet`` (a file or a directory of parquet files); None
    when there is none."""
    import pandas as pd

    if not path.exists():
        return None
    frame = pd.read_parquet(path, columns=["run_id", "tag", "step", "value"])
    names = {}
    for run_id in frame["run_id"].astype(str).unique():
        name = Path(run_id).name
        if name not in run_names:  # a run id without its timestamp: the one run dir it ends
            matches = [n for n in run_names if n.endswith(name)]
            name = matches[0] if len(matches) == 1 else run_id
        names[run_id] = name
    run = frame["run_id"].astype(str).astype("category").map(names)
    groups = frame.groupby([run, frame["tag"].astype("category")], sort=False, observed=True).indices
    keys = {f"{name}|{tag}": index for (name, tag), index in groups.items()}
    return series_digests(frame["step"].to_numpy(), frame["value"].to_numpy(), keys)


def compare(found: dict[str, str] | None, expected: dict[str, str]) -> str:
    """'yes' when every (run, tag) series has the same steps and float32 values, else what differs."""
    if found is None:
        return "NO (no metrics.parquet)"
    missing = len(expected.keys() - found.keys())
    extra = len(found.keys() - expected.keys())
    differ = sum(found[k] != v for k, v in expected.items() if k in found)
    if not (missing or extra or differ):
        return "yes"
    return f"NO ({differ} differ, {missing} missing, {extra} extra of {len(expected)})"


def cache_dirs(out: Path, extra: list[str]) -> list[Path]:
    """Where the collect cache may live: ``<out>/.hpc_sweep_cache`` (inside ``out``), or ``--cache DIR``."""
    dirs = [out]
    for i, arg in enumerate(extra):
        if arg == "--cache" and i + 1 < len(extra):
            dirs.append(Path(extra[i + 1]))
        elif arg.startswith("--cache="):
            dirs.append(Path(arg.split("=", 1)[1]))
    return dirs


def bench_end_to_end(args: argparse.Namespace, root: Path, reference: dict[str, str] | None, ref_name: str) -> bool:
    """The end-to-end rows: the whole CLI process cold, warm, after one more run, and the seed script's way."""
    work = root.parent
    out, seed_out, logs = work / "collect_out", work / "seed_out", work / "process_logs"
    logs.mkdir(exist_ok=True)
    bench = root / "rsl_rl" / "bench"
    source, extra = bench / run_dir_name(0), bench / run_dir_name(args.runs)
    shutil.rmtree(extra, ignore_errors=True)  # left by an interrupted benchmark
    files = sorted(root.rglob("events.out.tfevents.*"))
    for path in files:  # every row starts with the event files in the OS page cache, as the readers' rows do
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass
    extra_args = shlex.split(args.collect_args)
    argv = cli_argv(root, out, extra_args)
    print(f"end to end: {shlex.join(argv)}  (process output under {logs})", flush=True)
    samples: dict[str, list[dict]] = {COLD: [], WARM: [], PLUS: [], SEED: []}
    checks: dict[str, str] = {}
    run_names = {run_dir_name(i) for i in range(args.runs)}
    expected_plus = None
    if reference is not None:
        expected_plus = dict(reference)
        expected_plus.update(
            {
                f"{extra.name}|{key.split('|', 1)[1]}": v
                for key, v in reference.items()
                if key.startswith(source.name + "|")
            }
        )
    try:
        for repeat in range(args.repeats):
            for path in cache_dirs(out, extra_args):  # cold: no output dir, no cache
                shutil.rmtree(path, ignore_errors=True)
            for row in (COLD, WARM):
                samples[row].append(measure(argv, logs / f"{LOG_NAMES[row]}_{repeat}.txt"))
                if repeat == 0 and reference is not None:
                    checks[row] = compare(parquet_digests(out / "metrics.parquet", run_names), reference)
                print(f"  {row}: {samples[row][-1]['wall_s']:.2f} s", flush=True)
            if repeat == 0 and len(cache_dirs(out, extra_args)) == 1 and not (out / ".hpc_sweep_cache").exists():
                print(f"  note: no {out / '.hpc_sweep_cache'} after collect (this CLI keeps no cache there?)")
            shutil.copytree(source, extra)
            try:
                samples[PLUS].append(measure(argv, logs / f"{LOG_NAMES[PLUS]}_{repeat}.txt"))
                if repeat == 0 and expected_plus is not None:
                    checks[PLUS] = compare(
                        parquet_digests(out / "metrics.parquet", run_names | {extra.name}), expected_plus
                    )
            finally:
                shutil.rmtree(extra)
            print(f"  {PLUS}: {samples[PLUS][-1]['wall_s']:.2f} s", flush=True)
        if not args.skip_baseline:
            for repeat in range(args.baseline_repeats):
                shutil.rmtree(seed_out, ignore_errors=True)
                seed_argv = [
                    sys.executable,
                    str(Path(__file__).with_name("seed_baseline.py")),
                    str(root),
                    str(seed_out),
                ]
                samples[SEED].append(measure(seed_argv, logs / f"{LOG_NAMES[SEED]}_{repeat}.txt"))
                print(f"  {SEED}: {samples[SEED][-1]['wall_s']:.2f} s", flush=True)
    finally:
        shutil.rmtree(extra, ignore_errors=True)
    parquet = out / "metrics.parquet"
    if parquet.exists():
        size = sum(p.stat().st_size for p in ([parquet] if parquet.is_file() else parquet.rglob("*")) if p.is_file())
        print(f"{parquet}: {'file' if parquet.is_file() else 'directory'}, {size / 1e6:.1f} MB")

    def median(row: str, key: str) -> float:
        return statistics.median(s[key] for s in samples[row])

    base = (median(SEED, "wall_s"), median(SEED, "maxrss_mb")) if samples[SEED] else None
    rows = []
    for row, taken in samples.items():
        if not taken:
            continue
        wall, rss, tree = median(row, "wall_s"), median(row, "maxrss_mb"), median(row, "tree_mb")
        rows.append(
            [
                row + (f" (x{len(taken)})" if len(taken) != args.repeats else ""),
                f"{wall:.2f}",
                f"{rss:.0f}",
                f"{tree:.0f}",
                f"{base[0] / wall:.1f}x" if base else "-",
                f"{rss / base[1]:.2f}" if base else "-",
                checks.get(row, "-"),
            ]
        )
    title = (
        f"end to end: {args.runs} runs x {args.iterations} iterations x {len(TAGS)} tags, {os.cpu_count()} cores, "
        f"median of {args.repeats} (fresh processes; event files in the OS page cache)"
    )
    header = [
        "what",
        "wall s",
        "peak RSS MB",
        "tree RSS MB (sampled)",
        "faster than seed",
        "RSS / seed",
        f"same as {args.reference}",
    ]
    _print_table(title, header, rows)
    print(
        "peak RSS MB: the largest process of the command's tree (getrusage RUSAGE_CHILDREN of a fresh wrapper); "
        "tree RSS: the sum over the tree, sampled every 0.1 s"
    )
    if args.skip_baseline:
        print(f"seed baseline SKIPPED (--skip-baseline): no '{SEED}' row and no ratios at this size")
    if reference is None:
        print("metrics.parquet NOT checked (--reference none)")
    bad = [row for row, verdict in checks.items() if verdict != "yes"]
    if bad:
        print(f"metrics.parquet VALUES DIFFER from {ref_name}: {', '.join(bad)}", file=sys.stderr)
    elif checks:
        print(
            f"metrics.parquet held identical steps and float32 values to {ref_name} for every run/tag series "
            f"({', '.join(checks)})"
        )
    return not bad


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=FLAGS_HELP
    )
    parser.add_argument("--runs", type=int, default=100, help="runs in the fixture tree (default 100)")
    parser.add_argument("--iterations", type=int, default=2000, help="iterations per run (default 2000)")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per row; the median is shown")
    parser.add_argument(
        "--readers",
        nargs="+",
        default=None,
        metavar="READER",
        help=f"reader rows to run: {', '.join(SHORT)} or full names (default: all)",
    )
    parser.add_argument(
        "--end-to-end-only",
        "--skip-readers",
        dest="end_to_end_only",
        action="store_true",
        help="no reader rows, only the end-to-end rows",
    )
    parser.add_argument("--readers-only", action="store_true", help="no end-to-end rows (the benchmark as it was)")
    parser.add_argument(
        "--skip-baseline",
        action="store_true",
        help="no seed-script baseline row (EventAccumulator end to end: ~10 min at 1000 runs)",
    )
    parser.add_argument("--baseline-repeats", type=int, default=1, help="seed baseline processes (default 1)")
    parser.add_argument(
        "--reference",
        choices=["ea", "ours", "none"],
        default="ea",
        help="what metrics.parquet is checked against: EventAccumulator keep-all (default), "
        "read_runs (checked against EA at 100 runs; fast at 1000), or nothing",
    )
    parser.add_argument("--collect-args", default="", help="extra arguments for hpc-sweep collect, e.g. '--csv'")
    parser.add_argument("--build-workers", type=int, default=2, help="processes building a missing fixture tree")
    parser.add_argument("--build-only", action="store_true", help="build (or find) the fixture tree and stop")
    args = parser.parse_args()
    args.readers = [SHORT.get(name, name) for name in (args.readers or list(READERS))]
    unknown = [name for name in args.readers if name not in READERS]
    if unknown:
        parser.error(f"unknown reader(s) {unknown}: choose from {', '.join(SHORT)} or {', '.join(READERS)}")
    if args.end_to_end_only and args.readers_only:
        parser.error("--end-to-end-only and --readers-only exclude each other")
    root = build(args.runs, args.iterations, args.build_workers)
    if args.build_only:
        return 0
    files = list(root.rglob("events.out.tfevents.*"))
    size_mb = sum(p.stat().st_size for p in files) / 1e6
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    print(f"machine: {cores} cores ({usable} usable by this process); {len(files)} event files, {size_mb:.0f} MB")
    ok, reports = True, {}
    if not args.end_to_end_only:
        reports, ok = bench_readers(args, root, size_mb)
    if args.readers_only:
        return 0 if ok else 1
    ref_name = {"ea": EA, "ours": OURS1, "none": "-"}[args.reference]
    reference = None
    if args.reference != "none":
        # the tree never changes once built: a reference read once is kept beside it (EA takes ~10 min at 1000 runs)
        saved = root.parent / f"reference_{args.reference}.json"
        if ref_name in reports:
            reference = reports[ref_name]["hash"]
        elif saved.exists():
            reference = json.loads(saved.read_text())
            print(f"reference for metrics.parquet: {ref_name}, as read before ({saved})")
        else:
            print(f"reference for metrics.parquet: {ref_name} (one untimed process)...", flush=True)
            reference = run_reader(ref_name, root)[1]["hash"]
        if ref_name in reports or not saved.exists():
            saved.write_text(json.dumps(reference))
    ok = bench_end_to_end(args, root, reference, ref_name) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
