"""A search space written as Hydra-like command-line words, one per dimension, for ``hpc-sweep tune``.

``agent.algorithm.learning_rate=loguniform(1e-4,1e-2)``, ``agent.algorithm.entropy_coef=uniform(0,0.02)``,
``agent.algorithm.num_learning_epochs=int(2,8)``, ``agent.policy.activation=choice(elu,tanh)``. The spellings of
hydra-optuna-sweeper work too: ``interval(a,b)`` is ``uniform(a,b)`` and ``tag(log,interval(a,b))`` is
``loguniform(a,b)``. ``logint(a,b)`` is an integer sampled on a log scale. All bounds are inclusive.

Parsing. The words are Hydra's grammar (quoting, escapes, lists, dicts, ``+key``), so hydra-core's own
``OverridesParser`` reads them, as :mod:`hpc_sweep.grid` does for ``--grid``. What a function *means* is ours, though:
Hydra's ``int(2,8)`` is a cast that yields the two-value sweep ``2,8``, its ``interval`` is half-open, and its
``Functions.eval`` unquotes string arguments (so ``choice('a b',c)`` could not be written back as the user quoted
it). So the parser gets a function table that evaluates nothing: every call, known or not, is recorded as a
:class:`_Call` with Hydra's parsed arguments, and this module gives it meaning and validates it in one place, with
our own one-line messages. Rewriting the text before Hydra sees it was the alternative; it would need a second
grammar for where a function call starts and ends, inside quotes and brackets, which is the thing not to hand-write.

Each dimension is written back (:meth:`Dimension.item`) in one normal form (``uniform``, ``loguniform``, ``int``,
``logint``, ``choice``; floats by ``repr``, which round-trips exactly), so a space stored as JSON parses back equal.
A ``choice`` value is kept as a Hydra value string (``elu``, ``[256,128]``, ``'a b'``): the sampled string is pasted
into the run's override unchanged, so the run gets exactly the value the user wrote.

Refused, each with a one-line :class:`~hpc_sweep.errors.UsageError` naming the item and the fix: an empty space,
``low >= high``, log scale with ``low <= 0`` (``logint``: ``low < 1``, as Optuna's log-int requires), non-integer
``int`` bounds, non-finite bounds, a ``choice`` of fewer than two values or with a value twice, an unknown function,
``range()`` (a grid's list, not a search range: use ``int(a,b)``), a plain value or a comma sweep (``x=1,2``), a key
given twice (also as ``x`` and ``+x``), ``~key``, text Hydra refuses, and the keys hpc-sweep sets itself.

Neither optuna nor hydra is imported until first used: the command line imports this module on every start.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpc_sweep.errors import UsageError
from hpc_sweep.grid import FLAG_KEYS, hydra_message
from hpc_sweep.names import bare_key, check_one_line, shown
from hpc_sweep.spec import OWNED_OVERRIDES

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

#: The functions of a search item, in the order error messages list them.
FUNCTIONS = ("loguniform", "uniform", "int", "logint", "choice", "interval", "tag")
#: Hydra's functions that yield one value (casts) or reorder a sweep: a word using them is no search item.
_HYDRA_VALUE_FUNCTIONS = frozenset({"str", "bool", "float", "sort", "shuffle", "glob"})
_SEARCH_SHAPE = re.compile(
    r"(?:\+\+?)?[A-Za-z_][\w.\-/@]*=\s*(?P<name>[A-Za-z_]\w*)\s*\((?P<args>.*)", re.ASCII | re.DOTALL
)
_EXAMPLE = "agent.algorithm.learning_rate=loguniform(1e-5,1e-2)"
#: Function as written -> (kind, log) of the dimension it makes; ``tag(log, ...)`` turns log on.
_NUMERIC = {
    "uniform": ("float", False),
    "interval": ("float", False),
    "loguniform": ("float", True),
    "int": ("int", False),
    "logint": ("int", True),
}


@dataclass(frozen=True)
class Dimension:
    """One searched key: a float or int range (bounds inclusive, optionally log-scaled) or a set of choices."""

    key: str  # the override key as written, a ``+``/``++`` prefix kept (``+agent.x``)
    kind: str  # "float" | "int" | "categorical"
    low: float | None = None  # float/int bounds, inclusive (Python ints for an int dimension)
    high: float | None = None
    log: bool = False
    choices: tuple[str, ...] = ()  # categorical: each value as a Hydra value string (``elu``, ``[256,128]``, ``'a b'``)

    def distribution(self) -> BaseDistribution:
        """Optuna's distribution of this dimension; a categorical one samples the choice strings themselves."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == "float":
            return FloatDistribution(float(self.low), float(self.high), log=self.log)  # type: ignore[arg-type]
        if self.kind == "int":
            return IntDistribution(int(self.low), int(self.high), log=self.log)  # type: ignore[arg-type]
        return CategoricalDistribution(self.choices)

    def override(self, value: Any) -> str:
        """One run's Hydra override ``key=value``: a float by ``repr`` (Hydra reads it back exactly), an int as an
        int, a choice as its Hydra value string. A value this dimension cannot take is a ``ValueError``."""
        if self.kind == "float":
            return f"{self.key}={float(value)!r}"
        if self.kind == "int":
            if isinstance(value, bool) or int(value) != value:
                raise ValueError(f"{self.key} takes integers, got {value!r}")
            return f"{self.key}={int(value)}"
        if value not in self.choices:
            raise ValueError(f"{self.key} takes one of {self.choices}, got {value!r}")
        return f"{self.key}={value}"

    def label(self, value: Any) -> str:
        """Short text for tables: a float with 4 significant digits (``0.0003124``, ``1.5e-05``), else the value."""
        if self.kind == "float":
            return f"{float(value):.4g}"
        if self.kind == "int":
            return str(int(value))
        return str(value)

    def item(self) -> str:
        """This dimension as one search item in normal form; :func:`parse_space` reads it back equal."""
        if self.kind == "categorical":
            return f"{self.key}=choice({','.join(self.choices)})"
        function = ("logint" if self.log else "int") if self.kind == "int" else "loguniform" if self.log else "uniform"
        return f"{self.key}={function}({self.low!r},{self.high!r})"


@dataclass(frozen=True)
class SearchSpace:
    """The dimensions of a search, in the order given (which is the order of each run's overrides)."""

    dimensions: tuple[Dimension, ...]

    def distributions(self) -> dict[str, BaseDistribution]:
        """Optuna's distributions by key, for ``study.ask``."""
        return {dimension.key: dimension.distribution() for dimension in self.dimensions}

    def overrides(self, params: dict[str, Any]) -> tuple[str, ...]:
        """One configuration's Hydra overrides, in dimension order; ``params`` maps each key to a sampled value."""
        return tuple(dimension.override(params[dimension.key]) for dimension in self.dimensions)

    def to_list(self) -> list[str]:
        """The items in normal form, for JSON: ``parse_space(space.to_list()) == space``."""
        return [dimension.item() for dimension in self.dimensions]

    def size(self) -> int | None:
        """How many configurations there are (the product of the choices and int ranges); None with a float one."""
        total = 1
        for dimension in self.dimensions:
            if dimension.kind == "float":
                return None
            if dimension.kind == "int":
                total *= int(dimension.high) - int(dimension.low) + 1  # type: ignore[arg-type]
            else:
                total *= len(dimension.choices)
        return total


def is_search_item(token: str) -> bool:
    """True when a command-line word is shaped like a search dimension, ``key=<function>(...)``.

    Cheap (a regex on the shape; nothing is imported), so the command line can tell dimensions from fixed overrides.
    Any function counts except Hydra's value functions (``str``, ``float``, ``bool``, ``sort``, ``shuffle``,
    ``glob``), so ``x=normal(0,1)`` is a dimension that :func:`parse_space` refuses with the known functions named,
    not a fixed override that fails later. ``int`` counts only with a comma before its first ``)``: ``x=int(3)`` is
    Hydra's cast, a fixed value; ``x=int(2,8)`` is a dimension.
    """
    match = _SEARCH_SHAPE.fullmatch(token)
    if match is None or match["name"] in _HYDRA_VALUE_FUNCTIONS:
        return False
    return match["name"] != "int" or "," in match["args"].partition(")")[0]


def parse_space(items: Sequence[str]) -> SearchSpace:
    """Search items (see the module docstring) -> a :class:`SearchSpace`; a :class:`UsageError` for what is refused."""
    if not items:
        raise UsageError(f"the search space is empty: give at least one dimension, e.g. {_EXAMPLE}")
    dimensions: list[Dimension] = []
    for item in items:
        dimension = _parse_item(item)
        name = _bare_name(dimension.key)
        if any(_bare_name(known.key) == name for known in dimensions):
            raise UsageError(f"search space {shown(item)}: {name} is searched twice; give it one dimension")
        dimensions.append(dimension)
    return SearchSpace(tuple(dimensions))


@dataclass(frozen=True)
class _Call:
    """A function call as written: Hydra parsed its arguments (quoted strings kept quoted); nothing was evaluated."""

    name: str
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...]


@functools.lru_cache(maxsize=1)
def _parser() -> Any:
    """Hydra's override parser with a function table that records calls instead of evaluating them."""
    from hydra._internal.grammar.functions import FunctionCall, Functions
    from hydra.core.override_parser.overrides_parser import OverridesParser

    class _RecordingFunctions(Functions):
        def eval(self, func: FunctionCall) -> _Call:
            return _Call(func.name, tuple(func.args), tuple(func.kwargs.items()))

    return OverridesParser(functions=_RecordingFunctions())


def _bare_name(key: str) -> str:
    return bare_key(key).partition("@")[0]


def _parse_item(item: str) -> Dimension:
    check_one_line("search space item", item, allow_tab=True)
    where = f"search space {shown(item)}"
    from hydra.errors import HydraException

    try:
        (override,) = _parser().parse_overrides([item])
    except (HydraException, ValueError, TypeError, AssertionError, RecursionError) as error:
        raise UsageError(f"{where}: {hydra_message(error)}") from None
    if not override.key_or_group:
        raise UsageError(f"{where} names no key: write KEY=FUNCTION(...), e.g. {_EXAMPLE}")
    if override.is_delete():
        raise UsageError(f"{where}: ~KEY deletes a key and has nothing to search; pass it as a fixed override")
    key = override.get_key_element()
    _check_key(key, where)
    value = override.value()
    example = f"{key}=choice(a,b)"
    if override.value_type is not None and override.value_type.name == "SIMPLE_CHOICE_SWEEP":
        listed = override.get_value_string()
        raise UsageError(
            f"{where} is a comma list (a grid sweep): search its values with {key}=choice({listed}); give fixed "
            "values as plain overrides"
        )
    if not isinstance(value, _Call):
        raise UsageError(
            f"{where} is a fixed value, not a dimension: give fixed values as plain overrides, and search with e.g. "
            f"{example} or {key}=uniform(0,1)"
        )
    return _dimension(key, value, where)


def _check_key(key: str, where: str) -> None:
    """Refuse the keys hpc-sweep sets itself, naming the flag to use."""
    bare = _bare_name(key)
    if bare in FLAG_KEYS:
        raise UsageError(f"{where}: {bare} is hpc-sweep's own flag, not a Hydra key, and is not searched: set --{bare}")
    if bare in OWNED_OVERRIDES:
        raise UsageError(f"{where}: {bare} is what hpc-sweep sets; use {OWNED_OVERRIDES[bare]} instead")
    if bare in ("seed", "seeds"):
        raise UsageError(f"{where}: seeds are not searched (that would tune to noise); list them with --seeds")


def _dimension(key: str, call: _Call, where: str) -> Dimension:
    """The dimension a top-level call describes."""
    if call.kwargs:
        raise UsageError(f"{where}: give {call.name}()'s arguments by position, e.g. {_example(key, call.name)}")
    if call.name == "choice":
        return _categorical(key, call.args, where)
    if call.name in _NUMERIC:
        kind, log = _NUMERIC[call.name]
        return _numeric(key, call.name, kind, log, call.args, where)
    if call.name == "tag":
        return _tagged(key, call.args, where)
    if call.name == "range":
        raise UsageError(
            f"{where}: range() lists a grid's values; to search integers write {key}=int(a,b) (both bounds included)"
        )
    raise UsageError(
        f"{where}: unknown function {call.name}(); the known ones: {', '.join(FUNCTIONS)}, e.g. {_EXAMPLE}"
    )


def _tagged(key: str, args: tuple[Any, ...], where: str) -> Dimension:
    """``tag(log, interval(a,b))``, hydra-optuna-sweeper's spelling of a log scale (also around uniform or int)."""
    inner = args[-1] if args else None
    if not isinstance(inner, _Call) or inner.name not in ("interval", "uniform", "int") or inner.kwargs:
        raise UsageError(f"{where}: tag() takes tags and then interval(a,b), e.g. {key}=tag(log,interval(1e-5,1e-2))")
    tags = {getattr(tag, "text", tag) for tag in args[:-1]}
    if tags != {"log"}:
        raise UsageError(
            f"{where}: the one tag understood is log, as in {key}=tag(log,interval(1e-5,1e-2)); "
            f"got {sorted(map(str, tags))}"
        )
    kind = _NUMERIC[inner.name][0]
    return _numeric(key, f"tag(log,{inner.name}(...))", kind, True, inner.args, where)


def _numeric(key: str, function: str, kind: str, log: bool, args: tuple[Any, ...], where: str) -> Dimension:
    """A float or int range from a call's two bounds."""
    example = _example(key, ("logint" if log else "int") if kind == "int" else "loguniform" if log else "uniform")
    if len(args) != 2:
        raise UsageError(f"{where}: {function} takes two bounds, low and high; e.g. {example}")
    if not all(isinstance(bound, (int, float)) and not isinstance(bound, bool) for bound in args):
        raise UsageError(f"{where}: {function}'s bounds must be numbers; e.g. {example}")
    try:
        floats = [float(bound) for bound in args]
    except OverflowError:
        floats = [math.inf]
    if not all(math.isfinite(bound) for bound in floats):
        raise UsageError(f"{where}: {function}'s bounds must be finite numbers; e.g. {example}")
    if kind == "int":
        if not all(isinstance(bound, int) or bound.is_integer() for bound in args):
            raise UsageError(f"{where}: {function}'s bounds must be whole numbers; e.g. {example}")
        low, high = (int(bound) for bound in args)
    else:
        low, high = floats
        if not math.isfinite(high - low):
            raise UsageError(f"{where}: {function}'s range is wider than a float holds; e.g. {example}")
    if log and kind == "int" and not 1 <= low < high:
        raise UsageError(f"{where}: {function} needs 1 <= low < high; e.g. {example}")
    if log and not 0 < low < high:
        raise UsageError(f"{where}: {function} needs 0 < low < high; e.g. {example}")
    if not low < high:
        raise UsageError(f"{where}: {function} needs low < high; e.g. {example}")
    return Dimension(key=key, kind=kind, low=low, high=high, log=log)


def _categorical(key: str, args: tuple[Any, ...], where: str) -> Dimension:
    """A choice among Hydra values, each kept as a Hydra value string."""
    example = _example(key, "choice")
    if len(args) < 2:
        raise UsageError(f"{where}: choice() needs at least two values; e.g. {example}")
    nested = next((name for arg in args if (name := _call_inside(arg)) is not None), None)
    if nested is not None:
        raise UsageError(f"{where}: choice() takes plain Hydra values, not {nested}(); e.g. {example}")
    choices = tuple(_hydra_text(arg) for arg in args)
    meanings = [_meaning(arg) for arg in args]
    repeated = next((choices[index] for index, meaning in enumerate(meanings) if meaning in meanings[:index]), None)
    if repeated is not None:
        raise UsageError(f"{where}: choice() lists {shown(repeated)} twice; give each value once")
    return Dimension(key=key, kind="categorical", choices=choices)


def _call_inside(value: Any) -> str | None:
    """The name of a function call inside a parsed value (lists and dicts searched), or None."""
    if isinstance(value, _Call):
        return value.name
    if isinstance(value, list):
        return next((name for item in value if (name := _call_inside(item)) is not None), None)
    if isinstance(value, dict):
        return next((name for item in value.values() if (name := _call_inside(item)) is not None), None)
    return None


def _hydra_text(value: Any) -> str:
    """A parsed Hydra value written back as Hydra reads it: as hydra-core's ``Override`` writes values (quoted strings
    keep their quotes, special characters of plain strings escaped), except ``true``/``false`` in lower case."""
    from hydra._internal.grammar.utils import escape_special_characters

    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return escape_special_characters(value)
    if isinstance(value, list):
        return "[" + ",".join(_hydra_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_hydra_text(name)}:{_hydra_text(item)}" for name, item in value.items()) + "}"
    return value.with_quotes()  # a QuotedString


def _meaning(value: Any) -> Any:
    """What a parsed value means to Hydra, to find a choice listed twice: ``a`` and ``'a'`` are one value, ``1`` and
    ``1.0`` are two (an int and a float), ``true`` and ``'true'`` are two (a bool and a string)."""
    text = getattr(value, "text", None)
    if isinstance(text, str):  # a QuotedString
        return ("str", text)
    if isinstance(value, list):
        return ("list", tuple(_meaning(item) for item in value))
    if isinstance(value, dict):
        return ("dict", tuple((_meaning(name), _meaning(item)) for name, item in value.items()))
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


def _example(key: str, function: str) -> str:
    bounds = {
        "uniform": "(0,1)",
        "interval": "(0,1)",
        "loguniform": "(1e-5,1e-2)",
        "int": "(2,8)",
        "logint": "(16,1024)",
        "choice": "(a,b)",
        "tag": "(log,interval(1e-5,1e-2))",
    }
    return f"{key}={function}{bounds.get(function, '(a,b)')}"
