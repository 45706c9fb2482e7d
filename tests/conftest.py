"""Shared test helpers: run the real CLI in a subprocess, and a tiny Isaac-Lab-like script for executor tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hpc_sweep.collect.frames import grid_keys
from hpc_sweep.collect.results import Collection
from hpc_sweep.report.outputs import Written, write_results
from hpc_sweep.report.run_products import CACHE_DIR, ProductCache, run_key, store_run

REPO = Path(__file__).resolve().parent.parent

#: A stand-in training script for executor tests (the real demo task is tested end to end separately): it prints
#: Isaac Lab's log-dir lines and RSL-RL iteration headers, records when it ran and on which GPU, and fails on demand.
FAKE_TRAIN = r"""
import argparse, datetime, json, os, signal, sys, time
parser = argparse.ArgumentParser()
for flag in ("--task", "--run_name"):
    parser.add_argument(flag)
for flag in ("--seed", "--max_iterations", "--num_envs"):
    parser.add_argument(flag, type=int)
parser.add_argument("--headless", action="store_true")
parser.add_argument("--world", action="store_true")
args, rest = parser.parse_known_args()
root = os.path.abspath(os.path.join("logs", "rsl_rl", "fake"))
print(f"[INFO] Logging experiment in directory: {root}", flush=True)
stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
print(f"Exact experiment name requested from command line: {stamp}", flush=True)
log_dir = os.path.join(root, f"{stamp}_{args.run_name}")
os.makedirs(log_dir, exist_ok=True)
start = time.time()
behaviour = os.environ.get("FAKE_BEHAVIOUR_SEED_%d" % args.seed, "")
for it in range(args.max_iterations):
    print(f"\033[1m Learning iteration {it}/{args.max_iterations} \033[0m", flush=True)
    print(f"{'Mean reward:':>40} {it * 0.5 + args.seed:.2f}", flush=True)
    if behaviour == "sigkill" and it == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(float(os.environ.get("FAKE_SLEEP", "0.05")))
with open(os.path.join(log_dir, "ran.json"), "w") as handle:
    json.dump({"start": start, "end": time.time(), "gpu": os.environ.get("CUDA_VISIBLE_DEVICES"),
               "argv": sys.argv[1:]}, handle)
if behaviour == "exception_exit0":
    try:
        raise RuntimeError("simulated crash caught by the script")
    except RuntimeError:
        import traceback
        traceback.print_exc()
    sys.exit(0)
if behaviour == "fail":
    sys.exit(3)
"""


@pytest.fixture
def fake_profile(tmp_path: Path) -> Path:
    """A profile whose training script is :data:`FAKE_TRAIN`."""
    script = tmp_path / "fake_train.py"
    script.write_text(FAKE_TRAIN)
    profile = tmp_path / "fake.toml"
    profile.write_text(
        f'description = "fake trainer for executor tests"\n[command]\nlauncher = ["{{python}}"]\n'
        f'script = "{script}"\nworkdir = "{{sweep_dir}}"\nflags = ["headless", "run_name", "world"]\n'
    )
    return profile


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600):
    """Run ``hpc-sweep`` as a user would, in a subprocess; returns the CompletedProcess."""
    full_env = {**os.environ, "GIT_PYTHON_REFRESH": "quiet", "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "hpc_sweep.cli", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_collection(collection: Collection, out: Path, csv: bool = True) -> Written:
    """Every result file of an in-memory collection, written by the path ``hpc-sweep collect`` takes after reading:
    each run's outputs stored (:func:`~hpc_sweep.report.run_products.store_run`), then :func:`write_results`."""
    cache = ProductCache(out / CACHE_DIR)
    keys = grid_keys(run.source for run in collection.runs)
    produced = []
    for run in collection.runs:
        key = run_key(run.source)
        produced.append((key, store_run(run, keys, cache, key)))
    return write_results(out, collection.root, produced, keys, cache, csv)
