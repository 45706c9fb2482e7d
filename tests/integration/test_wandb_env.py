"""A sweep whose training logs to W&B: each run's training gets its W&B group, name and id, and a resubmitted
attempt continues the same W&B run. The training here is a tiny script that writes the ``WANDB_*`` variables it got
to a file per seed (one line per attempt) and fails seed 2's first attempt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.integration

ENV_DUMPING_TRAIN = r"""
import argparse, datetime, json, os, sys
parser = argparse.ArgumentParser()
for flag in ("--task", "--run_name", "--logger"):
    parser.add_argument(flag)
for flag in ("--seed", "--max_iterations", "--num_envs"):
    parser.add_argument(flag, type=int)
parser.add_argument("--headless", action="store_true")
args, rest = parser.parse_known_args()
dumps = os.environ["ENV_DUMPS"]
with open(os.path.join(dumps, f"seed{args.seed}.jsonl"), "a") as handle:
    handle.write(json.dumps({k: v for k, v in os.environ.items() if k.startswith("WANDB_")}) + "\n")
root = os.path.abspath(os.path.join("logs", "rsl_rl", "fake"))
print(f"[INFO] Logging experiment in directory: {root}", flush=True)
stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
print(f"Exact experiment name requested from command line: {stamp}", flush=True)
os.makedirs(os.path.join(root, f"{stamp}_{args.run_name}"), exist_ok=True)
for it in range(args.max_iterations):
    print(f"Learning iteration {it}/{args.max_iterations}", flush=True)
    print(f"Mean reward: {it + args.seed:.2f}", flush=True)
failed_once = os.path.join(dumps, f"failed_seed{args.seed}")
if args.seed == 2 and not os.path.exists(failed_once):
    open(failed_once, "w").close()
    sys.exit(3)
"""


def _attempts(dumps: Path, seed: int) -> list[dict[str, str]]:
    return [json.loads(line) for line in (dumps / f"seed{seed}.jsonl").read_text().splitlines()]


def test_attempts_of_a_run_share_one_wandb_id_and_seeds_share_a_group(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(ENV_DUMPING_TRAIN)
    profile = tmp_path / "wb.toml"
    profile.write_text(
        f'[command]\nlauncher = ["{{python}}"]\nscript = "{script}"\nworkdir = "{{sweep_dir}}"\n'
        'flags = ["headless", "run_name"]\n'
    )
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    sweep = tmp_path / "sweep"
    env = {"ENV_DUMPS": str(dumps), "WANDB_RUN_ID": "exported_for_all", "WANDB_PROJECT": "my_project"}
    first = run_cli(
        "submit", "--profile", str(profile), "--executor", "local", "--seeds", "1", "2", "--max_iterations", "3",
        "--num_envs", "8", "--common_folder", "wbstudy", "--output_dir", str(sweep), "--max_parallel", "2",
        "--additional_args", "--logger", "wandb", env=env, timeout=300,
    )  # fmt: skip
    assert first.returncode == 1, first.stdout[-3000:] + first.stderr[-3000:]  # seed 2 failed its first attempt
    again = run_cli("resubmit", str(sweep), "--failed", env=env, timeout=300)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]

    (seed1,), (attempt1, attempt2) = _attempts(dumps, 1), _attempts(dumps, 2)
    assert attempt1 == attempt2, "a resubmitted attempt continues the same W&B run"
    assert seed1["WANDB_RUN_ID"] != attempt1["WANDB_RUN_ID"]
    assert "exported_for_all" not in (seed1["WANDB_RUN_ID"], attempt1["WANDB_RUN_ID"])
    for seed, got in ((1, seed1), (2, attempt1)):
        assert got["WANDB_NAME"] == f"seed{seed}" and got["WANDB_RUN_GROUP"] == "wbstudy"
        assert got["WANDB_RESUME"] == "allow" and got["WANDB_PROJECT"] == "my_project"
    manifest = json.loads((sweep / "sweep.json").read_text())
    assert [run["env"]["WANDB_RUN_ID"] for run in manifest["runs"]] == [seed1["WANDB_RUN_ID"], attempt1["WANDB_RUN_ID"]]
    record = json.loads((sweep / "runs" / "0001" / "record.json").read_text())
    assert record["state"] == "completed" and record["attempt"] == 2
