"""The git state of a code directory: commit, branch, ``git status --porcelain`` and a bounded ``git diff HEAD``.

Every git call is an argument list (never a shell), has a timeout, and runs with ``GIT_OPTIONAL_LOCKS=0`` so that
``git status`` never takes the index lock of a checkout someone is working in, ``GIT_TERMINAL_PROMPT=0`` so that
nothing can wait for a password, and without the repository's fsmonitor hook, so that a status runs no other
command. A failure of any kind (git not installed, not a repository, no commit yet, a repository git refuses as of
dubious ownership, a timeout) becomes a note in the state, never an exception.

The diff is read as a stream and cut at ``diff_limit`` bytes (1 MiB by default): a checkout with large generated
files must not make ``submit`` hold gigabytes, and a cut diff says so (``diff_truncated``). Untracked files are not in
``git diff HEAD``; they are listed by the porcelain status (``??`` lines). Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

#: Seconds any one git call may take (a status on a slow network filesystem included).
GIT_TIMEOUT_S = 30.0
#: Seconds the job wrapper's one ``git rev-parse HEAD`` may take at an attempt's start.
HEAD_TIMEOUT_S = 10.0
#: Bytes of ``git diff HEAD`` kept; the rest is cut (with a note).
DIFF_LIMIT = 1 << 20
_GIT_ENV = {"GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


@dataclass
class GitState:
    """What git says about one directory at submit; ``note`` says why a field is missing (None when all is known).

    ``branch`` is None on a detached HEAD; ``dirty`` is True when ``git status --porcelain`` lists anything
    (modified, staged, deleted or untracked files); ``changes`` is the number of those lines.
    """

    path: str
    repository: bool = False
    toplevel: str | None = None
    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None
    changes: int = 0
    status: str = ""
    diff: bytes = b""
    diff_truncated: bool = False
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        """The short form kept in ``sweep.json``: where, which commit and branch, whether it was dirty, and why not."""
        return {
            "path": self.path,
            "commit": self.commit,
            "branch": self.branch,
            "dirty": self.dirty,
            "note": "; ".join(self.notes) or None,
        }


def git_available() -> bool:
    """Whether a ``git`` executable is on PATH."""
    return shutil.which("git") is not None


def git_state(path: Path, diff_limit: int = DIFF_LIMIT) -> GitState:
    """The git state of ``path`` (a file means its directory); never raises."""
    directory = Path(path).expanduser()
    directory = directory if directory.is_dir() else directory.parent
    state = GitState(path=os.path.realpath(directory))
    if not git_available():
        state.notes.append("git is not on PATH: no commit recorded")
        return state
    code, out, err = _git(directory, "rev-parse", "--show-toplevel")
    if code != 0:
        state.notes.append(f"not a git repository ({_first_line(err) or 'git rev-parse failed'})")
        return state
    state.repository, state.toplevel = True, out.strip() or None
    code, out, err = _git(directory, "rev-parse", "--verify", "-q", "HEAD")
    if code == 0 and out.strip():
        state.commit = out.strip()
    else:
        state.notes.append("the repository has no commit yet")
    code, out, _ = _git(directory, "symbolic-ref", "--short", "-q", "HEAD")
    state.branch = out.strip() if code == 0 and out.strip() else None
    if state.branch is None and state.commit:
        state.notes.append("detached HEAD")
    code, out, err = _git(directory, "status", "--porcelain", "--untracked-files=normal")
    if code == 0:
        state.status = out
        state.changes = len([line for line in out.splitlines() if line.strip()])
        state.dirty = state.changes > 0
    else:
        state.notes.append(f"git status failed ({_first_line(err)})")
    if state.commit and state.dirty:
        diff_args = ("diff", "HEAD", "--no-color", "--no-ext-diff", "--no-textconv")
        code, data, truncated, err_bytes = run_bounded(_git_argv(directory, *diff_args), diff_limit, GIT_TIMEOUT_S)
        state.diff, state.diff_truncated = data, truncated
        if truncated:
            state.notes.append(f"git diff HEAD cut at {diff_limit} bytes")
        elif code != 0:
            state.notes.append(f"git diff HEAD failed ({_first_line(err_bytes.decode(errors='replace'))})")
    return state


def head_commit(path: Path | str, timeout: float = HEAD_TIMEOUT_S) -> str | None:
    """The commit ``path``'s checkout is at now, or None (not a repository, git missing, a timeout); never raises."""
    if not git_available():
        return None
    code, out, _ = _git(Path(path), "rev-parse", "--verify", "-q", "HEAD", timeout=timeout)
    return (out.strip() or None) if code == 0 else None


def _git_argv(directory: Path, *args: str) -> list[str]:
    """A git command line in ``directory``; a repository's fsmonitor hook (a command its config may name) is off."""
    return ["git", "-c", "core.fsmonitor=false", "-C", str(directory), *args]


def _git(directory: Path, *args: str, timeout: float = GIT_TIMEOUT_S) -> tuple[int, str, str]:
    """Run one git command in ``directory``: (exit status, stdout, stderr); a status of -1 when it could not run."""
    try:
        done = subprocess.run(
            _git_argv(directory, *args),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            env={**os.environ, **_GIT_ENV},
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return -1, "", f"timed out after {timeout:g} s"
    except OSError as error:
        return -1, "", str(error)
    return done.returncode, done.stdout, done.stderr


def run_bounded(argv: list[str], limit: int, timeout: float) -> tuple[int, bytes, bool, bytes]:
    """Run ``argv`` and keep at most ``limit`` bytes of its stdout: (exit status, output, whether it was cut,
    stderr's first 4 KiB). The process is killed once ``limit`` bytes are read or ``timeout`` seconds pass, so
    neither a huge output nor a hung command holds the caller; -1 as status when it could not start or was killed
    for the time limit."""
    try:
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **_GIT_ENV},
        )
    except OSError as error:
        return -1, b"", False, str(error).encode()
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        with contextlib.suppress(OSError):
            process.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    stderr = bytearray()

    def drain_stderr() -> None:  # read it all (a full pipe would stall the command), keep its start
        assert process.stderr is not None
        for chunk in iter(lambda: process.stderr.read(65536), b""):  # type: ignore[union-attr]
            stderr.extend(chunk[: max(0, 4096 - len(stderr))])

    reader = threading.Thread(target=drain_stderr, daemon=True)
    reader.start()
    try:
        assert process.stdout is not None
        data = process.stdout.read(limit + 1)
        truncated = len(data) > limit
        if truncated:
            with contextlib.suppress(OSError):
                process.kill()
        process.stdout.close()
        code = process.wait()
    finally:
        timer.cancel()
        reader.join(timeout=1.0)
    if timed_out.is_set():
        return -1, data[:limit], truncated, f"timed out after {timeout:g} s".encode()
    return (0 if truncated else code), data[:limit], truncated, bytes(stderr)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")[:200]
