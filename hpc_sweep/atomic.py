"""Atomic writes (temp file in the same directory + rename), so a reader never sees half a results file.

The file keeps the mode a plain ``open()`` would give it, ``0o666 & ~umask`` (0644 under umask 022, 0664 under
002): ``tempfile.mkstemp`` creates 0600 whatever the umask, which would hide a sweep from lab mates on a shared
filesystem. Directories are made by ``mkdir``, which follows the umask already.

Kept free of heavy imports: the job wrapper on every compute node uses it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

#: Where Linux shows the process's umask without changing it (the ``Umask:`` line, since Linux 4.7).
_PROC_STATUS = "/proc/self/status"
#: Guards the set-and-restore of the umask where it cannot be read directly (os.umask is process-wide).
_UMASK_LOCK = threading.Lock()


def write_bytes_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the new one, never a mix.

    The temp file lives beside the target because ``os.replace`` is only atomic within one filesystem (and NFS
    guarantees rename atomicity for same-directory renames). The new file's mode is ``0o666 & ~umask``.
    ``durable=False`` skips the fsync: for cache files, whose loss or damage in a crash only costs a reread (their
    readers check them), and which a collect writes thousands of.
    """
    with open_atomic(path, durable) as handle:
        handle.write(data)


@contextlib.contextmanager
def open_atomic(path: Path, durable: bool = True) -> Iterator[IO[bytes]]:
    """A binary file to write ``path`` through piece by piece (a results file too big to build in memory first):
    readers see the old file until the block ends without an error, then the whole new one (as
    :func:`write_bytes_atomic`); on an error the old file stays and the temp file is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = 0o666 & ~current_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            _chmod(handle.fileno(), tmp, mode)
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows.

    ``os.umask`` reads the mask only by setting it, for the whole process: a file another thread creates in between
    gets the temporary mask. Linux (4.7 and later) shows the mask in ``/proc/self/status`` (``Umask:``), so that is
    read first; elsewhere the mask is set to the strict 077 and restored at once, under a lock that keeps our own
    writes from racing each other (a stray file from another thread can only come out stricter, never looser).
    """
    try:
        with open(_PROC_STATUS, encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8) & 0o777
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def _chmod(fd: int, path: str, mode: int) -> None:
    """Set an open file's mode (by descriptor where the platform can: no path lookup to race)."""
    if hasattr(os, "fchmod"):
        os.fchmod(fd, mode)
    else:  # pragma: no cover - Windows before Python 3.13
        os.chmod(path, mode)


def write_text_atomic(path: Path, text: str) -> None:
    """Atomic counterpart of ``Path.write_text`` (UTF-8)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON atomically; NaN/inf become ``null`` so every JSON reader can load the file."""
    text = json.dumps(_finite(data), indent=2, sort_keys=False, default=str, allow_nan=False)
    write_text_atomic(path, text + "\n")


def _finite(value: Any) -> Any:
    """Replace non-finite floats by ``None`` recursively (JSON has no NaN)."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value
