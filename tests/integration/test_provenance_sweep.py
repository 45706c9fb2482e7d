"""Provenance end to end: a real demo sweep tracking two real git repositories (one clean, one dirty) records their
state under <sweep>/provenance and in sweep.json and training_results.json; a resubmitted attempt that runs after a
new commit is flagged in status, in the run's record and in the results."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.git_support import commit_all, make_repo

STANDINS = Path(__file__).resolve().parents[1] / "standins"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
]


@pytest.fixture(scope="module")
def tracked_sweep(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Two seeds of the demo task, tracking a clean repository and a dirty one (a modified and an untracked file)."""
    root = tmp_path_factory.mktemp("provenance")
    clean, dirty = root / "clean_code", root / "dirty_code"
    clean_commit = make_repo(clean, {"rewards.py": "SCALE = 1.0\n"})
    dirty_commit = make_repo(dirty, {"agent.py": "LR = 1e-3\n"})
    (dirty / "agent.py").write_text("LR = 3e-4\n")
    (dirty / "scratch.txt").write_text("not committed\n")
    sweep = root / "sweep"
    result = run_cli(
        "submit", "--seeds", "1", "2", "--max_iterations", "10", "--num_envs", "64", "--executor", "local",
        "--output_dir", str(sweep), "--track", str(clean), str(dirty), "--additional_args", "agent.save_interval=5",
    )  # fmt: skip
    return {"sweep": sweep, "result": result, "clean": clean, "dirty": dirty, "commits": (clean_commit, dirty_commit)}


def test_submit_records_both_repositories_and_warns_of_the_dirty_one(tracked_sweep: dict) -> None:
    sweep, result = tracked_sweep["sweep"], tracked_sweep["result"]
    clean_commit, dirty_commit = tracked_sweep["commits"]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "uncommitted changes" in result.stdout and "dirty_code" in result.stdout
    assert "clean_code has uncommitted" not in result.stdout
    folder = sweep / "provenance"
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["dirty_code.diff", "dirty_code.status", "pip_freeze.txt", "summary.json"]
    assert "+LR = 3e-4" in (folder / "dirty_code.diff").read_text()
    assert sorted((folder / "dirty_code.status").read_text().split()) == ["??", "M", "agent.py", "scratch.txt"]
    frozen = (folder / "pip_freeze.txt").read_text().lower().splitlines()
    assert any(line.startswith(("rsl-rl-lib==", "rsl_rl_lib==")) for line in frozen)
    summary = json.loads((folder / "summary.json").read_text())
    clean, dirty = summary["code"]
    assert (clean["commit"], clean["dirty"], clean["branch"]) == (clean_commit, False, "main")
    assert (dirty["commit"], dirty["dirty"], dirty["diff_file"]) == (dirty_commit, True, "dirty_code.diff")
    assert summary["python"]["job"]["packages"]["rsl-rl-lib"] and summary["python"]["job"]["note"] is None
    assert summary["image"] is None  # the demo profile runs in no container

    manifest = json.loads((sweep / "sweep.json").read_text())
    short = manifest["provenance"]
    assert [(c["commit"], c["dirty"]) for c in short["code"]] == [(clean_commit, False), (dirty_commit, True)]
    assert short["versions"]["job"]["packages"]["hpc_sweep"] and short["warnings"]
    assert all(run["code_commit"] == clean_commit and not run.get("code_mismatch") for run in manifest["runs"])

    results = json.loads((sweep / "training_results.json").read_text())
    assert results["metadata"]["provenance"] == short
    assert [r["code_commit"] for r in results["experiments"]] == [clean_commit, clean_commit]
    assert not [w for w in results["warnings"] if "code versions" in w]


def test_a_resubmitted_attempt_after_a_new_commit_is_flagged_everywhere(tracked_sweep: dict) -> None:
    sweep, clean = tracked_sweep["sweep"], tracked_sweep["clean"]
    submitted = tracked_sweep["commits"][0]
    assert tracked_sweep["result"].returncode == 0
    record_path = sweep / "runs" / "0001" / "record.json"
    record = json.loads(record_path.read_text())
    record.update(state="failed", reason="simulated node failure")  # as if its node had died: resubmit reruns it
    record_path.write_text(json.dumps(record))
    (clean / "rewards.py").write_text("SCALE = 2.0\n")
    changed = commit_all(clean, "a change between two attempts")

    again = run_cli("resubmit", str(sweep), "--failed")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    record = json.loads(record_path.read_text())
    assert record["attempt"] == 2 and record["state"] == "completed" and record["code_commit"] == changed
    line = f"attempt 2: {clean} at {changed[:12]}, submitted at {submitted[:12]}"
    assert record["code_mismatch"] == [line]
    untouched = json.loads((sweep / "runs" / "0000" / "record.json").read_text())
    assert untouched["attempt"] == 1 and untouched["code_mismatch"] is None

    status = run_cli("status", str(sweep))
    assert "code changed since submit (attempt 2)" in status.stdout, status.stdout
    results = json.loads((sweep / "training_results.json").read_text())
    by_run = {r["run_id"]: r for r in results["experiments"]}
    assert by_run["0001"]["code_commit"] == changed and by_run["0000"]["code_commit"] == submitted
    assert f"run 0001: {line}; its results may mix code versions" in results["warnings"]
    assert results["metadata"]["provenance"]["code"][0]["commit"] == submitted  # the submit's record is kept


def test_the_training_code_dir_as_a_git_workdir_is_recorded_clean_then_dirty(tmp_path: Path) -> None:
    """The Isaac Lab profile's working dir ($ISAACLAB_PATH, the stand-in made a git repository) is recorded by a real
    submit, with no --track: first clean (no warning, no diff), then, edited, dirty (a warning, its status and diff)."""
    lab = tmp_path / "IsaacLab"
    shutil.copytree(STANDINS / "isaaclab", lab, ignore=shutil.ignore_patterns("__pycache__", "logs", "outputs"))
    (lab / "isaaclab.sh").chmod(0o755)
    (lab / ".gitignore").write_text("logs/\noutputs/\n__pycache__/\n")
    commit = make_repo(lab, {})
    env = {"ISAACLAB_PATH": str(lab), "STANDIN_PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": ""}

    def submit(name: str) -> tuple[str, dict, dict]:
        result = run_cli(
            "submit", "--task", "Isaac-Velocity-Flat-Anymal-C-v0", "--profile", "isaaclab", "--executor", "local",
            "--seeds", "1", "--max_iterations", "2", "--num_envs", "64", "--output_dir", str(tmp_path / name),
            env=env, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        summary = json.loads((tmp_path / name / "provenance" / "summary.json").read_text())
        results = json.loads((tmp_path / name / "training_results.json").read_text())
        return " ".join(result.stdout.split()), summary, results

    out, summary, results = submit("clean")
    (code,) = summary["code"]
    assert (code["role"], code["path"], code["commit"]) == ("workdir", str(lab.resolve()), commit)
    assert code["branch"] == "main" and code["dirty"] is False and code["diff_file"] is None
    assert "uncommitted" not in out
    assert results["metadata"]["provenance"]["code"][0]["commit"] == commit
    assert [e["code_commit"] for e in results["experiments"]] == [commit]

    knobs = lab / "source" / "_standin_site" / "standin_knobs.py"
    knobs.write_text(knobs.read_text() + "# edited, not committed\n")
    out, summary, _ = submit("dirty")
    (code,) = summary["code"]
    assert code["role"] == "workdir" and code["commit"] == commit and code["dirty"] is True
    assert f"{lab.resolve()} has uncommitted changes (1 file(s))" in out
    folder = tmp_path / "dirty" / "provenance"
    assert "+# edited, not committed" in (folder / code["diff_file"]).read_text()
    assert (folder / "IsaacLab.status").read_text().split() == ["M", "source/_standin_site/standin_knobs.py"]
