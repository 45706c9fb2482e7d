"""Provenance: git state of real repositories (clean, dirty, detached, empty, not a repo, git missing), the bounded
diff, the job's Python probe, the image hash, the files under <sweep>/provenance, and the per-attempt commit check."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sys
from pathlib import Path

import pytest
from rich.console import Console

from hpc_sweep.layout import SweepLayout
from hpc_sweep.manifest import write_new_manifest
from hpc_sweep.plan import Plan, make_plan
from hpc_sweep.profiles import load_profile
from hpc_sweep.provenance.attempt import attempt_code, code_note, reason_with_code_note, summary_path
from hpc_sweep.provenance.capture import (
    capture,
    code_dirs,
    dirty_warnings,
    file_names,
    manifest_summary,
    record_provenance,
)
from hpc_sweep.provenance.git import GitState, git_state, head_commit, run_bounded
from hpc_sweep.provenance.image import image_of, image_record
from hpc_sweep.provenance.pyenv import launcher_python, probe_python
from hpc_sweep.spec import SweepSpec
from tests.conftest import run_cli
from tests.git_support import commit_all, git, make_repo

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@needs_git
def test_clean_repository_records_commit_and_branch_and_no_diff(tmp_path: Path) -> None:
    commit = make_repo(tmp_path / "code", branch="feature/x")
    state = git_state(tmp_path / "code")
    assert state.repository and state.commit == commit and state.branch == "feature/x"
    assert state.dirty is False and state.changes == 0 and state.status == "" and state.diff == b""
    assert state.notes == [] and state.summary()["note"] is None


@needs_git
def test_dirty_repository_lists_modified_and_untracked_files_and_diffs_the_tracked_ones(tmp_path: Path) -> None:
    repo = tmp_path / "code"
    make_repo(repo, {"train.py": "lr = 1e-3\n", "cfg/agent.yaml": "epochs: 5\n"})
    (repo / "train.py").write_text("lr = 3e-4\n")
    (repo / "notes.txt").write_text("untracked\n")
    state = git_state(repo / "cfg")  # a subdirectory: the whole checkout's state
    assert state.dirty is True and state.changes == 2
    assert " M train.py" in state.status.splitlines() and "?? notes.txt" in state.status.splitlines()
    assert b"-lr = 1e-3" in state.diff and b"+lr = 3e-4" in state.diff and b"notes.txt" not in state.diff
    assert not state.diff_truncated
    assert dirty_warnings([state]) and "2 file(s)" in dirty_warnings([state])[0]


@needs_git
def test_only_untracked_files_make_a_tree_dirty_with_an_empty_diff(tmp_path: Path) -> None:
    make_repo(tmp_path / "code")
    (tmp_path / "code" / "new.py").write_text("x = 1\n")
    state = git_state(tmp_path / "code")
    assert state.dirty is True and state.status.strip() == "?? new.py" and state.diff == b""


@needs_git
def test_diff_is_cut_at_the_limit_with_a_note(tmp_path: Path) -> None:
    repo = tmp_path / "code"
    make_repo(repo, {"big.txt": "a\n"})
    (repo / "big.txt").write_text("".join(f"line {i}\n" for i in range(50_000)))
    state = git_state(repo, diff_limit=1000)
    assert state.diff_truncated and len(state.diff) == 1000 and state.diff.startswith(b"diff --git")
    assert any("cut at 1000 bytes" in note for note in state.notes)
    full = git_state(repo)
    assert not full.diff_truncated and len(full.diff) > 100_000


def test_bounded_run_stops_a_command_that_never_ends(tmp_path: Path) -> None:
    code, data, truncated, err = run_bounded([sys.executable, "-c", "import time; time.sleep(30)"], 10, 0.5)
    assert code == -1 and data == b"" and not truncated and b"timed out" in err
    code, data, truncated, _ = run_bounded([sys.executable, "-c", "print('x' * 100000)"], 10, 10.0)
    assert code == 0 and data == b"x" * 10 and truncated


@needs_git
def test_detached_head_and_empty_repository_are_notes(tmp_path: Path) -> None:
    repo = tmp_path / "code"
    first = make_repo(repo)
    commit_all(repo, "second")
    git(repo, "checkout", "-q", first)
    detached = git_state(repo)
    assert detached.commit == first and detached.branch is None and "detached HEAD" in detached.notes
    (tmp_path / "empty").mkdir()
    git(tmp_path / "empty", "init", "-q")
    empty = git_state(tmp_path / "empty")
    assert empty.repository and empty.commit is None and "the repository has no commit yet" in empty.notes
    assert head_commit(tmp_path / "empty") is None


def test_a_directory_outside_any_repository_is_recorded_as_such(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    state = git_state(tmp_path / "plain")
    assert not state.repository and state.commit is None and state.dirty is None
    assert state.notes and state.notes[0].startswith("not a git repository")
    assert head_commit(tmp_path / "plain") is None


def test_git_missing_from_path_is_a_note_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("git"):
        make_repo(tmp_path / "code")
    (tmp_path / "empty_bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty_bin"))
    state = git_state(tmp_path / "code" if (tmp_path / "code").exists() else tmp_path)
    assert state.commit is None and state.notes == ["git is not on PATH: no commit recorded"]
    assert head_commit(tmp_path) is None


def test_code_dirs_leave_out_the_sweep_dir_and_keep_each_path_once(tmp_path: Path) -> None:
    sweep, lab, other = tmp_path / "sweep", tmp_path / "lab", tmp_path / "other"
    for path in (sweep, lab, other):
        path.mkdir()
    assert code_dirs(str(sweep), sweep, [other]) == [("tracked", other.resolve())]
    assert code_dirs(str(sweep / "sub"), sweep, []) == []
    assert code_dirs(str(lab), sweep, [lab, other, other]) == [("workdir", lab.resolve()), ("tracked", other.resolve())]


def test_file_names_are_plain_and_distinct() -> None:
    states = [GitState(path="/a/IsaacLab"), GitState(path="/b/IsaacLab"), GitState(path="/c/my lab"), GitState("/")]
    assert file_names(states) == ["IsaacLab", "IsaacLab-2", "my_lab", "root"]
    assert file_names([GitState(path="/x/summary"), GitState(path="/x/pip_freeze")]) == ["summary-2", "pip_freeze-2"]


@needs_git
def test_capture_writes_status_diff_freeze_and_summary_files(tmp_path: Path) -> None:
    clean, dirty = tmp_path / "clean", tmp_path / "dirty"
    make_repo(clean)
    commit = make_repo(dirty)
    (dirty / "train.py").write_text("print('changed')\n")
    states = [git_state(clean), git_state(dirty), git_state(tmp_path)]
    sweep = tmp_path / "sweep"
    job = {"executable": "/py", "python": "3.11.0", "packages": {"torch": "2.5.0"}, "freeze": "torch==2.5.0\n"}
    image = {"path": "/img.sif", "exists": True, "size_bytes": 3, "sha256": "ab" * 32, "note": None}
    summary = capture(sweep, ["workdir", "tracked", "tracked"], states, dict(job), image)
    folder = sweep / "provenance"
    assert sorted(p.name for p in folder.iterdir()) == ["dirty.diff", "dirty.status", "pip_freeze.txt", "summary.json"]
    assert (folder / "pip_freeze.txt").read_text() == "torch==2.5.0\n"
    assert "+print('changed')" in (folder / "dirty.diff").read_text()
    assert (folder / "dirty.status").read_text().strip() == "M train.py"
    on_disk = json.loads((folder / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary)) and on_disk["schema"] == "hpc_sweep.provenance/1"
    dirty_entry = on_disk["code"][1]
    assert dirty_entry["commit"] == commit and dirty_entry["dirty"] and dirty_entry["diff_file"] == "dirty.diff"
    assert on_disk["code"][0]["diff_file"] is None and on_disk["code"][2]["note"].startswith("not a git repository")
    assert on_disk["python"]["job"] == {k: v for k, v in job.items() if k != "freeze"}
    assert on_disk["python"]["submitting"]["packages"]["hpc_sweep"]
    assert len(on_disk["warnings"]) == 1 and str(dirty.resolve()) in on_disk["warnings"][0]
    short = manifest_summary(on_disk)
    expected = {"path": str(dirty.resolve()), "role": "tracked", "commit": commit, "branch": "main", "dirty": True}
    assert short["code"][1] == {**expected, "note": None}
    assert short["versions"]["job"]["packages"] == {"torch": "2.5.0"} and short["image"]["sha256"] == "ab" * 32


def test_job_python_probe_reports_versions_and_pip_freeze(tmp_path: Path) -> None:
    answer = probe_python([sys.executable], str(tmp_path))
    assert answer["note"] is None and answer["executable"] == sys.executable
    assert answer["packages"]["hpc_sweep"] and "rsl-rl-lib" in answer["packages"]
    frozen = [line.lower() for line in answer["freeze"].splitlines()]
    assert any(line.startswith(("rsl-rl-lib==", "rsl_rl_lib==")) for line in frozen)


def test_job_python_without_pip_lists_distributions_with_a_note(tmp_path: Path) -> None:
    fake = tmp_path / "nopip" / "pip"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "__main__.py").write_text("import sys; sys.exit('No module named pip')\n")
    answer = probe_python(["env", f"PYTHONPATH={fake.parent}", sys.executable], str(tmp_path))
    assert answer["note"].startswith("pip freeze failed") and "importlib.metadata" in answer["note"]
    assert any(line.startswith(("rsl-rl-lib==", "rsl_rl_lib==")) for line in answer["freeze"].split())


def test_a_job_python_that_cannot_run_is_a_note(tmp_path: Path) -> None:
    assert "could not be started" in probe_python([str(tmp_path / "nope")], str(tmp_path))["note"]
    assert "gave no answer" in probe_python([sys.executable, "-c", "pass", "--"], str(tmp_path))["note"]
    sleeper = [sys.executable, "-c", "import time; time.sleep(5)", "--"]
    assert "did not answer" in probe_python(sleeper, str(tmp_path), timeout=0.5)["note"]


def test_launcher_python_strips_module_flag_and_skips_containers() -> None:
    assert launcher_python(["/usr/bin/python3", "-m"]) == ["/usr/bin/python3"]
    assert launcher_python(["./isaaclab.sh", "-p"]) == ["./isaaclab.sh", "-p"]
    helper = ["/py", "-m", "hpc_sweep.launch.apptainer", "--bind", "/s", "/img.sif", "--", "/ws/isaaclab.sh", "-p"]
    assert launcher_python(helper) is None and launcher_python(["/usr/bin/apptainer", "exec", "x.sif"]) is None
    assert image_of({}, helper) == "/img.sif" and image_of({"image": "/a.sif"}, helper) == "/a.sif"
    assert image_of({}, ["/py", "-m"]) is None


def test_image_record_hashes_the_file_and_notes_what_is_missing(tmp_path: Path) -> None:
    image = tmp_path / "isaac.sif"
    image.write_bytes(b"\0sif" * 3_000_000)  # 12 MB: several 4 MiB blocks
    record = image_record(str(image))
    assert record["sha256"] == hashlib.sha256(image.read_bytes()).hexdigest() and record["size_bytes"] == 12_000_000
    assert record["exists"] and record["note"] is None
    missing = image_record(str(tmp_path / "gone.sif"))
    assert not missing["exists"] and missing["sha256"] is None and "not found" in missing["note"]
    (tmp_path / "sandbox").mkdir()
    assert "sandbox" in image_record(str(tmp_path / "sandbox"))["note"]


@needs_git
def test_attempt_records_commits_and_flags_a_changed_one_across_attempts(tmp_path: Path) -> None:
    repo, sweep = tmp_path / "code", tmp_path / "sweep"
    first = make_repo(repo)
    assert attempt_code(sweep, 1, {}) == {}  # no provenance recorded: nothing to compare
    capture(sweep, ["tracked", "tracked"], [git_state(repo), git_state(tmp_path)], {}, None)
    assert summary_path(sweep).is_file()
    one = attempt_code(sweep, 1, {})
    commits = {str(repo.resolve()): first}  # tmp_path is no repository: not asked again at each attempt
    assert one == {"code_commit": first, "code_commits": commits, "code_mismatch": None}
    second = commit_all(repo, "changed between attempts")
    two = attempt_code(sweep, 2, one)
    assert two["code_commit"] == second
    assert two["code_mismatch"] == [f"attempt 2: {repo.resolve()} at {second[:12]}, submitted at {first[:12]}"]
    git(repo, "checkout", "-q", first)
    three = attempt_code(sweep, 3, two)  # back at the submitted commit: the earlier change stays flagged
    assert three["code_commit"] == first and three["code_mismatch"] == two["code_mismatch"]
    assert code_note({"code_mismatch": three["code_mismatch"]}) == "code changed since submit (attempt 2)"
    assert reason_with_code_note({"reason": "exit 1", **three}) == "exit 1; code changed since submit (attempt 2)"
    assert reason_with_code_note({"reason": None}) == ""


def test_attempt_check_never_raises_on_a_broken_summary(tmp_path: Path) -> None:
    summary_path(tmp_path).parent.mkdir(parents=True)
    summary_path(tmp_path).write_text('{"code": [{"nopath": 1}]')
    assert attempt_code(tmp_path, 1, {}) == {}
    summary_path(tmp_path).write_text('{"code": "oops"}')
    assert attempt_code(tmp_path, 1, {"code_mismatch": 5}) == {}


def test_track_path_that_does_not_exist_is_a_one_line_usage_error(tmp_path: Path) -> None:
    result = run_cli("submit", "--track", str(tmp_path / "missing"), "--executor", "local", "--dry_run",
                     "--output_dir", str(tmp_path / "sweep"))  # fmt: skip
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "--track" in result.stderr and "does not exist" in result.stderr
    assert not (tmp_path / "sweep").exists()


@needs_git
def test_dry_run_warns_of_a_dirty_tracked_tree_and_writes_nothing(tmp_path: Path) -> None:
    make_repo(tmp_path / "code")
    (tmp_path / "code" / "train.py").write_text("print('edited')\n")
    result = run_cli("submit", "--seeds", "1", "--track", str(tmp_path / "code"), "--executor", "local", "--dry_run",
                     "--output_dir", str(tmp_path / "sweep"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stdout and "uncommitted changes" in result.stdout
    assert not (tmp_path / "sweep").exists()


def test_job_python_probe_runs_through_isaaclab_sh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``./isaaclab.sh -p`` prints its own line first; the answer is read after the marker."""
    monkeypatch.setenv("STANDIN_PYTHON", sys.executable)
    standin = Path(__file__).resolve().parents[1] / "standins" / "isaaclab"
    answer = probe_python(["./isaaclab.sh", "-p"], str(standin))
    assert answer["note"] is None and answer["executable"] == sys.executable and answer["freeze"]


@needs_git
def test_dry_run_warns_of_a_dirty_isaaclab_checkout_as_the_workdir(tmp_path: Path) -> None:
    lab = tmp_path / "IsaacLab"
    shutil.copytree(Path(__file__).resolve().parents[1] / "standins" / "isaaclab", lab)
    make_repo(lab, {})
    (lab / "source" / "patch.py").write_text("x = 1\n")
    result = run_cli("submit", "--task", "Isaac-Velocity-Flat-Anymal-C-v0", "--seeds", "1", "--profile", "isaaclab",
                     "--executor", "local", "--dry_run", "--output_dir", str(tmp_path / "sweep"),
                     env={"ISAACLAB_PATH": str(lab)})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"{lab.resolve()} has uncommitted changes (1 file(s))" in " ".join(result.stdout.split())
    assert not (tmp_path / "sweep").exists()


def _written_plan(sweep: Path, profile: str = "demo", task: str = "Demo-PointMass-v0") -> Plan:
    """A planned sweep whose manifest is written, as submit leaves it before recording provenance."""
    spec = SweepSpec(task=task, seeds=(1, 2), common_folder="prov")
    plan = make_plan(spec, load_profile(profile), sweep, "local", {})
    write_new_manifest(SweepLayout(plan.sweep_dir), plan.manifest)
    return plan


@needs_git
def test_record_provenance_adds_the_short_form_to_the_written_manifest(tmp_path: Path) -> None:
    commit = make_repo(tmp_path / "code")
    plan = _written_plan(tmp_path / "sweep")
    console = Console(file=io.StringIO(), width=200)
    short = record_provenance(plan, None, [tmp_path / "code"], console)
    manifest = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert manifest["provenance"] == short == plan.manifest["provenance"]
    assert short is not None and short["code"][0]["commit"] == commit and short["code"][0]["dirty"] is False
    assert manifest["sweep_dir"] == str((tmp_path / "sweep").resolve()) and len(manifest["runs"]) == 2
    assert (tmp_path / "sweep" / "provenance" / "pip_freeze.txt").stat().st_size > 0
    assert console.file.getvalue() == ""  # a clean tree: no warning


def test_record_provenance_that_cannot_write_warns_and_lets_submit_go_on(tmp_path: Path) -> None:
    plan = _written_plan(tmp_path / "sweep")
    (tmp_path / "sweep" / "provenance").write_text("a file in the way")
    console = Console(file=io.StringIO(), width=200)
    assert record_provenance(plan, None, [], console) is None
    assert "warning: provenance not recorded" in console.file.getvalue()
    assert "provenance" not in json.loads((tmp_path / "sweep" / "sweep.json").read_text())


def test_an_apptainer_profile_records_the_image_hash_instead_of_running_its_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = tmp_path / "isaac-lab.sif"
    image.write_bytes(b"SIF image bytes")
    monkeypatch.setenv("ISAACLAB_SIF", str(image))
    plan = _written_plan(tmp_path / "sweep", "isaaclab_apptainer", "Isaac-Velocity-Flat-Anymal-C-v0")
    short = record_provenance(plan, None, [], Console(file=io.StringIO()))
    assert short is not None and short["code"] == []  # the working dir is the sweep dir: no code dir of its own
    assert short["image"] == {"path": str(image), "sha256": hashlib.sha256(b"SIF image bytes").hexdigest()}
    summary = json.loads((tmp_path / "sweep" / "provenance" / "summary.json").read_text())
    assert "inside the container image" in summary["python"]["job"]["note"] and summary["pip_freeze"] is None
