"""The container image a sweep ran in: its path, size and sha256, computed once at submit.

A profile names its image in ``[vars] image`` (the shipped ``isaaclab_apptainer`` profile: ``${ISAACLAB_SIF}``), or
as the word before ``--`` of the ``python -m hpc_sweep.launch.apptainer`` launcher. Images are large (Isaac Sim's are
10-20 GB), so the file is hashed streamed, in 4 MiB blocks, never read whole. A sandbox image (a directory) has no
one file to hash: its path is recorded with a note; so is an image that is not there (it may exist only on the
nodes). Standard library only.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

_BLOCK = 4 << 20
_APPTAINER_HELPER = "hpc_sweep.launch.apptainer"


def image_of(variables: Mapping[str, str], launcher: Sequence[str]) -> str | None:
    """The image a profile runs in (its expanded ``image`` var, else the apptainer helper's image argument), or
    None for a profile without one."""
    if variables.get("image"):
        return variables["image"]
    words = list(launcher)
    if _APPTAINER_HELPER in words and "--" in words:
        end = words.index("--")
        return words[end - 1] if end > words.index(_APPTAINER_HELPER) + 1 else None
    return None


def image_record(path: str) -> dict[str, Any]:
    """``{path, exists, size_bytes, sha256, note}`` of a container image; never raises."""
    image = Path(os.path.expanduser(path))
    record: dict[str, Any] = {"path": str(image), "exists": image.exists(), "size_bytes": None, "sha256": None}
    record["note"] = None
    if image.is_dir():
        record["note"] = "a sandbox directory: no single file to hash"
    elif not image.is_file():
        record["note"] = "the image was not found at submit (it may exist only on the compute nodes)"
    else:
        try:
            record["size_bytes"] = image.stat().st_size
            record["sha256"] = file_sha256(image)
        except OSError as error:
            record["note"] = f"the image could not be read: {error.strerror or error}"
    return record


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in blocks (memory stays flat whatever its size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()
