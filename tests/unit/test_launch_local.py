"""The local launcher's controller start: submitit's own, plus a session of its own (so Ctrl-C reaches hpc-sweep)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, ClassVar

import pytest
from submitit.local import local

from hpc_sweep.launch.local import _SessionExecutor


class _Recorder:
    """Stands in for ``subprocess.Popen``: records how a controller would be started, starts nothing."""

    calls: ClassVar[list[tuple[Any, dict[str, Any]]]] = []
    pid = 4242

    def __init__(self, args: Any, **kwargs: Any) -> None:
        _Recorder.calls.append((args, kwargs))


def test_controllers_start_as_submitit_starts_them_but_in_their_own_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards the copy of submitit's ``start_controller`` against drift when submitit changes."""
    monkeypatch.setattr(subprocess, "Popen", _Recorder)
    monkeypatch.setattr(local.subprocess, "Popen", _Recorder)
    _Recorder.calls = []
    executor = _SessionExecutor(folder=tmp_path / "%j")
    executor.update_parameters(timeout_min=60, gpus_per_node=0)
    executor._submit_command("python -m x")
    local.start_controller(folder=executor.folder, command="python -m x", timeout_min=60, signal_delay_s=30)
    (ours_args, ours), (theirs_args, theirs) = _Recorder.calls
    assert ours_args == theirs_args
    assert ours["env"] == theirs["env"]
    assert ours.get("start_new_session") is True and not theirs.get("start_new_session")
    assert set(ours) - {"start_new_session"} == set(theirs) - {"shell"} and not theirs.get("shell")
