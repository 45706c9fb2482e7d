"""Real git repositories for provenance tests: created with the git on PATH, isolated from the user's git config."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

#: The user's global and system config stay out (a signing hook or a default branch name would change the tests).
GIT_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.org",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.org",
}


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo``; its stdout (stripped). Raises on failure."""
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.strip()


def make_repo(path: Path, files: dict[str, str] | None = None, branch: str = "main") -> str:
    """A repository at ``path`` with one commit of ``files``; returns the commit."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", branch)
    for name, text in ({"train.py": "print('train')\n"} if files is None else files).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return commit_all(path, "initial")


def commit_all(repo: Path, message: str) -> str:
    """Commit everything in ``repo`` (untracked files included); returns the new commit."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")
