"""Many runs finishing at the same moment (real processes) never lose a result from partial_results.json."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hpc_sweep.atomic import write_json_atomic
from hpc_sweep.layout import SweepLayout

pytestmark = pytest.mark.integration

FINISH = r"""
import sys, time
from pathlib import Path
from hpc_sweep.layout import SweepLayout
from hpc_sweep.records import update_partial_results, write_record
layout, run_id, go = SweepLayout(Path(sys.argv[1])), sys.argv[2], float(sys.argv[3])
time.sleep(max(0.0, go - time.time()))
write_record(layout, {"run_id": run_id, "state": "completed", "attempt": 1, "final_reward_mean": float(run_id)})
update_partial_results(layout)
"""


def test_fifty_runs_finishing_at_once_all_land_in_partial_results(tmp_path: Path) -> None:
    layout = SweepLayout(tmp_path)
    ids = [f"{i:04d}" for i in range(50)]
    write_json_atomic(layout.manifest, {"runs": [{"run_id": i, "seed": int(i)} for i in ids]})
    go = time.time() + 3.0
    procs = [subprocess.Popen([sys.executable, "-c", FINISH, str(tmp_path), i, str(go)]) for i in ids]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    partial = json.loads(layout.partial_results.read_text())
    assert sorted(r["run_id"] for r in partial["results"]) == ids
    assert partial["finished_runs"] == 50
    assert not list(tmp_path.glob(".*.lock")), "a lock was left behind"
    assert not list(tmp_path.glob(".partial_results.json.*")), "a temp file was left behind"
