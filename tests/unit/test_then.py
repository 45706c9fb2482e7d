"""``--then``: what the collect job asks Slurm for, which arrays it follows, that ``cancel`` stops it before the
arrays, and what a dry run shows (the sbatch script, never a webhook URL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpc_sweep.cli import main
from hpc_sweep.errors import HpcSweepError, UsageError
from hpc_sweep.launch import followup
from hpc_sweep.launch import slurm as slurm_launch
from hpc_sweep.launch.accounting import JobReport
from hpc_sweep.launch.followup import arrays_to_follow, dependency, followup_parameters
from hpc_sweep.launch.slurm import SlurmLauncher
from hpc_sweep.layout import SweepLayout
from hpc_sweep.manifest import Sweep
from hpc_sweep.profiles import parse_profile
from hpc_sweep.report.console import make_console
from hpc_sweep.resources import then_parameters
from hpc_sweep.spec import SweepSpec
from hpc_sweep.verbs.then import compare_dirs, followup_lines, then_settings

ARRAYS = {"partition": "gpu", "account": "lab", "qos": "high", "setup": ["module load cuda"], "job_name": "study",
          "gpus_per_node": 1, "gres": "gpu:a100:1", "constraint": "a100", "time": 480, "mem": "32GB",
          "cpus_per_task": 8, "additional_parameters": {"reservation": "rl", "begin": "now+1hour"}}  # fmt: skip


def test_collect_job_keeps_placement_and_setup_but_asks_for_no_gpu() -> None:
    params = followup_parameters(ARRAYS, then_parameters({}), mail=None)
    assert params == {
        "partition": "gpu", "account": "lab", "qos": "high", "setup": ["module load cuda"],
        "job_name": "study_collect", "additional_parameters": {"reservation": "rl"},
        "time": 60, "cpus_per_task": 2, "mem": "8GB",
    }  # fmt: skip


def test_then_table_overrides_the_defaults_and_mail_is_end_and_fail() -> None:
    params = followup_parameters(ARRAYS, then_parameters({"partition": "cpu", "time": "00:20:00", "cpus": 1}), "me@x")
    assert (params["partition"], params["time"], params["cpus_per_task"], params["mem"]) == ("cpu", 20, 1, "8GB")
    assert (params["mail_type"], params["mail_user"]) == ("END,FAIL", "me@x")


@pytest.mark.parametrize(
    ("table", "fragment"),
    [({"gpus": 1}, "unknown key 'gpus'; valid keys: cpus, mem, partition, time"), ({"time": "soon"}, "[then] time"),
     ({"mem": "lots"}, "[then] mem"), ({"cpus": 0}, "[then] cpus"), ({"partition": "a b"}, "[then] partition")],
)  # fmt: skip
def test_a_bad_then_table_names_the_profile_and_key(table: dict, fragment: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_profile({"then": table}, name="p", source="p.toml")
    assert "profile p.toml [then]" in str(caught.value) and fragment in str(caught.value)


def test_dependency_takes_plain_job_ids_only() -> None:
    assert dependency(["12", "13"]) == "afterany:12:13"
    for bad in (["12_1"], ["12;rm"], []):
        with pytest.raises(HpcSweepError):
            dependency(bad)


def _profile():
    return parse_profile({}, name="p", source="p.toml")


def test_settings_compare_by_every_grid_key_with_several_values() -> None:
    spec = SweepSpec(seeds=(1,), grid=(("num_envs", ("64", "128")), ("agent.lr", ("0.1",))))
    settings = then_settings(spec, "local", "collect", ["https://x.org/SECRET"], _profile(), {})
    assert settings == {"step": "collect", "compare_by": ["num_envs"], "mail": None, "webhooks": 1}
    assert "SECRET" not in json.dumps(settings)


@pytest.mark.parametrize(
    ("executor", "step", "notify", "fragment"),
    [("local", "collect", ["mailto:me@lab.org"], "Slurm sends the mail"),
     ("slurm", "none", ["https://x.org/1"], "drop --then none")],
)  # fmt: skip
def test_notify_that_cannot_happen_is_refused(executor: str, step: str, notify: list[str], fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        then_settings(SweepSpec(seeds=(1,)), executor, step, notify, _profile(), {"slurm_parameters": {}})


def test_several_grid_keys_compare_into_folders_of_their_own(tmp_path: Path) -> None:
    assert compare_dirs(tmp_path, ["lr"]) == {"lr": tmp_path}
    dirs = compare_dirs(tmp_path, ["agent.lr", "env/terrain"])
    assert dirs == {"agent.lr": tmp_path / "compare_by_agent.lr", "env/terrain": tmp_path / "compare_by_env_terrain"}


def _sweep(tmp_path: Path, followups: list[dict]) -> Sweep:
    manifest = {"executor": "slurm", "options": {}, "runs": [{"run_id": "r0", "state": "queued", "attempt": 0}],
                "jobs": [{"array_id": "10"}, {"array_id": "20"}], "followups": followups}  # fmt: skip
    (tmp_path / "sweep.json").write_text(json.dumps(manifest))
    return Sweep(SweepLayout(tmp_path), manifest)


def test_new_collect_job_follows_arrays_in_flight_and_fresh_ones_not_finished_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = _sweep(tmp_path, [{"job_id": "11", "after": ["10"], "state": "COMPLETED"}])
    states = {"10_0": "COMPLETED", "10_1": "FAILED"}  # 20: just submitted, not in accounting yet
    monkeypatch.setattr(followup, "job_states", lambda ids: states)
    assert arrays_to_follow(sweep, ["10", "20"]) == ["20"]
    states["10_1"] = "REQUEUED"
    assert arrays_to_follow(sweep, ["10", "20"]) == ["10", "20"]
    states.clear()  # 10 forgotten by Slurm (no accounting): followed before, so not again
    assert arrays_to_follow(sweep, ["10", "20"]) == ["20"]


def test_cancel_stops_the_collect_job_before_the_arrays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sweep = _sweep(tmp_path, [{"job_id": "11", "after": ["10"], "state": "COMPLETED"},
                              {"job_id": "21", "after": ["20"], "state": "PENDING"}])  # fmt: skip
    calls: list[list[str]] = []
    monkeypatch.setattr(followup, "cancel_jobs", lambda ids: calls.append(sorted(ids)))
    monkeypatch.setattr(slurm_launch, "cancel_jobs", lambda ids: calls.append(sorted(ids)))
    monkeypatch.setattr(slurm_launch, "job_states", lambda ids: {"10_0": "CANCELLED", "20_0": "CANCELLED"})
    SlurmLauncher({}, "python").cancel(sweep, make_console(), grace_s=1)
    assert calls == [["21"], ["10", "20"]]
    recorded = json.loads((tmp_path / "sweep.json").read_text())["followups"]
    assert [entry["state"] for entry in recorded] == ["COMPLETED", "CANCELLED"]


def test_slurm_dry_run_shows_the_collect_job_script_and_no_url(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["submit", "--executor", "slurm", "--profile", "local_test", "--seeds", "1",
                 "--grid", "num_envs=64,128", "--notify", "mailto:me@lab.org",
                 "--notify", "https://hooks.example.org/T0/SECRET-TOKEN", "--dry_run"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "SECRET-TOKEN" not in out
    script = out[out.index("then: one CPU-only Slurm job") :]
    expected = ["#SBATCH --dependency=afterany:ARRAY_ID", "#SBATCH --mail-type=END,FAIL",
                "#SBATCH --mail-user=me@lab.org", "#SBATCH --cpus-per-task=1", "#SBATCH --partition=debug"]  # fmt: skip
    assert [line for line in expected if line not in script] == []
    assert "gpus" not in script and "compare --by num_envs" in script


def test_then_none_dry_run_queues_nothing_after_the_array(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["submit", "--executor", "slurm", "--profile", "local_test", "--seeds", "1", "--then", "none",
                 "--dry_run"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "--dependency" not in out and "then: nothing (--then none)" in out


def test_refresh_asks_for_the_collect_job_in_the_sweeps_one_sacct_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = _sweep(tmp_path, [{"job_id": "11", "after": ["10"], "state": "COMPLETED"},
                              {"job_id": "21", "after": ["20"], "state": "PENDING"}])  # fmt: skip
    asked: list[list[str]] = []

    def report(ids: list[str]) -> JobReport:
        asked.append(sorted(ids))
        return JobReport(states={"21": "RUNNING", "20_0": "COMPLETED"})

    monkeypatch.setattr(slurm_launch, "job_report", report)
    SlurmLauncher({}, "python").refresh(sweep)
    assert asked == [["10", "20", "21"]]
    assert followup_lines(sweep) == [
        "then: collect job 11 (after array 10): completed",
        "then: collect job 21 (after array 20): running",
    ]


def test_resume_refuses_a_new_then_or_notify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for extra in (["--notify", "https://hooks.example.org/SECRET"], ["--then", "none"]):
        code = main(["submit", "--resume", "--executor", "local", "--output_dir", str(tmp_path / "s"), *extra])
        err = capsys.readouterr().err
        assert code == 2 and "--resume keeps the sweep's recorded --then and --notify" in err and "SECRET" not in err


def test_a_resubmit_cancels_the_older_collect_job_only_if_it_has_not_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = _sweep(tmp_path, [{"job_id": "11", "after": ["10"], "state": "RUNNING"},
                              {"job_id": "21", "after": ["20"], "state": "PENDING"}])  # fmt: skip
    cancelled: list[list[str]] = []
    monkeypatch.setattr(followup, "job_states", lambda ids: {"11": "RUNNING", "21": "PENDING"})
    monkeypatch.setattr(followup, "cancel_jobs", lambda ids: cancelled.append(sorted(ids)))
    assert followup.supersede_pending(sweep, ["11", "21"]) == ["21"]
    assert cancelled == [["21"]]
    assert [entry["state"] for entry in followup.followups(sweep)] == ["RUNNING", followup.SUPERSEDED]
