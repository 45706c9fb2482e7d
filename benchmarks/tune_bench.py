"""Benchmark: ``hpc-sweep tune`` (successive halving) against the full grid of the same configurations, on the demo.

Why: a search is worth running only if it finds what the grid finds for much less training. This measures, on the
built-in demo task (``Demo-PointMass-v0``, CPU), the same N configurations x S seeds two ways, both through the CLI
as the user runs it, each as one whole process:

* the grid: ``hpc-sweep submit --grid`` of every configuration to the full budget (the last rung), collected;
* the search: ``hpc-sweep tune --sampler grid --trials N`` over the same configurations written as ``choice(...)``
  dimensions, with asynchronous successive halving (``--rungs``, ``--eta``; promoted trials resume from their
  checkpoints), then ``--confirm K`` configurations re-run with fresh seeds at the full budget.

Measured: training iterations spent (the sum over runs of ``iterations_done`` from ``sweep.json``, the search's runs
apart from the confirmation's), PPO updates actually run (points of ``Loss/learning_rate`` in each attempt's event
files: a resumed attempt redoes its checkpoint's iteration, as RSL-RL does), wall time of each CLI process (the
search's part ends when the confirmation is submitted, read from ``tune/state.json``), and where tune's winners rank
in the grid's own ranking of the configurations by IQM over seeds of the final score (``groups.csv``): the search's
best trial (``result.search_best``: highest rung, then its score there) and the confirmed winner (``result.winner``).
Configurations are matched by their parameter values. Targets (issue 15): the search spends <= 1/3 of the grid's
iterations, and the confirmed winner is among the grid's top 2.

The space: learning rate x the policy's initial noise std, centred on the demo's defaults (1e-3, 1.0), with a fixed
learning-rate schedule (the demo's default ``adaptive`` schedule rescales the rate from the KL divergence within one
iteration, which makes the learning rate nearly irrelevant). ``small``: {1e-4, 1e-3, 1e-2} x {0.2, 1.0, 3.0} (9);
``full``: {1e-5, 1e-4, 1e-3, 1e-2} x {0.2, 0.5, 1.0, 3.0} (16). On the demo a rate of 1e-5 learns almost nothing
in 270 iterations, 1e-2 learns fastest but is unstable (with init std 3.0 it collapses after ~100 iterations), and
the good region is 1e-4..1e-3 with a std of 1.0 or less.

Local runs go ``--max_parallel`` at a time (default: every core; each demo run uses one torch thread), for both.
With ``--executor slurm`` the grid is ``submit --executor slurm --wait`` and the search's controller job is polled
until ``tune/state.json`` says ``done``; wall times then include queueing. The study dirs are deleted afterwards
unless ``--keep``; ``<out>/result.json`` keeps the numbers.

    python benchmarks/tune_bench.py                           # 9 configurations x 3 seeds, rungs 30,90,270 (~10 min)
    python benchmarks/tune_bench.py --configs full --keep     # 16 configurations
    python benchmarks/tune_bench.py --rungs 10,30,90 --num_envs 128 --confirm 2   # quick
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

CACHE = Path(__file__).resolve().parent / ".cache"
LR = "agent.algorithm.learning_rate"
STD = "agent.actor.distribution_cfg.init_std"
FIXED = ("agent.algorithm.schedule=fixed",)
SPACES: dict[str, dict[str, tuple[str, ...]]] = {
    "small": {LR: ("1e-4", "1e-3", "1e-2"), STD: ("0.2", "1.0", "3.0")},
    "full": {LR: ("1e-5", "1e-4", "1e-3", "1e-2"), STD: ("0.2", "0.5", "1.0", "3.0")},
}
UPDATE_TAG = "Loss/learning_rate"  # logged at every update (the reward only once episodes have ended)
TARGET_ITERATIONS = 1 / 3
TARGET_RANK = 2


def cli_prefix() -> list[str]:
    """This interpreter's ``hpc-sweep`` console script (or the CLI's ``main`` through ``python -c``)."""
    script = Path(sys.executable).parent / "hpc-sweep"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from hpc_sweep.cli import main; sys.exit(main())"]


def common_flags(args: argparse.Namespace, out: Path) -> list[str]:
    """The training and executor flags both processes get (the budget is the grid's ``--max_iterations`` and the
    search's last rung)."""
    flags = ["--num_envs", str(args.num_envs), "--seeds", *map(str, args.seed_values), "--output_dir", str(out)]
    flags += ["--executor", args.executor]
    if args.executor == "local":
        flags += ["--max_parallel", str(args.max_parallel)]
    return [*flags, *shlex.split(args.extra)]


def grid_argv(args: argparse.Namespace, space: dict[str, tuple[str, ...]], out: Path) -> list[str]:
    axes = [f"{key}={','.join(values)}" for key, values in space.items()]
    argv = [*cli_prefix(), "submit", *common_flags(args, out), "--max_iterations", str(args.rung_values[-1])]
    if args.executor == "slurm":
        argv.append("--wait")
    return [*argv, "--additional_args", *FIXED, "--grid", *axes]


def tune_argv(args: argparse.Namespace, space: dict[str, tuple[str, ...]], out: Path) -> list[str]:
    dims = [f"{key}=choice({','.join(values)})" for key, values in space.items()]
    trials = math.prod(len(values) for values in space.values())
    search = ["--sampler", "grid", "--trials", str(trials), "--rungs", ",".join(map(str, args.rung_values))]
    search += ["--eta", str(args.eta), "--confirm", str(args.confirm)]
    # the space's words first: --additional_args takes every word up to the next flag
    return [*cli_prefix(), "tune", *dims, *common_flags(args, out), *search, "--additional_args", *FIXED]


def run_cli(argv: list[str], log: Path) -> tuple[float, float, int]:
    """Run one CLI process with its output in ``log``; (start as epoch seconds, wall seconds, exit status)."""
    print(f"$ {shlex.join(argv)}\n  (output: {log})", flush=True)
    start_epoch, start = time.time(), time.perf_counter()
    with log.open("w") as handle:
        rc = subprocess.run(argv, stdout=handle, stderr=subprocess.STDOUT, check=False).returncode
    return start_epoch, time.perf_counter() - start, rc


def wait_for_study(study: Path, timeout_s: float, poll_s: float = 5.0) -> bool:
    """Slurm: wait until the study's controller job wrote ``phase: done``; False on timeout."""
    deadline = time.monotonic() + timeout_s
    state = study / "tune" / "state.json"
    while time.monotonic() < deadline:
        try:
            if json.loads(state.read_text()).get("phase") == "done":
                return True
        except (OSError, ValueError):
            pass
        time.sleep(poll_s)
    return False


# ------------------------------------------------------------------------------------------------ reading results


def config_key(params: dict[str, Any], keys: list[str]) -> tuple[float | str, ...]:
    """A configuration by its values (``"1e-05"``, ``"0.00001"`` and ``1e-5`` are one value)."""

    def value(raw: Any) -> float | str:
        try:
            return float(raw)
        except (TypeError, ValueError):
            return str(raw)

    return tuple(value(params[key]) for key in keys)


def grid_ranking(study: Path, keys: list[str]) -> list[dict[str, Any]]:
    """The grid's configurations, best first by IQM of the final score (``groups.csv``, metric ``mean_reward``)."""
    with (study / "groups.csv").open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("metric", "mean_reward") == "mean_reward"]
    groups = [
        {"key": config_key(row, keys), "params": {k: row[k] for k in keys}, "iqm": float(row["iqm"]), "n": row["n"]}
        for row in rows
        if row.get("iqm") not in (None, "")
    ]
    groups.sort(key=lambda group: -group["iqm"])
    for rank, group in enumerate(groups, start=1):
        group["rank"] = rank
    return groups


def run_entries(study: Path) -> list[dict[str, Any]]:
    return json.loads((study / "sweep.json").read_text())["runs"]


def updates_run(study: Path, run: dict[str, Any]) -> int:
    """PPO updates the run performed over all its attempts: points of ``UPDATE_TAG`` in each attempt's event files."""
    from hpc_sweep.collect.tfevents.reader import iter_event_files, read_event_files

    record_path = study / "runs" / str(run["run_id"]) / "record.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else run
    dirs = record.get("log_dirs") or ([record["log_dir"]] if record.get("log_dir") else [])
    total = 0
    for name in dirs:
        path = Path(name) if Path(name).is_absolute() else study / name
        series = read_event_files(iter_event_files(path), tags=[UPDATE_TAG]).scalars.get(UPDATE_TAG)
        total += 0 if series is None else len(series.step)
    return total


def spent(study: Path, runs: list[dict[str, Any]]) -> tuple[int, int]:
    """(sum of ``iterations_done``, PPO updates actually run) over ``runs``."""
    iterations = sum(int(run.get("iterations_done") or 0) for run in runs)
    return iterations, sum(updates_run(study, run) for run in runs)


def confirmation_started(state: dict[str, Any]) -> float | None:
    """When the confirmation stage was submitted (epoch seconds), from ``tune/state.json``."""
    for submission in state.get("submissions", []):
        if str(submission.get("purpose", "")).startswith("confirmation"):
            return datetime.fromisoformat(submission["created"]).timestamp()
    return None


# ------------------------------------------------------------------------------------------------ reporting


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    Console(width=160).print(table)


def short(params: dict[str, Any]) -> str:
    return ", ".join(f"{key.rsplit('.', 1)[-1]}={value}" for key, value in params.items())


def rank_of(entry: dict[str, Any] | None, ranking: list[dict[str, Any]], keys: list[str]) -> int | None:
    if not entry:
        return None
    key = config_key(entry["params"], keys)
    return next((group["rank"] for group in ranking if group["key"] == key), None)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--configs", choices=sorted(SPACES), default="small", help="the space (default small: 3x3)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per configuration (seeds 1..S; default 3)")
    parser.add_argument("--rungs", default="30,90,270", help="rung budgets; the last is the grid's (default 30,90,270)")
    parser.add_argument("--eta", type=int, default=3, help="each rung keeps the best 1/eta (default 3)")
    parser.add_argument("--confirm", type=int, default=3, help="configurations re-run with fresh seeds (default 3)")
    parser.add_argument("--num_envs", type=int, default=256, help="environments per run (default 256)")
    parser.add_argument("--executor", choices=["local", "slurm"], default="local")
    parser.add_argument(
        "--max_parallel", type=int, default=os.cpu_count() or 1, help="local: runs at once (default: every core)"
    )
    parser.add_argument("--extra", default="", help="more flags for both commands, e.g. '-p debug --time 20'")
    parser.add_argument("--slurm_timeout_s", type=float, default=3600, help="slurm: longest wait for the study")
    parser.add_argument("--out", type=Path, default=CACHE / "tune_bench", help="where the two studies are made")
    parser.add_argument("--keep", action="store_true", help="keep the two study dirs (default: delete them)")
    args = parser.parse_args()
    args.rung_values = [int(b) for b in args.rungs.split(",")]
    args.seed_values = list(range(1, args.seeds + 1))
    space = SPACES[args.configs]
    keys = list(space)
    n_configs = math.prod(len(values) for values in space.values())

    out = args.out.resolve()
    grid_dir, tune_dir = out / "grid", out / "tune"
    for path in (grid_dir, tune_dir):
        shutil.rmtree(path, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {cores} cores, load {load:.2f}; {n_configs} configurations x {args.seeds} seeds, rungs "
        f"{args.rungs}, eta {args.eta}, confirm {args.confirm}, {args.num_envs} envs, executor {args.executor}",
        flush=True,
    )

    _, grid_wall, grid_rc = run_cli(grid_argv(args, space, grid_dir), out / "grid.log")
    if grid_rc != 0:
        print(f"grid: hpc-sweep submit exited {grid_rc}; see {out / 'grid.log'}")
        return 1
    tune_start, tune_wall, tune_rc = run_cli(tune_argv(args, space, tune_dir), out / "tune.log")
    if args.executor == "slurm" and tune_rc == 0:
        if not wait_for_study(tune_dir, args.slurm_timeout_s):
            print(f"tune: the study did not finish within {args.slurm_timeout_s:.0f} s; see {tune_dir}")
            return 1
        tune_wall = time.time() - tune_start
    state_path = tune_dir / "tune" / "state.json"
    if tune_rc != 0 or not state_path.exists():
        print(f"tune: hpc-sweep tune exited {tune_rc}; see {out / 'tune.log'}")
        return 1
    state = json.loads(state_path.read_text())
    result = state.get("result") or {}

    ranking = grid_ranking(grid_dir, keys)
    grid_iterations, grid_updates = spent(grid_dir, run_entries(grid_dir))
    tune_runs = run_entries(tune_dir)
    search_runs = [run for run in tune_runs if not str(run.get("group", "")).startswith("confirm")]
    confirm_runs = [run for run in tune_runs if str(run.get("group", "")).startswith("confirm")]
    search_iterations, search_updates = spent(tune_dir, search_runs)
    confirm_iterations, confirm_updates = spent(tune_dir, confirm_runs)
    confirm_at = confirmation_started(state)
    search_wall = (confirm_at - tune_start) if confirm_at else tune_wall
    search_rank = rank_of(result.get("search_best"), ranking, keys)
    winner_rank = rank_of(result.get("winner"), ranking, keys)

    def ratio(part: float, whole: float) -> str:
        return f"{part / whole:.2f}" if whole else "-"

    def ranked(rank: int | None) -> str:
        return "-" if rank is None else f"#{rank} of {len(ranking)}"

    rows = [
        ["grid (submit, full budget)", grid_iterations, grid_updates, grid_wall, "#1 (itself)"],
        ["tune: search (SHA)", search_iterations, search_updates, search_wall, f"best trial {ranked(search_rank)}"],
        ["tune: confirmation", confirm_iterations, confirm_updates, tune_wall - search_wall, ""],
        [
            "tune: total",
            search_iterations + confirm_iterations,
            search_updates + confirm_updates,
            tune_wall,
            f"winner {ranked(winner_rank)}",
        ],
    ]
    print_table(
        f"tune vs grid: {n_configs} configurations x {args.seeds} seeds, rungs {args.rungs}, eta {args.eta}",
        ["what", "iterations", "vs grid", "PPO updates run", "wall s", "vs grid", "grid rank of tune's pick"],
        [
            [what, str(its), ratio(its, grid_iterations), str(ups), f"{wall:.1f}", ratio(wall, grid_wall), rank]
            for what, its, ups, wall, rank in rows
        ],
    )

    trials = {config_key(t["params"], keys): t for t in state.get("trials", [])}
    confirmed = {config_key(c["params"], keys): c for c in result.get("confirmed", [])}
    winner_key = config_key(result["winner"]["params"], keys) if result.get("winner") else None
    detail = []
    for group in ranking:
        trial = trials.get(group["key"], {})
        scored = {int(k): v for k, v in (trial.get("scores") or {}).items() if v is not None}
        top = max(scored, default=None)
        entry = confirmed.get(group["key"])
        detail.append(
            [
                f"#{group['rank']} {short(group['params'])}",
                f"{group['iqm']:.3f}",
                "-" if top is None else str(args.rung_values[top]),
                "-" if top is None else f"{scored[top]:.3f}",
                f"{entry['confirmed_iqm']:.3f}" if entry and entry.get("confirmed_iqm") is not None else "",
                "winner" if group["key"] == winner_key else "",
            ]
        )
    print_table(
        "the grid's ranking (IQM over seeds of the final score) and what tune did with each configuration",
        ["configuration", "grid IQM", "tune: rung reached", "score there", "confirmed IQM", ""],
        detail,
    )

    share = search_iterations / grid_iterations if grid_iterations else math.inf
    iterations_ok = share <= TARGET_ITERATIONS
    rank_ok = winner_rank is not None and winner_rank <= TARGET_RANK
    print(
        f"{'PASS' if iterations_ok else 'FAIL'}: the search spent {search_iterations} iterations, {share:.1%} of the "
        f"grid's {grid_iterations} (target <= 1/3); with the confirmation {search_iterations + confirm_iterations} "
        f"({(search_iterations + confirm_iterations) / grid_iterations:.1%})"
    )
    winner = result.get("winner") or {}
    print(
        f"{'PASS' if rank_ok else 'FAIL'}: tune's confirmed winner ({short(winner.get('params', {}))}) is "
        f"{ranked(winner_rank)} in the grid's ranking (target: top {TARGET_RANK}); the search's best trial "
        f"({short((result.get('search_best') or {}).get('params', {}))}) is {ranked(search_rank)}"
    )
    summary = {
        "configs": args.configs,
        "space": {key: list(values) for key, values in space.items()},
        "seeds": args.seed_values,
        "rungs": args.rung_values,
        "eta": args.eta,
        "confirm": args.confirm,
        "num_envs": args.num_envs,
        "executor": args.executor,
        "max_parallel": args.max_parallel if args.executor == "local" else None,
        "grid": {"iterations": grid_iterations, "updates": grid_updates, "wall_s": grid_wall},
        "tune": {
            "search_iterations": search_iterations,
            "search_updates": search_updates,
            "search_wall_s": search_wall,
            "confirm_iterations": confirm_iterations,
            "confirm_updates": confirm_updates,
            "wall_s": tune_wall,
            "search_best_rank": search_rank,
            "winner_rank": winner_rank,
            "result": result,
        },
        "grid_ranking": [{k: v for k, v in group.items() if k != "key"} for group in ranking],
        "targets": {"iterations": iterations_ok, "winner_top2": rank_ok},
    }
    (out / "result.json").write_text(json.dumps(summary, indent=1) + "\n")
    if not args.keep:
        for path in (grid_dir, tune_dir):
            shutil.rmtree(path, ignore_errors=True)
    print(f"numbers: {out / 'result.json'}" + ("" if args.keep else " (study dirs deleted; --keep keeps them)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
