"""W&B: a run that logs to W&B gets its group, its name, a stable id and resume-if-it-exists, planned once and recorded
in the manifest, so that every attempt continues one W&B run and the seeds of a group are grouped."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hpc_sweep.command import TrainingCommand
from hpc_sweep.job_env import apply_planned_env
from hpc_sweep.plan import logs_to_wandb, make_plan, requests_from_manifest, wandb_env
from hpc_sweep.profiles import load_profile, parse_profile
from hpc_sweep.spec import SweepSpec

SWEEP = Path("/scratch/sweep")
WANDB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _command(options: tuple[str, ...] = (), passthrough: tuple[str, ...] = ()) -> TrainingCommand:
    return TrainingCommand(("python", "train.py"), "T", 1, 10, 8, options, passthrough, "/w", "isaaclab")


@pytest.mark.parametrize(
    "passthrough",
    [("--logger", "wandb"), ("--video", "--logger=wandb"), ("agent.logger=wandb",), ("--logger", "wandb", "x=1")],
)
def test_the_wandb_logger_is_seen_among_pass_through_arguments(passthrough: tuple[str, ...]) -> None:
    assert logs_to_wandb(_command(passthrough=passthrough))


def test_the_wandb_logger_is_seen_among_the_profiles_extra_arguments() -> None:
    assert logs_to_wandb(_command(options=("--headless", "--logger", "wandb")))


@pytest.mark.parametrize("passthrough", [(), ("--logger", "tensorboard"), ("wandb",), ("--run_name", "wandb")])
def test_other_loggers_get_no_wandb_variables(passthrough: tuple[str, ...]) -> None:
    assert not logs_to_wandb(_command(passthrough=passthrough))


def test_a_runs_variables_name_its_group_and_seed_and_resume_one_id() -> None:
    env = dict(wandb_env("/s|2026-01-01T00:00:00", "0003", "study_lr0.001", 42))
    assert env["WANDB_RUN_GROUP"] == "study_lr0.001" and env["WANDB_NAME"] == "seed42"
    assert env["WANDB_RESUME"] == "allow" and WANDB_ID.fullmatch(env["WANDB_RUN_ID"])


def test_the_id_is_stable_for_a_run_and_differs_across_runs_and_sweeps() -> None:
    def run_id(sweep: str, run: str) -> str:
        return dict(wandb_env(sweep, run, "g", 1))["WANDB_RUN_ID"]

    assert run_id("/s|t1", "0000") == run_id("/s|t1", "0000")
    assert len({run_id("/s|t1", "0000"), run_id("/s|t1", "0001"), run_id("/s|t2", "0000")}) == 3


def _plan(*additional_args: str, profile=None):
    spec = SweepSpec(common_folder="study", seeds=(1, 2), max_iterations=5, num_envs=8, additional_args=additional_args)
    return make_plan(spec, profile or load_profile("demo"), SWEEP, "local", {}, python="/usr/bin/python3")


def test_the_plan_gives_each_run_its_variables_and_records_them_in_the_manifest() -> None:
    plan = _plan("--logger", "wandb")
    envs = [dict(request.env) for request in plan.requests]
    assert [env["WANDB_NAME"] for env in envs] == ["seed1", "seed2"]
    assert {env["WANDB_RUN_GROUP"] for env in envs} == {"study"}
    assert envs[0]["WANDB_RUN_ID"] != envs[1]["WANDB_RUN_ID"]
    assert [run["env"] for run in plan.manifest["runs"]] == envs


def test_resubmitted_requests_carry_the_recorded_variables() -> None:
    plan = _plan("--logger", "wandb")
    again = requests_from_manifest(plan.manifest, SWEEP, {"0001"})
    assert again[0].env == plan.requests[1].env


def test_a_profile_that_logs_to_wandb_gives_every_run_its_variables() -> None:
    data = {"command": {"launcher": ["{python}"], "script": "train.py", "extra_args": ["--logger", "wandb"]}}
    plan = _plan(profile=parse_profile(data, name="wb", source="wb.toml"))
    assert all(dict(request.env)["WANDB_RESUME"] == "allow" for request in plan.requests)


def test_runs_without_wandb_get_no_variables_and_no_manifest_entry() -> None:
    plan = _plan()
    assert all(request.env == () for request in plan.requests)
    assert all("env" not in run for run in plan.manifest["runs"])
    assert requests_from_manifest(plan.manifest, SWEEP, {"0000"})[0].env == ()


def test_an_exported_group_is_kept_but_the_runs_identity_is_always_its_own() -> None:
    planned = wandb_env("/s|t", "0000", "study", 1)
    exported = {
        "WANDB_RUN_GROUP": "all_my_sweeps",
        "WANDB_RUN_ID": "one_for_all",
        "WANDB_NAME": "x",
        "WANDB_PROJECT": "p",
    }
    env = apply_planned_env(dict(exported), planned)
    assert env["WANDB_RUN_GROUP"] == "all_my_sweeps" and env["WANDB_PROJECT"] == "p"
    assert (env["WANDB_RUN_ID"], env["WANDB_NAME"]) == (dict(planned)["WANDB_RUN_ID"], "seed1")
    assert apply_planned_env({}, planned)["WANDB_RUN_GROUP"] == "study"
