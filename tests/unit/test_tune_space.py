"""The search space of ``hpc-sweep tune``: Hydra-like words parse to dimensions (both spellings of each function),
every mistake is refused in one line naming the item, arbitrary text never raises anything else, and a space and
each sampled value survive the round trip through text (JSON, and the run's Hydra override)."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpc_sweep.errors import UsageError
from hpc_sweep.grid import parse_override
from hpc_sweep.names import shown
from hpc_sweep.tune.space import Dimension, SearchSpace, is_search_item, parse_space


def one(item: str) -> Dimension:
    (dimension,) = parse_space([item]).dimensions
    return dimension


def refusal(*items: str) -> str:
    with pytest.raises(UsageError) as raised:
        parse_space(list(items))
    message = str(raised.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def hydra_value(text: str) -> object:
    return parse_override(f"x={text}", "test").value()


# --- what parses ---


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("lr=loguniform(1e-4,1e-2)", Dimension("lr", "float", 1e-4, 1e-2, log=True)),
        ("lr=tag(log,interval(1e-4,1e-2))", Dimension("lr", "float", 1e-4, 1e-2, log=True)),
        ("lr=tag(log, interval(1e-4, 1e-2))", Dimension("lr", "float", 1e-4, 1e-2, log=True)),
        ("ent=uniform(0,0.02)", Dimension("ent", "float", 0.0, 0.02)),
        ("ent=interval(0,0.02)", Dimension("ent", "float", 0.0, 0.02)),
        ("ent=uniform(-1,1)", Dimension("ent", "float", -1.0, 1.0)),
        ("epochs=int(2,8)", Dimension("epochs", "int", 2, 8)),
        ("epochs=int(1e3,1e4)", Dimension("epochs", "int", 1000, 10000)),
        ("batch=logint(16,1024)", Dimension("batch", "int", 16, 1024, log=True)),
        ("batch=tag(log,int(16,1024))", Dimension("batch", "int", 16, 1024, log=True)),
        ("act=choice(elu,tanh)", Dimension("act", "categorical", choices=("elu", "tanh"))),
        ("env=choice(flat,rough)", Dimension("env", "categorical", choices=("flat", "rough"))),
    ],
)
def test_each_function_and_spelling_parses_to_its_dimension(item: str, expected: Dimension) -> None:
    assert one(item) == expected


def test_choice_keeps_lists_quoted_strings_and_numbers_as_hydra_values() -> None:
    dimension = one(
        """+agent.policy.actor_hidden_dims=choice([256,128],[512, 256],'a b',"it's",'a,b',null,true,1e-3)"""
    )
    assert dimension.key == "+agent.policy.actor_hidden_dims"
    assert dimension.choices == ("[256,128]", "[512,256]", "'a b'", '"it\'s"', "'a,b'", "null", "true", "0.001")
    assert [hydra_value(choice) for choice in dimension.choices] == [
        [256, 128],
        [512, 256],
        "a b",
        "it's",
        "a,b",
        None,
        True,
        0.001,
    ]


def test_prefixes_and_packages_are_kept_in_the_key() -> None:
    assert one("++agent.x=uniform(0,1)").key == "++agent.x"
    assert one("agent.x@pkg=choice(a,b)").key == "agent.x@pkg"
    space = parse_space(["+agent.x=int(1,3)"])
    assert space.overrides({"+agent.x": 2}) == ("+agent.x=2",)


def test_a_space_keeps_the_order_given_and_lists_distributions_by_key() -> None:
    space = parse_space(["b=uniform(0,1)", "a=choice(x,y)", "c=logint(1,64)"])
    assert [dimension.key for dimension in space.dimensions] == ["b", "a", "c"]
    distributions = space.distributions()
    assert list(distributions) == ["b", "a", "c"]
    assert distributions["a"].choices == ("x", "y")
    assert (distributions["c"].low, distributions["c"].high, distributions["c"].log) == (1, 64, True)
    assert space.overrides({"a": "y", "b": 0.25, "c": 8}) == ("b=0.25", "a=y", "c=8")


def test_size_counts_configurations_of_a_discrete_space_only() -> None:
    assert parse_space(["a=choice(x,y,z)", "b=int(2,5)"]).size() == 12
    assert parse_space(["a=choice(x,y)", "b=uniform(0,1)"]).size() is None


def test_labels_are_short_and_overrides_exact() -> None:
    lr = one("lr=loguniform(1e-6,1e-2)")
    assert lr.label(0.000312412345) == "0.0003124"
    assert lr.label(1.5e-05) == "1.5e-05"
    assert lr.override(0.000312412345) == "lr=0.000312412345"
    assert lr.override(1.5e-05) == "lr=1.5e-05"
    assert one("n=int(1,9)").label(4) == "4"
    assert one("a=choice([1,2],b)").label("[1,2]") == "[1,2]"
    with pytest.raises(ValueError):
        one("a=choice(x,y)").override("z")
    with pytest.raises(ValueError):
        one("n=int(1,9)").override(2.5)


# --- what is refused, each in one line naming the item and the fix ---


@pytest.mark.parametrize(
    ("item", "fix"),
    [
        ("lr=loguniform(0,1)", "loguniform needs 0 < low < high; e.g. lr=loguniform(1e-5,1e-2)"),
        ("lr=tag(log,interval(-1,1))", "needs 0 < low < high"),
        ("n=logint(0,8)", "logint needs 1 <= low < high"),
        ("x=uniform(1,1)", "needs low < high"),
        ("x=uniform(2,1)", "needs low < high"),
        ("n=int(8,2)", "needs low < high"),
        ("n=int(2.5,8)", "whole numbers; e.g. n=int(2,8)"),
        ("x=uniform(0,inf)", "finite"),
        ("x=uniform(nan,1)", "finite"),
        ("x=loguniform(1e-5,1e999)", "finite"),
        ("n=int(0,1" + "0" * 400 + ")", "finite"),
        ("x=uniform(-1.7e308,1.7e308)", "wider than a float holds"),
        ("x=uniform(a,b)", "must be numbers"),
        ("x=uniform(true,2)", "must be numbers"),
        ("x=uniform(0,1,2)", "takes two bounds"),
        ("x=int(interval(2,8))", "takes two bounds"),
        ("x=uniform(low=0,high=1)", "by position"),
        ("x=choice(a)", "at least two values"),
        ("x=choice(a,b,a)", "twice"),
        ("x=choice(a,'a')", "twice"),
        ("x=choice([1,2],[1, 2])", "twice"),
        ("x=choice(uniform(0,1),2)", "plain Hydra values"),
        ("x=normal(0,1)", "unknown function normal(); the known ones: loguniform, uniform, int, logint, choice"),
        ("x=tag(foo,interval(0,1))", "the one tag understood is log"),
        ("x=tag(log,choice(a,b))", "tag() takes tags and then interval(a,b)"),
        ("x=range(1,4)", "x=int(a,b)"),
        ("x=1,2", "x=choice(1,2); give fixed values as plain overrides"),
        ("x=3", "fixed value"),
        ("x=[1,2]", "fixed value"),
        ("~x", "deletes a key"),
        ("x=choice(a,b", "malformed Hydra override"),
        ("=choice(a,b)", "names no key"),
        ("agent.seed=int(1,5)", "--seeds"),
        ("+env.seed=int(1,5)", "--seeds"),
        ("agent.max_iterations=int(100,200)", "--max_iterations"),
        ("env.scene.num_envs=int(1024,4096)", "--num_envs"),
        ("num_envs=int(1024,4096)", "--num_envs"),
        ("task=choice(A-v0,B-v0)", "--task"),
        ("agent.resume=choice(true,false)", "use"),
        ("seed=int(1,4)", "--seeds"),
        ("x=uniform(0,1)\ny=2", "control character"),
    ],
)
def test_mistakes_are_refused_in_one_line_naming_the_item(item: str, fix: str) -> None:
    message = refusal(item)
    assert shown(item) in message
    assert fix in message


def test_an_empty_space_is_refused_with_an_example() -> None:
    assert "give at least one dimension, e.g." in refusal()


@pytest.mark.parametrize("second", ["x=choice(a,b)", "+x=choice(a,b)", "++x=int(1,2)", "x@pkg=uniform(0,1)"])
def test_a_key_searched_twice_is_refused_also_behind_a_prefix(second: str) -> None:
    message = refusal("x=uniform(0,1)", second)
    assert "x is searched twice" in message and shown(second) in message


def test_a_non_string_item_is_refused() -> None:
    with pytest.raises(UsageError):
        parse_space([3])  # type: ignore[list-item]


GRAMMAR_TEXT = st.text(alphabet="xab01.,-+=~()[]{}:'\" \\@$e_", max_size=40)
FUNCTION_TEXT = st.builds(
    lambda key, function, body: f"{key}={function}({body}",
    st.sampled_from(["x", "+x", "++a.b", "~x", "x@p", "agent.seed", ""]),
    st.sampled_from(["loguniform", "uniform", "int", "logint", "choice", "interval", "tag", "range", "normal"]),
    GRAMMAR_TEXT,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(st.one_of(st.text(max_size=40), GRAMMAR_TEXT, FUNCTION_TEXT), max_size=3))
def test_arbitrary_text_parses_or_is_refused_in_one_line(items: list[str]) -> None:
    try:
        space = parse_space(items)
    except UsageError as error:
        assert "\n" not in str(error) and "\r" not in str(error)
    else:
        assert parse_space(space.to_list()) == space


# --- round trips: JSON text and each run's override ---

FINITE = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)
POSITIVE = st.floats(min_value=1e-300, max_value=1e300)
HYDRA_VALUES = st.sampled_from(
    ["elu", "tanh", "[256,128]", "[512,256,128]", "'a b'", "'a,b'", '"it\'s"', "null", "true", "1", "1.0", "{a:1}"]
)


@st.composite
def search_items(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["uniform", "loguniform", "interval", "int", "logint", "choice", "tag"]))
    if kind == "choice":
        values = draw(st.lists(HYDRA_VALUES, min_size=2, max_size=5, unique=True))
        return f"choice({','.join(values)})"
    if kind in ("int", "logint"):
        low = draw(st.integers(1 if kind == "logint" else -(10**6), 10**6))
        return f"{kind}({low},{low + draw(st.integers(1, 10**6))})"
    low, high = sorted(draw(st.lists(POSITIVE if kind in ("loguniform", "tag") else FINITE, min_size=2, max_size=2)))
    if low == high:
        high = math.nextafter(high, math.inf)
    function = f"tag(log,interval({low!r},{high!r}))" if kind == "tag" else f"{kind}({low!r},{high!r})"
    return function


@settings(max_examples=200, deadline=None)
@given(
    functions=st.lists(search_items(), min_size=1, max_size=4),
    prefixes=st.lists(st.sampled_from(["", "+", "++"]), min_size=4, max_size=4),
)
def test_a_space_parses_back_from_its_list(functions: list[str], prefixes: list[str]) -> None:
    items = [f"{prefixes[index]}agent.k{index}={function}" for index, function in enumerate(functions)]
    space = parse_space(items)
    assert parse_space(space.to_list()) == space
    assert all(is_search_item(item) for item in items + space.to_list())


@settings(max_examples=300, deadline=None)
@given(data=st.data(), low=FINITE, width=st.floats(min_value=1e-300, max_value=1e300))
def test_a_sampled_float_is_read_back_by_hydra_as_the_same_float(data: st.DataObject, low: float, width: float) -> None:
    high = low + width
    if not math.isfinite(high) or high <= low:
        return
    dimension = one(f"x=uniform({low!r},{high!r})")
    value = data.draw(st.floats(min_value=low, max_value=high))
    override = parse_override(dimension.override(value), "test")
    assert override.get_key_element() == "x"
    assert override.value() == value and isinstance(override.value(), float)


@settings(max_examples=100, deadline=None)
@given(low=st.integers(-(10**12), 10**12), width=st.integers(1, 10**12), data=st.data())
def test_a_sampled_int_is_read_back_by_hydra_as_the_same_int(low: int, width: int, data: st.DataObject) -> None:
    dimension = one(f"+n=int({low},{low + width})")
    value = data.draw(st.integers(low, low + width))
    override = parse_override(dimension.override(value), "test")
    assert (override.get_key_element(), override.value()) == ("+n", value)


@settings(max_examples=100, deadline=None)
@given(values=st.lists(HYDRA_VALUES, min_size=2, max_size=6, unique=True))
def test_each_choice_is_read_back_by_hydra_as_the_value_written(values: list[str]) -> None:
    dimension = one(f"x=choice({','.join(values)})")
    for written, choice in zip(values, dimension.choices, strict=True):
        assert parse_override(dimension.override(choice), "test").value() == hydra_value(written)


# --- the command line's view ---


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("agent.algorithm.learning_rate=loguniform(1e-4,1e-2)", True),
        ("+x=choice(a,b)", True),
        ("x=int(2,8)", True),
        ("x=logint(2,8)", True),
        ("x=tag(log,interval(1,2))", True),
        ("x=range(1,4)", True),  # so that the search space refuses it with the fix
        ("x=normal(0,1)", True),  # likewise: the known functions are listed
        ("x=int(3)", False),  # Hydra's cast: a fixed value
        ("x=str(3)", False),
        ("x=3", False),
        ("x=1,2", False),
        ("x=[1,2]", False),
        ("--flag", False),
        ("~x", False),
        ("choice(a,b)", False),
    ],
)
def test_search_items_are_told_from_fixed_overrides_by_shape(token: str, expected: bool) -> None:
    assert is_search_item(token) is expected


def test_importing_the_space_imports_neither_optuna_nor_hydra() -> None:
    code = (
        "import sys, hpc_sweep.tune.space\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('optuna', 'hydra', 'omegaconf'))\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dimensions_compare_by_value() -> None:
    assert parse_space(["x=uniform(0,1)"]) == SearchSpace((Dimension("x", "float", 0.0, 1.0),))
