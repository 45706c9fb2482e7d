"""Submit and walk away, on the real test cluster: the collect job that follows the array, its notification, and
``cancel``/``resubmit`` of it."""

from __future__ import annotations

import json
import stat
import subprocess
import time
from datetime import datetime
from pathlib import Path

from tests.conftest import run_cli
from tests.integration.test_then_local import files_holding
from tests.slurm.test_slurm_sweeps import _manifest, _status, _wait_until
from tests.unit.test_notify import Hook

DEMO = ["--task", "Demo-PointMass-v0", "--profile", "local_test", "--executor", "slurm"]
SECRET = "T0SECRET/B0/slurm-xyzzy"


def _sacct(job_id: str) -> dict[str, str]:
    """State, Start and End of a job (its latest attempt), as sacct prints them."""
    out = subprocess.run(
        ["sacct", "-j", job_id, "-n", "-P", "-X", "-o", "JobID,State,Start,End"], capture_output=True, text=True
    ).stdout
    rows = [line.split("|") for line in out.splitlines() if line.startswith(f"{job_id}|")]
    if not rows:
        return {}
    _, state, start, end = rows[-1]
    return {"state": state.split()[0], "start": start, "end": end}


def _ended(job_id: str) -> bool:
    return _sacct(job_id).get("state") in {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"}


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_collect_job_follows_the_array_then_mails_and_posts_with_the_url_in_no_file(tmp_path: Path) -> None:
    sweep = tmp_path / "walk_away"
    hook = Hook()
    try:
        result = run_cli(
            *DEMO, "--seeds", "1", "--grid", "num_envs=16,32", "--max_iterations", "5", "--output_dir", str(sweep),
            "--gpus_per_node", "1", "--notify", "mailto:me@example.org", "--notify", f"{hook.url}/hooks/{SECRET}",
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        (array,) = [job["array_id"] for job in _manifest(sweep)["jobs"]]
        (entry,) = _manifest(sweep)["followups"]
        collect_job = entry["job_id"]
        assert entry["after"] == [array] and f"collect job {collect_job} queued after array(s) {array}" in result.stdout
        assert _wait_until(lambda: bool(hook.bodies), timeout=240), _sacct(collect_job)
        assert _wait_until(lambda: _ended(collect_job), timeout=60)
    finally:
        hook.close()
    assert _sacct(collect_job)["state"] == "COMPLETED"
    ends = [_time(_sacct(f"{array}_{task}")["end"]) for task in (0, 1)]
    assert _time(_sacct(collect_job)["start"]) >= max(ends)
    for name in ("training_results.json", "training_analysis.png", "comparison.json", "comparison.png"):
        assert (sweep / name).is_file(), name  # written by the collect job: the test ran no collect
    text = hook.bodies[0]["text"]
    assert "2 of 2 runs completed" in text and "best group `num_envs=" in text and "comparison.png" in text
    script = (sweep / "submitit" / collect_job / f"{collect_job}_submission.sh").read_text()
    for line in ("--mail-type=END,FAIL", "--mail-user=me@example.org", f"--dependency=afterany:{array}"):
        assert f"#SBATCH {line}\n" in script
    assert "--gres" not in script and "--gpus" not in script  # the arrays ask for a GPU, the collect job not
    groups = json.loads((sweep / "comparison.json").read_text())["groups"]  # compare's cost column, from sacct
    assert all(group["gpu_hours"] > 0 and group["score_per_gpu_hour"] is not None for group in groups), groups
    assert files_holding(sweep, SECRET) == [".notify"]
    assert stat.S_IMODE((sweep / ".notify").stat().st_mode) == 0o600
    assert f"then: collect job {collect_job} (after array {array}): completed" in _status(sweep).stdout


def test_a_requeued_task_holds_the_collect_job_until_its_last_attempt_ends(tmp_path: Path) -> None:
    sweep = tmp_path / "requeued"
    result = run_cli(*DEMO, "--seeds", "3", "--num_envs", "64", "--max_iterations", "150", "--output_dir", str(sweep),
                     "--additional_args", "agent.save_interval=10")  # fmt: skip
    assert result.returncode == 0, result.stderr
    task = _manifest(sweep)["runs"][0]["job_id"]
    collect_job = _manifest(sweep)["followups"][0]["job_id"]
    log = sweep / "runs" / "0000" / "train.log"
    assert _wait_until(lambda: log.exists() and "Learning iteration 20/" in log.read_text(), timeout=120, every=1)
    subprocess.run(["scontrol", "requeue", task], check=True)
    time.sleep(3)
    held = subprocess.run(["squeue", "-h", "-j", collect_job, "-o", "%T %r"], capture_output=True, text=True).stdout
    assert held.split() == ["PENDING", "Dependency"], held
    assert _wait_until(lambda: _ended(collect_job), timeout=300, every=3), _sacct(collect_job)
    record = json.loads((sweep / "runs" / "0000" / "record.json").read_text())
    assert record["attempt"] >= 2 and record["state"] == "completed"
    assert _time(_sacct(collect_job)["start"]) >= _time(_sacct(task)["end"])
    results = json.loads((sweep / "training_results.json").read_text())
    assert [run["status"] for run in results["experiments"]] == ["completed"]


def test_cancel_removes_the_collect_job_and_resubmit_queues_a_new_one(tmp_path: Path) -> None:
    sweep = tmp_path / "cancelled"
    result = run_cli(*DEMO, "--seeds", "1", "--num_envs", "16", "--max_iterations", "3000", "--output_dir", str(sweep))
    assert result.returncode == 0, result.stderr
    first = _manifest(sweep)["followups"][0]["job_id"]
    cancelled = run_cli("cancel", str(sweep))
    assert cancelled.returncode == 0 and f"cancelled collect job(s) {first}" in cancelled.stdout, cancelled.stdout
    assert _wait_until(lambda: _sacct(first).get("state") == "CANCELLED", timeout=30)
    assert not (sweep / "submitit" / first / f"{first}_0_log.out").exists(), "the cancelled collect job ran"
    assert not (sweep / "training_results.json").exists()

    again = run_cli("resubmit", str(sweep), "--failed")
    assert again.returncode == 0, again.stdout + again.stderr
    arrays = [job["array_id"] for job in _manifest(sweep)["jobs"]]
    entries = _manifest(sweep)["followups"]
    assert len(arrays) == 2 and len(entries) == 2 and entries[1]["after"] == [arrays[1]]
    stopped = run_cli("cancel", str(sweep))
    assert stopped.returncode == 0 and f"cancelled collect job(s) {entries[1]['job_id']}" in stopped.stdout
    assert [entry["state"] for entry in _manifest(sweep)["followups"]] == ["CANCELLED", "CANCELLED"]
