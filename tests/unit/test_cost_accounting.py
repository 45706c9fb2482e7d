"""GPU-hours, CPU efficiency and peak memory from Slurm's accounting text, split among packed runs, and the GPU
utilisation samples of the job wrapper: the parsers (:mod:`hpc_sweep.launch.accounting`, checked with hypothesis on
every spelling Slurm uses) and the rules (:mod:`hpc_sweep.analyse.cost`).

``tests/fixtures/sacct/local_cluster.txt`` is real ``sacct -D -n -P -o JobID,ElapsedRaw,AllocTRES,AllocCPUS,
TotalCPU,MaxRSS,State`` output of the local test cluster (tests/slurm/local_cluster.sh): a job requeued three times
(106, one GPU), a two-task array (108_0, 108_1), a two-GPU job (110), an array cancelled before its last task started
(122) and a held array of pending tasks (132). That cluster gathers no per-process accounting
(``JobAcctGatherType=jobacct_gather/none``: ``TotalCPU`` 0, ``MaxRSS`` empty), so CPU time and memory are checked on
:data:`GATHERING_CLUSTER`, written in the same shape as a cluster that gathers them (``jobacct_gather/linux``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpc_sweep.analyse.cost import (
    cost_keys,
    gpu_samples,
    run_costs,
    run_job_ids,
    score_per_gpu_hour,
    suggested_runs_per_gpu,
    total_cost,
)
from hpc_sweep.launch.accounting import parse_accounting, parse_duration, parse_memory_mb, tres_gpus
from hpc_sweep.report.cost import cost_lines

LOCAL_CLUSTER = (Path(__file__).parents[1] / "fixtures" / "sacct" / "local_cluster.txt").read_text()
GATHERING_CLUSTER = """\
4242_0|7200|billing=8,cpu=8,gres/gpu=1,gres/gpu:a100=1,mem=32G,node=1|8|12:00:00||TIMEOUT
4242_0.batch|7200|cpu=8,gres/gpu=1,gres/gpu:a100=1,mem=32G,node=1|8|00:10.500|2500K|CANCELLED
4242_0.0|7199|cpu=8,gres/gpu=1,gres/gpu:a100=1,mem=32G,node=1|8|11:59:49.500|12.50G|CANCELLED
4242_0|3600|billing=8,cpu=8,gres/gpu=1,gres/gpu:a100=1,mem=32G,node=1|8|06:00:00||COMPLETED
4242_0.batch|3600|cpu=8,gres/gpu=1,gres/gpu:a100=1,mem=32G,node=1|8|00:05.000|2400K|COMPLETED
4242_0.0|3600|cpu=8,gres/gpu=1,gres/gpu:a100=1,mem=32G,node=1|8|05:59:55|10G|COMPLETED
4242_1|1800|billing=8,cpu=8,gres/gpu:a100=2,mem=32G,node=1|8|INVALID||RUNNING
"""


def test_every_attempt_of_a_requeued_job_is_kept_in_order_and_its_last_state_wins() -> None:
    report = parse_accounting(LOCAL_CLUSTER)
    assert [a["elapsed_s"] for a in report.attempts["106"]] == [32, 29, 29, 26]
    assert [a["state"] for a in report.attempts["106"]] == ["REQUEUED"] * 3 + ["COMPLETED"]
    assert {a["gpus"] for a in report.attempts["106"]} == {1} and report.states["106"] == "COMPLETED"
    assert report.attempts["110"] == [
        {"elapsed_s": 9, "gpus": 2, "cpus": 1, "total_cpu_s": None, "max_rss_mb": None, "state": "COMPLETED"}
    ]
    assert report.states["122_0"] == "CANCELLED" and report.attempts["122_2"][0]["gpus"] == 0
    assert [report.states[f"132_{k}"] for k in range(4)] == ["PENDING"] * 4 and "132_0" not in report.attempts
    assert report.accounted


def test_gpu_hours_are_elapsed_times_gpus_and_a_packed_job_is_split_evenly() -> None:
    jobs = parse_accounting(LOCAL_CLUSTER).attempts
    runs = [
        {"run_id": "requeued", "job_id": "106"},
        {"run_id": "packed_a", "job_id": "108_0"},
        {"run_id": "packed_b", "job_id": "108_0"},
        {"run_id": "two_gpus", "job_id": "110"},
        {"run_id": "queued", "job_id": "132_1"},
        {"run_id": "local"},
    ]
    costs = run_costs(runs, jobs)
    assert costs["requeued"]["gpu_hours"] * 3600 == pytest.approx(32 + 29 + 29 + 26)
    assert costs["requeued"]["accounted_attempts"] == 4
    assert costs["packed_a"]["gpu_hours"] * 3600 == pytest.approx(9 / 2) == costs["packed_b"]["gpu_hours"] * 3600
    assert costs["two_gpus"]["gpu_hours"] * 3600 == pytest.approx(9 * 2)
    assert costs["queued"]["gpu_hours"] is None and costs["local"]["gpu_hours"] is None  # unmeasured, not 0
    total = total_cost(costs.values())
    assert total["gpu_hours"] * 3600 == pytest.approx(116 + 9 + 18) and total["runs_with_gpu_hours"] == 4


def test_cpu_efficiency_and_peak_memory_come_from_the_steps_of_each_attempt() -> None:
    report = parse_accounting(GATHERING_CLUSTER)
    first, second = report.attempts["4242_0"]
    assert first["gpus"] == 1  # gres/gpu and gres/gpu:a100 name the same GPU
    assert first["total_cpu_s"] == 12 * 3600 and first["max_rss_mb"] == pytest.approx(12.5 * 1024)
    assert second["max_rss_mb"] == 10 * 1024
    running = report.attempts["4242_1"][0]
    assert running["gpus"] == 2 and running["total_cpu_s"] is None and report.states["4242_1"] == "RUNNING"
    cost = run_costs([{"run_id": "r", "job_id": "4242_0"}], report.attempts)["r"]
    assert cost["gpu_hours"] == pytest.approx(3.0)
    assert cost["cpu_efficiency"] == pytest.approx(0.75)
    assert cost["max_rss_mb"] == pytest.approx(12.5 * 1024)


def test_a_resubmitted_run_counts_its_old_and_new_jobs() -> None:
    jobs = parse_accounting(LOCAL_CLUSTER).attempts
    run = {"run_id": "r", "job_id": "110", "attempts": [{"job_id": "108_1"}, {"job_id": "110"}]}
    assert run_job_ids(run) == ["110", "108_1"]
    assert run_costs([run], jobs)["r"]["gpu_hours"] * 3600 == pytest.approx(9 + 18)


def test_gpu_utilisation_is_the_mean_over_all_samples_of_all_attempts() -> None:
    attempts = [
        {"gpu_usage": {"samples": 3, "util_mean": 10.0, "util_max": 20.0, "mem_max_mb": 900.0}},
        {"gpu_usage": None},
        {"gpu_usage": {"samples": 1, "util_mean": 50.0, "util_max": 50.0, "mem_max_mb": 1200.0}},
    ]
    assert gpu_samples(attempts) == {"gpu_util_mean": 20.0, "gpu_util_max": 50.0, "gpu_mem_max_mb": 1200.0}
    assert gpu_samples([{}]) == {"gpu_util_mean": None, "gpu_util_max": None, "gpu_mem_max_mb": None}
    assert cost_keys(None) == dict.fromkeys(
        ("gpu_hours", "cpu_efficiency", "max_rss_mb", "gpu_util_mean", "gpu_mem_max_mb")
    )


@pytest.mark.parametrize(
    ("util", "runs_per_gpu", "suggested"), [(20.0, 1, 4), (39.0, 1, 2), (40.0, 1, None), (30.0, 2, 5), (0.0, 1, 80)]
)
def test_packing_is_suggested_under_forty_percent(util: float, runs_per_gpu: int, suggested: int | None) -> None:
    assert suggested_runs_per_gpu(util, runs_per_gpu) == suggested


def test_score_per_gpu_hour_sits_beside_the_score() -> None:
    cost = score_per_gpu_hour([10.0, 20.0, float("nan")], [0.5, 1.5, None])
    assert cost == {"gpu_hours": 2.0, "gpu_hours_per_run": 1.0, "score_per_gpu_hour": 15.0}
    assert score_per_gpu_hour([1.0], [None])["score_per_gpu_hour"] is None


def test_the_status_line_totals_gpu_hours_and_suggests_packing() -> None:
    usage = {"samples": 4, "util_mean": 20.0, "util_max": 30.0, "mem_max_mb": 500.0}
    manifest = {
        "spec": {"runs_per_gpu": 1},
        "accounting": {"jobs": parse_accounting(LOCAL_CLUSTER).attempts},
        "runs": [{"run_id": "a", "job_id": "106", "attempts": [{"job_id": "106", "gpu_usage": usage}]}],
    }
    lines = cost_lines(manifest)
    assert lines[0] == "cost: 0.032 GPU-hours so far (1/1 runs), mean GPU utilisation 20%"
    assert "--runs_per_gpu 4" in lines[1]
    assert cost_lines({"runs": [{"run_id": "a"}]}) == []  # nothing measured: no line


# --- the parsers, on every spelling Slurm uses -----------------------------------------------------------------


@given(
    days=st.integers(0, 400),
    hours=st.integers(0, 23),
    minutes=st.integers(0, 59),
    seconds=st.integers(0, 59),
    millis=st.one_of(st.none(), st.integers(0, 999)),
)
def test_durations_parse_in_every_slurm_spelling(
    days: int, hours: int, minutes: int, seconds: int, millis: int | None
) -> None:
    fraction = "" if millis is None else f".{millis:03d}"
    expected = days * 86400 + hours * 3600 + minutes * 60 + seconds + (millis or 0) / 1000
    if days:
        text = f"{days}-{hours:02d}:{minutes:02d}:{seconds:02d}{fraction}"
    elif hours:
        text = f"{hours:02d}:{minutes:02d}:{seconds:02d}{fraction}"
    else:
        text = f"{minutes:02d}:{seconds:02d}{fraction}"  # TotalCPU under an hour: MM:SS.mmm
    assert parse_duration(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "INVALID", "12", "1-", "a:b", "01:02:03:04"])
def test_other_duration_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


_OTHER_TRES = st.dictionaries(
    st.sampled_from(["billing", "cpu", "mem", "node", "energy", "fs/disk"]), st.integers(0, 99)
)


@given(
    gpus=st.integers(0, 16),
    gpu_type=st.one_of(st.none(), st.sampled_from(["a100", "h100", "rtx_3090"])),
    other=_OTHER_TRES,
)
def test_tres_lists_give_the_gpus_allocated(gpus: int, gpu_type: str | None, other: dict[str, int]) -> None:
    items = {**{k: str(v) for k, v in other.items()}}
    if gpus:
        items["gres/gpu"] = str(gpus)
        if gpu_type:
            items[f"gres/gpu:{gpu_type}"] = str(gpus)  # Slurm lists a typed GPU twice
    text = ",".join(f"{k}={v}" for k, v in sorted(items.items()))
    assert tres_gpus(text) == gpus


def test_typed_gpus_alone_add_up() -> None:
    assert tres_gpus("cpu=4,gres/gpu:a100=2,gres/gpu:v100=1") == 3


@given(value=st.integers(0, 10**6), unit=st.sampled_from(["", "K", "M", "G", "T"]), decimals=st.booleans())
def test_memory_values_become_megabytes(value: int, unit: str, decimals: bool) -> None:
    text = f"{value / 100:.2f}{unit}" if decimals else f"{value}{unit}"
    number = value / 100 if decimals else value
    factor = {"": 1 / 1024**2, "K": 1 / 1024, "M": 1, "G": 1024, "T": 1024**2}[unit]
    assert parse_memory_mb(text) == pytest.approx(number * factor)
    assert parse_memory_mb("") is None
