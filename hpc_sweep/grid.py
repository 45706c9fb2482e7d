"""Hydra's override grammar for ``--grid`` items and pass-through overrides, through hydra-core's own parser.

Isaac Lab's ``train.py`` hands every argument it does not know to Hydra, so a user writes what Hydra reads:
``agent.policy.actor_hidden_dims=[256,128],[512,256]`` is a sweep over two lists, ``x=range(1,4)`` over 1, 2 and 3,
``x='a,b',c`` over a quoted string and ``c``. Nothing here splits at commas: every item is parsed by
``OverridesParser`` and each value of a sweep is written back as Hydra's basic sweeper writes it for one job
(``Override.sweep_string_iterator``: ``key=[256,128]``, quoted strings kept quoted, ``1e-3`` as ``0.001``). So each
planned run gets, for each grid key, one override that Hydra parses to exactly the value the sweep listed.

What hpc-sweep cannot plan is refused with a one-line message (Hydra's own, for what Hydra refuses): ``interval()``
(a continuous range, for optimizing sweepers, not a list of runs), ``glob()`` (it selects config-group options, which
only Hydra's config loader can list), ``shuffle()`` (a random order would make a dry run differ from the real plan), a
sweep without values, and a value listed twice. ``+key=`` and ``++key=`` keep their prefix in every run's override;
``~key`` (delete) is a fixed override, never a grid axis. The keys of :data:`FLAG_KEYS` set hpc-sweep's own flags:
their values are read as plain text (``num_envs=range(1024,4097,1024)``, ``task=A-v0,B-v0``).

hydra-core is imported on first use: the job wrapper imports the spec layer and must not pay for it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from hpc_sweep.errors import UsageError
from hpc_sweep.names import bare_key, check_one_line, shown

if TYPE_CHECKING:
    from hydra.core.override_parser.types import Override

#: Grid keys that set one of our own flags instead of becoming a Hydra override.
FLAG_KEYS = ("task", "num_envs", "max_iterations", "world")
#: What reads as a Hydra override on a command line: an optional ``~ + ++`` prefix, a dotted or ``/`` key, an
#: optional ``@package``, then ``=`` (or nothing, after ``~``). Anything else (``--flag``, ``42``) is not one.
_OVERRIDE_SHAPE = re.compile(r"(?:~[A-Za-z_][\w.\-/@]*(?:=.*)?|(?:\+\+?)?[A-Za-z_][\w.\-/@]*=.*)", re.ASCII | re.DOTALL)
_GRAMMAR = "https://hydra.cc/docs/advanced/override_grammar/basic/"


def is_override_token(token: str) -> bool:
    """True when a command-line word is shaped like a Hydra override (``key=value``, ``+key=v``, ``~key``); whether
    Hydra accepts it is :func:`parse_override`'s question."""
    return bool(_OVERRIDE_SHAPE.fullmatch(token))


@functools.lru_cache(maxsize=1)
def _parser() -> Any:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create()


def hydra_message(error: Exception) -> str:
    """Hydra's error message on one line: its lines joined, the caret line and the repeated input dropped, and a
    pointer to the grammar."""
    lines = [line.strip() for line in str(error).splitlines()]
    kept = [
        line
        for line in lines
        if line and set(line) != {"^"} and not line.startswith(("See https://hydra.cc", "Error parsing override"))
    ]
    return f"{'; '.join(kept) or type(error).__name__} (malformed Hydra override; the grammar: {_GRAMMAR})"


def parse_override(text: str, where: str) -> Override:
    """One Hydra override, parsed by hydra-core; a :class:`UsageError` ``<where> '<text>': <Hydra's message>``."""
    check_one_line(where, text, allow_tab=True)
    from hydra.errors import HydraException

    try:
        (override,) = _parser().parse_overrides([text])
    except (HydraException, ValueError) as error:
        raise UsageError(f"{where} {shown(text)}: {hydra_message(error)}") from None
    if not override.key_or_group:
        raise UsageError(f"{where} {shown(text)} names no key: write KEY=VALUE, e.g. agent.algorithm.gamma=0.99")
    return override


def sweep_values(override: Override, where: str) -> tuple[str, ...]:
    """The values of a Hydra override, each as Hydra writes one value after ``=`` (one for a plain override).

    For :data:`FLAG_KEYS` the values are plain text (a quoted string unquoted, ``true``/``false`` in lower case).
    Raises :class:`UsageError` for what cannot become a list of runs (see the module docstring).
    """
    from hydra.errors import HydraException

    item = shown(override.input_line)
    flag = override.key_or_group in FLAG_KEYS
    if not override.is_sweep_override():
        return (_plain(override.value()) if flag else override.get_value_element_as_str(),)
    if override.is_interval_sweep():
        raise UsageError(
            f"{where} {item}: interval() is a continuous range, for Hydra's optimizing sweepers; a grid needs a list "
            "of values: write them out (a,b,c) or use range(start,stop,step)"
        )
    if not override.is_discrete_sweep() or override.value_type.name == "GLOB_CHOICE_SWEEP":
        raise UsageError(
            f"{where} {item}: glob() picks config-group options that only Hydra's config loader can list; "
            "write the options out (a,b,c)"
        )
    if getattr(override.value(), "shuffle", False):
        raise UsageError(
            f"{where} {item}: shuffle() gives a random order, so a dry run would not show the real plan; list the "
            "values in the order to run them"
        )
    try:
        if flag:
            values = tuple(_plain(value) for value in override.sweep_iterator())
        else:
            values = tuple(override.sweep_string_iterator())
    except (HydraException, ValueError, TypeError) as error:
        raise UsageError(f"{where} {item}: {hydra_message(error)}") from None
    if not values:
        raise UsageError(f"{where} {item} gives no values: check its range (start < stop for a positive step)")
    return values


def _plain(value: Any) -> str:
    """A parsed Hydra element as plain text, for our own flags (``'A-v0'`` -> ``A-v0``, ``True`` -> ``true``)."""
    from hydra.core.override_parser.types import Override, QuotedString

    if isinstance(value, QuotedString):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return Override._get_value_element_as_str(value)


def parse_grid(items: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``--grid`` items, each a Hydra override, into an ordered grid ``((key, values), ...)``.

    A key is the override's key as Hydra writes it (``+`` and ``++`` kept, ``@package`` kept); each value is one
    value as written after ``=`` for one run (see :func:`sweep_values`). A key given twice (also as ``x`` and
    ``+x``), a value listed twice and ``~key`` are errors.
    """
    grid: dict[str, tuple[str, ...]] = {}
    for item in items:
        override = parse_override(item, "--grid")
        if override.is_delete():
            raise UsageError(
                f"--grid {shown(item)}: ~KEY deletes a key and has no values to sweep; pass it as an override of "
                "every run (a trailing argument, or --additional_args)"
            )
        key = override.get_key_element()
        if override.key_or_group in FLAG_KEYS and key != override.key_or_group:
            raise UsageError(
                f"--grid {shown(item)}: {override.key_or_group} is hpc-sweep's own flag, not a Hydra key; write "
                f"{override.key_or_group}=A,B without a prefix"
            )
        name = bare_key(key).partition("@")[0]
        if any(bare_key(known).partition("@")[0] == name for known in grid):
            raise UsageError(f"--grid names {name!r} twice: give all its values once, e.g. {key}=A,B")
        values = sweep_values(override, "--grid")
        repeated = next((value for index, value in enumerate(values) if value in values[:index]), None)
        if repeated is not None:
            raise UsageError(f"--grid {shown(item)} gives {shown(repeated)} twice: give each value once")
        grid[key] = values
    return tuple(grid.items())


def split_overrides(tokens: list[str]) -> tuple[list[str], list[str]]:
    """Hydra overrides given as plain arguments, as Isaac Lab's ``train.py`` takes them -> ``(grid items, fixed)``.

    A sweep (``agent.algorithm.learning_rate=1e-3,3e-4``, ``x=range(1,4)``) becomes a grid item, as Hydra's
    multirun would make it one axis of its product; a single value (``agent.x=[256,128]``, ``~agent.y``) is a
    fixed override of every run, kept as written. Raises :class:`UsageError` (Hydra's message) for a word that is
    not an override or that Hydra refuses.
    """
    grid_items: list[str] = []
    fixed: list[str] = []
    for token in tokens:
        if not is_override_token(token):
            raise UsageError(
                f"{shown(token)} is not a Hydra override: write KEY=VALUE (e.g. agent.algorithm.gamma=0.99), or "
                "pass other arguments with --additional_args"
            )
        override = parse_override(token, "override")
        (grid_items if override.is_sweep_override() else fixed).append(token)
    return grid_items, fixed


def take_overrides(
    argv: list[str], one_value_options: Collection[str], list_options: Collection[str] = ("--grid",)
) -> tuple[list[str], list[str]]:
    """Take the Hydra overrides given as plain command-line words out of ``argv``: ``(the rest, the overrides)``.

    A word shaped like an override (:func:`is_override_token`) is one, unless it is the value of the option just before
    it (one of ``one_value_options``, written without ``=``: ``--sbatch mail-type=END``) or an item of a list option
    (``list_options``: ``--grid a=1,2 b=3,4``, whose items are grid axes already). Words of other list options
    (``--seeds 1 2``) end at an override, as argparse would end them at an option.
    """
    rest: list[str] = []
    overrides: list[str] = []
    value_due = in_list = False
    for word in argv:
        if word.startswith("-"):
            name, inline, _ = word.partition("=")
            value_due = name in one_value_options and not inline
            in_list = name in list_options and not inline
            rest.append(word)
        elif value_due or in_list or not is_override_token(word):
            value_due = False
            rest.append(word)
        else:
            overrides.append(word)
    return rest, overrides


@functools.lru_cache(maxsize=65536)
def _single_value_problem(key: str, value: str) -> str | None:
    """Why ``key=value`` is not one Hydra override setting ``key`` to one value (None when it is)."""
    try:
        override = parse_override(f"{key}={value}", "--grid")
    except UsageError as error:
        return str(error)
    if override.get_key_element() != key or override.is_delete():
        return f"--grid key {shown(key)} is not a Hydra key: use e.g. agent.algorithm.learning_rate=A,B"
    if override.is_sweep_override():
        return (
            f"--grid {key}={shown(value)} holds a sweep, not one value: a grid axis lists single values (quote a "
            "string with commas: 'a,b')"
        )
    return None


def check_hydra_value(key: str, value: str) -> str:
    """``key=value`` if Hydra reads it as one override of ``key`` with one value; else a :class:`UsageError`."""
    problem = _single_value_problem(key, value)
    if problem is not None:
        raise UsageError(problem)
    return f"{key}={value}"
