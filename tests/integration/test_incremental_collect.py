"""``hpc-sweep collect`` as a user runs it, again and again: ``metrics.parquet`` (schema, filters, ``--csv``), the
collect cache (a second collect reads nothing unchanged; a grown, replaced or shrunk file is read right; a damaged
or deleted cache costs a reread, never a wrong value), and memory that does not grow with the sweep.

The logs are real: PyTorch's ``SummaryWriter`` writes them, as RSL-RL does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from torch.utils.tensorboard import SummaryWriter

import hpc_sweep
from hpc_sweep.collect.tfevents import read_event_files
from tests.conftest import run_cli

pytestmark = pytest.mark.integration

TAGS = ["Train/mean_reward", "Loss/value_function", "Loss/entropy", "Policy/mean_noise_std"]


def write_run(
    run_dir: Path | SummaryWriter, seed: int, steps: range, keep_open: bool = False, tags: list[str] = TAGS
) -> SummaryWriter:
    """RSL-RL-like scalars for ``steps``, by a new writer in ``run_dir`` or by a writer still open (a run training
    on between two collects); flushed, and closed unless ``keep_open``."""
    writer = run_dir if isinstance(run_dir, SummaryWriter) else SummaryWriter(str(run_dir))
    for step in steps:
        for k, tag in enumerate(tags):
            writer.add_scalar(tag, seed + step * 0.1 + k, step)
    writer.flush()
    if not keep_open:
        writer.close()
    return writer


def make_tree(root: Path, runs: int = 4, iterations: int = 30, live: int | None = None) -> Path:
    """``runs`` runs in two experiments; the writer of run ``live`` stays open (see :func:`live_writer`)."""
    logs = root / "logs" / "rsl_rl"
    for index in range(runs):
        run_dir = logs / f"exp{index % 2}" / f"2026-01-01_00-00-0{index}_seed{index}"
        writer = write_run(run_dir, index, range(iterations), keep_open=index == live)
        if index == live:
            _LIVE[root] = writer
    an_hour_ago = time.time() - 3600  # runs that ended long ago (a run whose files just changed is judged running)
    for path in logs.rglob("*"):
        os.utime(path, (an_hour_ago, an_hour_ago))
    return root / "logs"


_LIVE: dict[Path, SummaryWriter] = {}


def collect(tree: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    result = run_cli("collect", str(tree), "--output_dir", str(out), *extra)
    assert result.returncode == 0, result.stderr + result.stdout
    return result


def truth(tree: Path) -> pd.DataFrame:
    """Every point of every event file, read afresh: (run dir, tag, step) -> float32 value."""
    rows = []
    for run_dir in sorted(p.parent for p in tree.rglob("events.out.tfevents.*")):
        result = read_event_files(sorted(run_dir.glob("events.out.tfevents.*")))
        for tag, series in result.scalars.items():
            for step, value in zip(series.step.tolist(), series.value.astype(np.float32).tolist(), strict=True):
                rows.append((run_dir.name, tag, step, value))
    return pd.DataFrame(rows, columns=["dir", "tag", "step", "value"]).sort_values(["dir", "tag", "step"])


def table_points(out: Path) -> pd.DataFrame:
    frame = pd.read_parquet(out / "metrics.parquet")
    frame["dir"] = frame["run_id"].astype(str).str.rsplit("/", n=1).str[-1]
    frame = frame[["dir", "tag", "step", "value"]].astype({"tag": str})
    frame["value"] = frame["value"].astype(np.float32)
    return frame.sort_values(["dir", "tag", "step"])


def assert_table_is_truth(tree: Path, out: Path) -> None:
    mine, expected = table_points(out).reset_index(drop=True), truth(tree).reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, expected, check_dtype=False)


def part_inodes(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_ino for p in (out / "metrics.parquet").glob("part-*.parquet")}


def test_metrics_parquet_schema_filters_and_csv(tmp_path: Path) -> None:
    tree, out = make_tree(tmp_path / "tree"), tmp_path / "out"
    collect(tree, out, "--csv")
    parts = sorted((out / "metrics.parquet").glob("part-*.parquet"))
    assert len(parts) == 4  # one file per run
    schema = pq.read_schema(parts[0])
    for column in ("run_id", "group", "tag", "metric"):
        assert pa.types.is_dictionary(schema.field(column).type), column
    assert schema.field("value").type == pa.float32() and schema.field("step").type == pa.int64()
    assert pq.ParquetFile(parts[0]).metadata.row_group(0).column(0).compression == "ZSTD"
    assert_table_is_truth(tree, out)
    full = hpc_sweep.load_metrics(out)
    assert len(full) == 4 * 30 * len(TAGS)
    one_run = full["run_id"].iloc[0]
    some = hpc_sweep.load_metrics(out, runs=[one_run], tags=["Loss/entropy"])
    expected = full[(full["run_id"] == one_run) & (full["tag"] == "Loss/entropy")]
    assert len(some) == 30
    np.testing.assert_array_equal(some["value"].to_numpy(), expected["value"].to_numpy())
    by_metric = hpc_sweep.load_metrics(out / "metrics.parquet", metrics=["value_function"])
    assert set(by_metric["tag"]) == {"Loss/value_function"} and len(by_metric) == 4 * 30
    csv = pd.read_csv(out / "metrics.csv")
    assert len(csv) == len(full)
    key = ["run_id", "tag", "step"]
    merged = csv.merge(full.astype({"run_id": str, "tag": str}), on=key, suffixes=("_csv", "_parquet"))
    assert len(merged) == len(full)
    np.testing.assert_array_equal(
        merged["value_csv"].to_numpy(np.float32), merged["value_parquet"].to_numpy(np.float32)
    )
    np.testing.assert_array_equal(merged["wall_time_csv"].to_numpy(), merged["wall_time_parquet"].to_numpy())


def test_a_second_collect_reads_only_what_changed(tmp_path: Path) -> None:
    tree, out = make_tree(tmp_path / "tree", live=1), tmp_path / "out"
    collect(tree, out)
    first = part_inodes(out)
    results = json.loads((out / "training_results.json").read_text())
    assert [len(e["reward_progression"]) for e in results["experiments"]] == [30] * 4
    collect(tree, out)
    assert part_inodes(out) == first  # nothing changed: no run rewritten
    grown = next(tree.rglob("*_seed1"))
    write_run(_LIVE.pop(tmp_path / "tree"), 1, range(30, 45))  # the run trains on: its one file grows
    collect(tree, out)
    now = part_inodes(out)
    changed = {name for name in now if now[name] != first.get(name)}
    assert len(changed) == 1  # only the grown run's part is new
    assert_table_is_truth(tree, out)
    results = json.loads((out / "training_results.json").read_text())
    lengths = {Path(e["log_dirs"][0]).name: len(e["reward_progression"]) for e in results["experiments"]}
    assert lengths[grown.name] == 45 and sorted(lengths.values()) == [30, 30, 30, 45]


def test_the_cache_keeps_only_the_runs_of_the_last_collect(tmp_path: Path) -> None:
    tree, out = make_tree(tmp_path / "tree"), tmp_path / "out"
    runs_dir = out / ".hpc_sweep_cache" / "runs"
    runs_dir.mkdir(parents=True)
    (runs_dir / "0123456789abcdef01234567.meta.json").write_text("{}")  # a run stored by an older version
    collect(tree, out)

    def stored() -> set[str]:
        return {p.name.split(".", 1)[0] for p in runs_dir.iterdir()}

    assert len(stored()) == 4 and "0123456789abcdef01234567" not in stored()
    gone = sorted(p for p in tree.rglob("*_seed*") if p.is_dir())[0]
    shutil.rmtree(gone)
    collect(tree, out)
    assert len(stored()) == 3 and len(list((out / "metrics.parquet").iterdir())) == 3
    assert len(json.loads((out / "training_results.json").read_text())["experiments"]) == 3
    assert_table_is_truth(tree, out)


def test_replaced_shrunk_or_damaged_inputs_and_cache_never_give_wrong_values(tmp_path: Path) -> None:
    tree, out = make_tree(tmp_path / "tree"), tmp_path / "out"
    collect(tree, out)
    runs = sorted(p for p in tree.rglob("*_seed*") if p.is_dir())
    # Replaced: a new file under the same name (new inode), other values.
    event = next(runs[0].glob("events.out.tfevents.*"))
    event.unlink()
    write_run(runs[0], 100, range(10))
    shutil.move(str(next(runs[0].glob("events.out.tfevents.*"))), event)
    # Shrunk: a run's file cut to half (a restored backup).
    other = next(runs[1].glob("events.out.tfevents.*"))
    os.truncate(other, other.stat().st_size // 2)
    # Clock skew: a file rewritten with the same size and its old mtime put back.
    skewed = next(runs[2].glob("events.out.tfevents.*"))
    stat = skewed.stat()
    data = bytearray(skewed.read_bytes())
    shutil.rmtree(runs[2])
    write_run(runs[2], 7, range(30))
    fresh = next(runs[2].glob("events.out.tfevents.*"))
    if fresh.stat().st_size == len(data):
        os.utime(fresh, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    # A damaged cache: every decoded event file and every second run's stored outputs garbled or emptied.
    stored = sorted(p for p in (out / ".hpc_sweep_cache").rglob("*") if p.is_file() and p.name != "CACHEDIR.TAG")
    for index, path in enumerate(stored):
        if "events" in path.parts or index % 2:
            path.write_bytes(b"\x00garbage" if index % 3 else b"")
    collect(tree, out)
    assert_table_is_truth(tree, out)
    shutil.rmtree(out / ".hpc_sweep_cache")  # clearing the cache is always safe
    collect(tree, out)
    assert_table_is_truth(tree, out)


def test_no_cache_leaves_no_cache_and_the_same_table(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    collect(tree, tmp_path / "a")
    collect(tree, tmp_path / "b", "--no-cache")
    assert not (tmp_path / "b" / ".hpc_sweep_cache").exists()
    assert not [p for p in (tmp_path / "b").iterdir() if p.name.startswith(".hpc_sweep_cache")]
    pd.testing.assert_frame_equal(table_points(tmp_path / "a"), table_points(tmp_path / "b"))


MEMORY_PROBE = """
import resource, sys
from hpc_sweep.cli import main
code = main(["collect", sys.argv[1], "--output_dir", sys.argv[2]])
usage = resource.getrusage
print("PEAK_KB", usage(resource.RUSAGE_SELF).ru_maxrss, usage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(code)
"""


def test_collecting_300_runs_keeps_memory_bounded_and_draws_the_figure(tmp_path: Path) -> None:
    """300 runs x 2000 iterations x 10 tags (6 M points): peak memory of the collect process and of each worker
    stays far below what holding every point takes (3.4 GB before runs were streamed); the figure shows every group."""
    master = tmp_path / "master"
    write_run(master, 0, range(2000), tags=[*TAGS, *(f"Episode_Reward/term_{k}" for k in range(6))])
    files = sorted(master.iterdir())
    logs = tmp_path / "tree" / "logs" / "rsl_rl"
    for index in range(300):
        run_dir = logs / f"exp{index % 6}" / f"2026-01-01_00-00-00_seed{index}"
        run_dir.mkdir(parents=True)
        for file in files:
            os.link(file, run_dir / file.name)
    out = tmp_path / "out"
    env = {**os.environ, "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(logs.parent), str(out)], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    main_kb, worker_kb = map(int, result.stdout.rsplit("PEAK_KB", 1)[1].split())
    assert main_kb < 1_000_000 and worker_kb < 1_000_000, (main_kb, worker_kb)
    assert (out / "training_analysis.png").stat().st_size > 50_000
    results = json.loads((out / "training_results.json").read_text())
    assert len(results["experiments"]) == 300 and len(results["groups"]) == 6
    assert all(len(e["reward_progression"]) == 2000 for e in results["experiments"])
