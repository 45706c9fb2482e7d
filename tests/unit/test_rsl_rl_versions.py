"""Collection over real logs written by rsl-rl-lib 2.3.3, 3.1.2, 4.0.1 and 5.5.1 (tests/fixtures/rsl_rl_logs).

Each version renamed some TensorBoard tags and reformatted its console block; these tests pin which raw tag each
canonical metric came from, and that the console log of the same run parses to the same numbers (within the
console's print precision). Regenerate the fixtures with ``tests/fixtures/make_rsl_rl_fixtures.py``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from hpc_sweep.collect.metrics import METRIC_TAGS, canonical_metric
from hpc_sweep.collect.results import collect
from hpc_sweep.logs.console import parse_console_metrics

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rsl_rl_logs"

REQUIRED = ("mean_reward", "value_function", "surrogate", "entropy", "learning_rate", "noise_std", "episode_length")

#: version -> seed of its run, and the raw TensorBoard tag that carries each renamed canonical metric (None: absent).
VERSIONS: dict[str, dict] = {
    "2.3.3": {
        "seed": 23,
        "tags": {
            "value_function": "Loss/value_function",
            "noise_std": "Policy/mean_noise_std",
            "collection_time": "Perf/collection time",
            "mirror_symmetry": None,
        },
    },
    "3.1.2": {
        "seed": 31,
        "tags": {
            "value_function": "Loss/value_function",
            "noise_std": "Policy/mean_noise_std",
            "collection_time": "Perf/collection time",
            "mirror_symmetry": "Loss/symmetry",
        },
    },
    "4.0.1": {
        "seed": 40,
        "tags": {
            "value_function": "Loss/value",
            "noise_std": "Policy/mean_noise_std",
            "collection_time": "Perf/collection_time",
            "mirror_symmetry": None,
        },
    },
    "5.5.1": {
        "seed": 55,
        "tags": {
            "value_function": "Loss/value",
            "noise_std": "Policy/mean_std",
            "collection_time": "Perf/collection_time",
            "mirror_symmetry": "Loss/symmetry",
        },
    },
}

#: Console labels each version printed (a few of each block), and labels it did not print.
CONSOLE_LABELS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "2.3.3": (
        ("Computation:", "Mean action noise std:", "Mean value_function loss:", "Total timesteps:"),
        ("Mean value loss:", "Collection time:", "Mean action std:", "Run name:"),
    ),
    "3.1.2": (
        ("Computation:", "Mean action noise std:", "Mean value_function loss:", "Mean symmetry loss:"),
        ("Mean value loss:", "Collection time:", "Mean action std:", "Run name:"),
    ),
    "4.0.1": (
        ("Run name:", "Collection time:", "Learning time:", "Mean value loss:", "Mean action noise std:"),
        ("Computation:", "Mean value_function loss:", "Mean action std:", "Total timesteps:"),
    ),
    "5.5.1": (
        ("Run name:", "Collection time:", "Mean value loss:", "Mean symmetry loss:", "Mean action std:"),
        ("Computation:", "Mean value_function loss:", "Mean action noise std:", "Total timesteps:"),
    ),
}

#: Console values printed with two decimals (``:.2f``); every other metric line has four (``:.4f``).
TWO_DECIMALS = {"Train/mean_reward", "Train/mean_episode_length", "Policy/mean_noise_std", "Policy/mean_std"}

pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason="run tests/fixtures/make_rsl_rl_fixtures.py")
versions = pytest.mark.parametrize("version", sorted(VERSIONS))


def _iterations(version: str) -> int:
    """``max_iterations`` of the version's run, from its params/agent.yaml."""
    (agent,) = (FIXTURES / version / "logs").glob("rsl_rl/legacy/*/params/agent.yaml")
    return int(re.search(r"^max_iterations:\s*(\d+)\s*$", agent.read_text(), re.MULTILINE).group(1))


def _job_log(version: str) -> Path:
    seed = VERSIONS[version]["seed"]
    return FIXTURES / version / f"job_v{version}_seed{seed}.out"


def _run(version: str):
    collection = collect(FIXTURES / version / "logs")
    assert len(collection.runs) == 1, [run.source.run_id for run in collection.runs]
    assert collection.warnings == []
    return collection.runs[0]


def _tolerance(tag: str) -> float:
    """Half a unit of the console's last printed digit, plus float32 rounding of the TensorBoard value."""
    if tag == "Perf/total_fps":
        return 0.5 + 1e-6  # printed as a whole number of steps per second
    if tag.startswith("Perf/"):
        return 0.0005 + 1e-6  # seconds printed with 3 decimals
    return (0.005 if tag in TWO_DECIMALS else 0.00005) + 1e-6


@versions
def test_one_tensorboard_run_with_its_seed(version: str) -> None:
    run = _run(version)
    seed = VERSIONS[version]["seed"]
    assert run.data_source == "tensorboard"
    assert run.source.seed == seed
    assert run.source.run_id.endswith(f"_v{version}_seed{seed}")
    assert run.source.status == "completed"  # the reward curve reached params/agent.yaml's max_iterations


@versions
def test_canonical_metrics_at_every_iteration(version: str) -> None:
    run = _run(version)
    steps_expected = np.arange(_iterations(version))
    for name in REQUIRED:
        curve = run.metric(name)
        assert curve is not None, f"{version}: no {name}"
        steps, values = curve
        np.testing.assert_array_equal(steps, steps_expected, err_msg=f"{version}: {name}")
        assert np.all(np.isfinite(values)), f"{version}: {name}"


@versions
def test_renamed_tags_are_the_ones_this_version_wrote(version: str) -> None:
    run = _run(version)
    for metric, tag in VERSIONS[version]["tags"].items():
        present = [alias for alias in METRIC_TAGS[metric] if alias in run.scalars]
        assert present == ([tag] if tag else []), f"{version}: {metric} carried by {present}"
        if tag:
            _, values = run.metric(metric)
            np.testing.assert_array_equal(values, run.scalars[tag][1])
            assert canonical_metric(tag) == metric
        else:
            assert run.metric(metric) is None
    # Tags every version wrote under the same name.
    for tag in ("Train/mean_reward", "Train/mean_episode_length", "Loss/surrogate", "Loss/entropy"):
        assert tag in run.scalars, f"{version}: {tag}"
    assert "Loss/learning_rate" in run.scalars


@versions
def test_metrics_frame_labels_renamed_tags_with_their_canonical_metric(version: str) -> None:
    frame = collect(FIXTURES / version / "logs").metrics_frame()
    n = _iterations(version)
    for metric, tag in VERSIONS[version]["tags"].items():
        rows = frame[frame["metric"] == metric]
        if tag is None:
            assert rows.empty
            continue
        assert set(rows["tag"]) == {tag}
        assert rows["step"].tolist() == list(range(n))
        assert rows["seed"].unique().tolist() == [VERSIONS[version]["seed"]]


@versions
def test_console_reward_matches_tensorboard(version: str) -> None:
    run = _run(version)
    console = parse_console_metrics(_job_log(version))
    points = console["Train/mean_reward"]
    steps = np.array([step for step, _ in points])
    values = np.array([value for _, value in points])
    np.testing.assert_array_equal(steps, np.arange(_iterations(version)))
    tb_steps, tb_values = run.metric("mean_reward")
    np.testing.assert_array_equal(tb_steps, steps)
    np.testing.assert_allclose(values, tb_values, rtol=0, atol=_tolerance("Train/mean_reward"))


@versions
def test_console_metrics_map_to_the_same_canonical_metrics(version: str) -> None:
    console = parse_console_metrics(_job_log(version))
    metrics = {canonical_metric(tag) for tag in console} - {None}
    expected = {"mean_reward", "episode_length", "value_function", "surrogate", "entropy", "noise_std"}
    expected |= {"collection_time", "learning_time", "total_fps"}  # 2.x/3.x: the Computation line; 4.x/5.x: own lines
    if VERSIONS[version]["tags"]["mirror_symmetry"]:
        expected.add("mirror_symmetry")
    # learning_rate is not printed by any of these versions.
    assert metrics == expected, f"{version}: {sorted(metrics)}"
    for metric, tag in VERSIONS[version]["tags"].items():
        if metric in expected:
            assert tag in console, f"{version}: console has {sorted(console)}, not {tag}"


@versions
def test_every_console_metric_equals_tensorboard_within_print_precision(version: str) -> None:
    run = _run(version)
    console = parse_console_metrics(_job_log(version))
    n = _iterations(version)
    assert {"Episode_Reward/position", "Episode_Termination/time_out"} <= set(console)  # Isaac Lab style extras
    for tag, points in console.items():
        assert tag in run.scalars, f"{version}: console tag {tag} not in TensorBoard"
        steps = np.array([step for step, _ in points])
        values = np.array([value for _, value in points])
        tb_steps, tb_values, _ = run.scalars[tag]
        np.testing.assert_array_equal(steps, np.arange(n), err_msg=f"{version}: {tag}")
        np.testing.assert_array_equal(tb_steps, steps, err_msg=f"{version}: {tag}")
        np.testing.assert_allclose(values, tb_values, rtol=0, atol=_tolerance(tag), err_msg=f"{version}: {tag}")


@versions
def test_console_block_labels_of_this_version(version: str) -> None:
    text = _job_log(version).read_text()
    assert "\x1b[1m" in text  # the iteration header is printed bold, and the fixture keeps the codes
    printed, absent = CONSOLE_LABELS[version]
    n = _iterations(version)
    assert text.count("Learning iteration ") == n
    assert f"Learning iteration {n - 1}/{n}" in text
    for label in printed:
        assert re.search(rf"^\s*{re.escape(label)}", text, re.MULTILINE), f"{version}: no '{label}'"
    for label in absent:
        assert not re.search(rf"^\s*{re.escape(label)}", text, re.MULTILINE), f"{version}: '{label}'"


@versions
def test_console_log_alone_is_collected_through_the_text_fallback(version: str, tmp_path: Path) -> None:
    job = shutil.copy2(_job_log(version), tmp_path)
    (run,) = collect(tmp_path).runs
    assert run.data_source == "console_log"
    assert run.source.seed == VERSIONS[version]["seed"]
    assert run.source.console_logs == [Path(job)]
    n = _iterations(version)
    for name in ("mean_reward", "episode_length", "value_function", "surrogate", "entropy", "noise_std"):
        curve = run.metric(name)
        assert curve is not None, f"{version}: no {name} from the console log"
        np.testing.assert_array_equal(curve[0], np.arange(n))
    tb = _run(version)
    np.testing.assert_allclose(run.metric("value_function")[1], tb.metric("value_function")[1], atol=_tolerance(""))


@versions
def test_a_job_log_beside_its_log_tree_is_that_runs_console_not_another_run(version: str) -> None:
    collection = collect(FIXTURES / version)
    assert len(collection.runs) == 1
    run = collection.runs[0]
    assert run.data_source == "tensorboard" and run.source.console_logs == [_job_log(version)]
