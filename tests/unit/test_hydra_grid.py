"""Hydra's override grammar in ``--grid``, in pass-through and in trailing overrides: values are never cut at commas,
each run gets one override Hydra reads as the value the sweep listed, and what cannot be planned is refused in one
line with Hydra's own words. Also the readable group labels that ``collect`` and ``compare --by`` share."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Quote, QuotedString
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hpc_sweep.analyse.compare import form_groups
from hpc_sweep.collect.discover import RunSource
from hpc_sweep.collect.results import Collection, RunData
from hpc_sweep.errors import UsageError
from hpc_sweep.names import group_labels, key_labels, point_label
from hpc_sweep.spec import SweepSpec, expand_runs, parse_grid, split_overrides
from tests.conftest import run_cli

HYDRA = OverridesParser.create()


def plan(*items: str, additional_args: tuple[str, ...] = (), seeds: tuple[int, ...] = (1,)):
    return expand_runs(
        SweepSpec(common_folder="s", seeds=seeds, grid=parse_grid(list(items)), additional_args=additional_args)
    )


def overrides(*items: str) -> list[tuple[str, ...]]:
    return [run.overrides for run in plan(*items)]


def refusal(*items: str, additional_args: tuple[str, ...] = ()) -> str:
    with pytest.raises(UsageError) as raised:
        plan(*items, additional_args=additional_args)
    message = str(raised.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# --- values are Hydra's, never cut at commas ---


def test_a_sweep_of_lists_is_two_runs_each_with_a_whole_list() -> None:
    runs = plan("agent.policy.actor_hidden_dims=[256,128],[512,256]", seeds=(1, 2))
    assert len(runs) == 4
    assert [r.overrides for r in runs[::2]] == [
        ("agent.policy.actor_hidden_dims=[256,128]",),
        ("agent.policy.actor_hidden_dims=[512,256]",),
    ]
    assert runs[0].point == {"agent.policy.actor_hidden_dims": "[256,128]"}


def test_range_is_enumerated_as_hydra_enumerates_it() -> None:
    assert overrides("agent.x=range(1,3)") == [("agent.x=1",), ("agent.x=2",)]
    assert overrides("agent.x=range(0,1,0.5)") == [("agent.x=0.0",), ("agent.x=0.5",)]


def test_quoted_strings_stay_quoted_and_keep_their_commas() -> None:
    assert overrides("agent.x='a,b',c") == [("agent.x='a,b'",), ("agent.x=c",)]
    assert overrides("agent.x=\"hi there\",'it\\'s'") == [('agent.x="hi there"',), ("agent.x='it\\'s'",)]


def test_choice_tag_and_sort_are_sweeps() -> None:
    assert overrides("agent.x=choice(a,[1,2])") == [("agent.x=a",), ("agent.x=[1,2]",)]
    assert overrides("agent.x=tag(lr,choice(1,2))") == [("agent.x=1",), ("agent.x=2",)]
    assert overrides("agent.x=sort(3,1,2)") == [("agent.x=1",), ("agent.x=2",), ("agent.x=3",)]


def test_dicts_and_escaped_commas_are_one_value() -> None:
    assert overrides("agent.x={a:1,b:2}") == [("agent.x={a:1,b:2}",)]
    assert overrides("agent.x=a\\,b,c") == [("agent.x=a\\,b",), ("agent.x=c",)]


def test_add_and_force_add_prefixes_are_kept_in_every_run() -> None:
    assert overrides("+agent.x=1,2") == [("+agent.x=1",), ("+agent.x=2",)]
    assert overrides("++agent.x=[1,2],3") == [("++agent.x=[1,2]",), ("++agent.x=3",)]
    assert plan("+agent.x=1,2")[0].point == {"+agent.x": "1"}


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        ("agent.x=interval(0,1)", "interval() is a continuous range"),
        ("agent.x=tag(log,interval(0,1))", "interval() is a continuous range"),
        ("agent.x=glob(*)", "glob() picks config-group options"),
        ("agent.x=shuffle(1,2)", "shuffle() gives a random order"),
        ("agent.x=range(5,1)", "gives no values"),
        ("agent.x=range(1,3,0)", "must not be zero"),
        ("~agent.x", "~KEY deletes a key"),
        ("agent.x=1,1", "gives '1' twice"),
        ("agent.x=1e-3,0.001", "gives '0.001' twice"),  # Hydra reads both as 0.001
        ("=1,2", "names no key"),
        ("+num_envs=1,2", "hpc-sweep's own flag"),
    ],
)
def test_what_cannot_become_a_list_of_runs_is_refused_in_one_line(item: str, fragment: str) -> None:
    assert fragment in refusal(item)


@pytest.mark.parametrize(
    ("item", "hydra_says"),
    [
        ("x=[1,2", "no viable alternative at input '[1,2'"),
        ("x=1,,2", "extraneous input ','"),
        ("x=$(id)", "mismatched input '('"),
        ("num_envs", "missing EQUAL at '<EOF>'"),
        ("x=choice()", "empty choice is not legal"),
    ],
)
def test_malformed_overrides_are_usage_errors_with_hydras_message(item: str, hydra_says: str) -> None:
    message = refusal(item)
    assert message.startswith(f"--grid {item!r}: ") and hydra_says in message
    assert "malformed Hydra override" in message and "override_grammar" in message  # and where the grammar is


def test_a_malformed_grid_on_the_command_line_exits_2_with_one_line(tmp_path: Path) -> None:
    result = run_cli("submit", "--seeds", "1", "--executor", "local", "--dry_run", "--grid", "x=[1,2", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("hpc-sweep: error: --grid 'x=[1,2': no viable alternative at input '[1,2'")
    assert list(tmp_path.iterdir()) == []


# --- our own keys keep their meaning ---


def test_our_flag_keys_take_hydra_sweeps_and_set_our_flags() -> None:
    runs = plan("num_envs=range(1024,3073,1024)", "task='Demo-PointMass-v0',Isaac-Velocity-Rough-Anymal-C-v0")
    assert [(r.num_envs, r.task) for r in runs] == [
        (n, t) for n in (1024, 2048, 3072) for t in ("Demo-PointMass-v0", "Isaac-Velocity-Rough-Anymal-C-v0")
    ]
    assert all(r.overrides == () for r in runs)
    assert [r.world for r in plan("world=false,true")] == [False, True]
    assert plan("world=false,true")[1].point == {"world": "true"}  # plain text, as the flag takes it


@pytest.mark.parametrize(
    ("items", "additional_args", "fragment"),
    [
        (["agent.seed=range(1,3)"], (), "use --seeds"),
        (["+env.scene.num_envs=1,2"], (), "use --num_envs"),
        (["agent.max_iterations@pkg=1,2"], (), "use --max_iterations"),
        ([], ("++agent.max_iterations=5",), "use --max_iterations"),
        ([], ("~agent.resume",), "--resume"),
        ([], ("num_envs=256",), "use --num_envs"),
        ([], ("agent.x=1,2",), "is a Hydra sweep"),
        ([], ("agent.x=[1,2",), "no viable alternative"),
        (["agent.x=1,2", "+agent.x=3,4"], (), "names 'agent.x' twice"),
        (["agent.x=1,2"], ("agent.x=5",), "agent.x is set twice"),
        ([], ("agent.x=5", "++agent.x=6"), "agent.x is set twice"),
    ],
)
def test_what_the_tool_sets_and_keys_set_twice_are_refused(items, additional_args, fragment) -> None:
    assert fragment in refusal(*items, additional_args=additional_args)


def test_single_valued_overrides_pass_through_as_written() -> None:
    args = ("agent.policy.actor_hidden_dims=[256,128]", "~agent.clip_actions", "+env.x='a,b'", "--video")
    run = plan("agent.algorithm.gamma=0.99,0.995", additional_args=args)[0]
    assert run.additional_args == args and run.overrides == ("agent.algorithm.gamma=0.99",)


# --- trailing overrides, as Isaac Lab's train.py takes them ---


def test_trailing_sweeps_become_grid_items_and_single_values_fixed_overrides() -> None:
    tokens = ["agent.algorithm.learning_rate=1e-3,3e-4", "agent.x=[1,2]", "~agent.y", "num_envs=range(256,513,256)"]
    grid_items, fixed = split_overrides(tokens)
    assert grid_items == ["agent.algorithm.learning_rate=1e-3,3e-4", "num_envs=range(256,513,256)"]
    assert fixed == ["agent.x=[1,2]", "~agent.y"]
    runs = plan(*grid_items, additional_args=tuple(fixed))
    assert [(r.num_envs, r.overrides) for r in runs] == [
        (n, (f"agent.algorithm.learning_rate={lr}",)) for lr in ("0.001", "0.0003") for n in (256, 512)
    ]


@pytest.mark.parametrize(
    ("token", "fragment"),
    [("--video", "is not a Hydra override"), ("42", "is not a Hydra override"), ("x=[1", "no viable alternative")],
)
def test_a_trailing_word_that_is_not_an_override_is_refused(token: str, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        split_overrides([token])


def test_the_job_wrapper_does_not_import_hydra() -> None:
    code = "import sys, hpc_sweep.job, hpc_sweep.spec; print(any(m.split('.')[0] == 'hydra' for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


# --- the property: every planned override reads back as the value the sweep listed ---


def typed(value):
    """A parsed value with its types spelled out (so 1, 1.0 and True differ)."""
    if isinstance(value, list):
        return ("list", [typed(v) for v in value])
    if isinstance(value, dict):
        return ("dict", sorted((repr(k), typed(v)) for k, v in value.items()))
    return (type(value).__name__, value)


def hydra_value(key: str, text: str):
    (override,) = HYDRA.parse_overrides([f"{key}={text}"])
    assert not override.is_sweep_override()
    return typed(override.value())


def accepted(text: str) -> bool:
    try:
        (override,) = HYDRA.parse_overrides([f"x={text}"])
    except Exception:
        return False
    return not override.is_sweep_override() and override.value_type is not None


PRINTABLE = st.text(st.characters(codec="utf-8"), max_size=6).filter(str.isprintable)
QUOTED = st.tuples(PRINTABLE, st.sampled_from(Quote)).map(lambda tq: QuotedString(*tq).with_quotes())
UNQUOTED = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,5}", fullmatch=True)
NUMBER = st.one_of(st.integers(-(10**9), 10**9).map(str), st.floats(allow_nan=False, width=64).map(repr))
SCALAR = st.one_of(NUMBER, UNQUOTED, QUOTED, st.sampled_from(["true", "False", "null", "''"]))
VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: "[" + ",".join(xs) + "]"),
        st.dictionaries(UNQUOTED, inner, max_size=2).map(
            lambda d: "{" + ",".join(f"{k}:{v}" for k, v in d.items()) + "}"
        ),
    ),
    max_leaves=5,
).filter(accepted)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(prefix=st.sampled_from(["", "+", "++"]), texts=st.lists(VALUE, min_size=1, max_size=4))
def test_each_planned_override_round_trips_through_hydra_to_the_listed_value(prefix: str, texts: list[str]) -> None:
    key = f"{prefix}agent.algorithm.x"
    item = f"{key}={','.join(texts)}"
    expected = [hydra_value(key, text) for text in texts]
    assume(len({repr(v) for v in expected}) == len(expected))  # values Hydra reads alike are refused (tested above)
    runs = plan(item)
    assert len(runs) == len(texts)
    for run, value in zip(runs, expected, strict=True):
        (override,) = run.overrides
        (parsed,) = HYDRA.parse_overrides([override])
        assert parsed.get_key_element() == key and not parsed.is_sweep_override()
        assert typed(parsed.value()) == value
        assert override == f"{key}={run.point[key]}"  # the point holds the value as the run's override spells it
    assert len({run.run_name for run in runs}) == len(runs) and len({run.group for run in runs}) == len(runs)


# --- group labels, one function for collect and compare ---


def test_group_labels_are_the_last_key_segment_and_the_value() -> None:
    runs = plan("agent.algorithm.learning_rate=1e-3,3e-4", seeds=(1, 2))
    assert [r.group for r in runs] == ["learning_rate=0.001"] * 2 + ["learning_rate=0.0003"] * 2
    assert runs[0].run_name == "s_learning_rate-0.001_seed1" and runs[0].common_folder == "s_learning_rate-0.001"
    two = plan("num_envs=64,128", "agent.policy.actor_hidden_dims=[256,128]")
    assert [r.group for r in two] == [
        "num_envs=64,actor_hidden_dims=[256,128]",
        "num_envs=128,actor_hidden_dims=[256,128]",
    ]
    assert {r.group for r in plan()} == {"s"}  # no grid: the common folder


def test_keys_that_end_alike_are_shown_with_as_many_segments_as_tell_them_apart() -> None:
    assert key_labels(["agent.algorithm.lr", "env.lr", "x", "y.x", "+a.b"]) == {
        "agent.algorithm.lr": "algorithm.lr",
        "env.lr": "env.lr",
        "x": "x",
        "y.x": "y.x",
        "+a.b": "b",
    }


def test_group_labels_stay_distinct_when_values_would_make_them_meet() -> None:
    points = [{"a": "1,b=2", "b": "3"}, {"a": "1", "b": "2,b=3"}]
    labels = group_labels(points)
    assert labels[0] != labels[1] and labels[0].startswith("a=1,b=2,b=3")
    long = [{"k": "v" * 60 + "1"}, {"k": "v" * 60 + "2"}]
    assert len(set(group_labels(long))) == 2 and all(len(label) < 60 for label in group_labels(long))
    assert point_label({"k": "a\tb"}).startswith("k=a?b...#")


def _run(run_id: str, point: dict[str, str], start: float) -> RunData:
    source = RunSource(run_id=run_id, seed=int(run_id), group="g", status="completed", info={"point": point})
    steps = np.arange(10, dtype=np.int64)
    return RunData(
        source, {"Train/mean_reward": (steps, start + steps.astype(np.float64), np.zeros(10))}, "tensorboard"
    )


def test_compare_by_a_key_names_groups_as_collect_does() -> None:
    runs = plan("agent.algorithm.learning_rate=1e-3,3e-4", seeds=(1, 2))
    collection = Collection(Path("/s"), [_run(str(i), r.point, i) for i, r in enumerate(runs)], [])
    groups = form_groups([(Path("/s"), collection)], "agent.algorithm.learning_rate", "mean_reward", 0.2)
    assert [g.name for g in groups] == ["learning_rate=0.001", "learning_rate=0.0003"]
    assert [g.name for g in groups] == list(dict.fromkeys(r.group for r in runs))
    prefixed = plan("+agent.x=1,2", seeds=(1,))
    collection = Collection(Path("/s"), [_run(str(i), r.point, i) for i, r in enumerate(prefixed)], [])
    assert [g.name for g in form_groups([(Path("/s"), collection)], "agent.x", "mean_reward", 0.2)] == ["x=1", "x=2"]
