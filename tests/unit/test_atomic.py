"""Atomic writes: readers see the old file or the new one, and the new one has the mode the umask asks for."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hpc_sweep import atomic
from hpc_sweep.atomic import current_umask, write_json_atomic, write_text_atomic
from tests.conftest import REPO

#: Writes a results file (in a new subdirectory) under the umask argv[2], then prints its mode, the directory's and
#: the umask afterwards. argv[3] == "no-proc" hides /proc/self/status, so the set-and-restore fallback is used.
WRITE_UNDER_UMASK = r"""
import os, sys
from pathlib import Path
from hpc_sweep import atomic
os.umask(int(sys.argv[2], 8))
if sys.argv[3] == "no-proc":
    atomic._PROC_STATUS = "/nonexistent/status"
target = Path(sys.argv[1]) / "shared" / "training_results.json"
atomic.write_json_atomic(target, {"ok": True})
atomic.write_json_atomic(target, {"ok": "again"})
after = os.umask(0)
print(oct(target.stat().st_mode & 0o777), oct(target.parent.stat().st_mode & 0o777), oct(after))
"""


@pytest.mark.parametrize("source", ["proc", "no-proc"])
@pytest.mark.parametrize(
    ("umask", "file_mode", "dir_mode"),
    [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775), (0o077, 0o600, 0o700)],
    ids=["umask022", "umask002", "umask077"],
)
def test_a_results_file_gets_the_mode_the_umask_asks_for(
    umask: int, file_mode: int, dir_mode: int, source: str, tmp_path: Path
) -> None:
    """mkstemp alone makes 0600 whatever the umask: lab mates on a shared filesystem could not read a sweep."""
    result = subprocess.run(
        [sys.executable, "-c", WRITE_UNDER_UMASK, str(tmp_path), oct(umask), source],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == [oct(file_mode), oct(dir_mode), oct(umask)]
    assert [path.name for path in (tmp_path / "shared").iterdir()] == ["training_results.json"]


def test_the_umask_read_from_proc_is_the_one_os_umask_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    from_proc = current_umask()
    monkeypatch.setattr(atomic, "_PROC_STATUS", "/nonexistent/status")
    mask = os.umask(0o022)
    os.umask(mask)
    assert from_proc == current_umask() == mask


def test_a_write_replaces_the_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "partial_results.json"
    write_json_atomic(target, {"runs": 1})
    write_json_atomic(target, {"runs": 2, "score": float("nan"), "best": [float("inf"), 1.5]})
    assert json.loads(target.read_text()) == {"runs": 2, "score": None, "best": [None, 1.5]}
    assert [path.name for path in tmp_path.iterdir()] == ["partial_results.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "summary.txt"
    write_text_atomic(target, "old\n")
    with pytest.raises(TypeError):
        atomic.write_bytes_atomic(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_text() == "old\n"
    assert [path.name for path in tmp_path.iterdir()] == ["summary.txt"]
    assert stat.S_ISREG(target.stat().st_mode)
