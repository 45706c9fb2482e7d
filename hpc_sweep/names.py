"""Text that becomes script lines, argv elements, names and paths: one-line checks, path components, unique labels.

Every value a user types (a flag, a profile field, a grid value) passes one of these checks before it reaches a
shell script, a command line or a directory name, so that a stray newline cannot become a command of its own and
two runs can never share a name. Standard library only: every layer uses it.

*Control characters* here are the characters ``str.isprintable`` refuses: C0/C1 controls (newline, carriage return,
NUL, escape, ...), DEL, the Unicode line and paragraph separators and invisible format characters (right-to-left
overrides, zero-width joiners), surrogates and unassigned code points. Ordinary spaces and every printable letter
of any script are allowed. A tab is allowed only where the caller says it is harmless (argv elements, shell lines).

*Two names for a grid point.* Run names, log directories and BALLU's common folders need plain names, so a grid
point's part of them is :func:`point_labels` (``learning_rate-0.001``, unsafe characters replaced, hashes where
values would meet). People read groups, so a group is :func:`point_label` (``learning_rate=0.001``; for several keys
``num_envs=2048,learning_rate=0.001``): the last segment of each key, as many more segments as tell two keys apart
(``agent.lr`` and ``env.lr`` stay whole), and each value exactly as the run's override spells it. There is no table
of abbreviations (``lr`` for ``learning_rate``): the segment is the name users know from their config and their
override, a table would have to follow every RSL-RL version, and an abbreviation could make two keys look alike.
``collect`` (through the manifest's ``group``) and ``compare --by`` both use :func:`point_label`.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Mapping, Sequence

from hpc_sweep.errors import UsageError

#: Characters kept in a label (a grid value inside a run name); every other run is replaced by ``_``.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: A plain name: what ``--common_folder`` and run names may be made of.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9._-]+")
#: Longest label of one grid value, and of a whole grid point, before it is cut and given a hash.
VALUE_LABEL_MAX = 40
POINT_LABEL_MAX = 120
#: Longest run name: Isaac Lab prefixes a 20-character timestamp, and a file name holds at most 255 bytes.
RUN_NAME_MAX = 200
#: Longest value shown in a group label before it is cut (and given a hash of the value, so cut values stay apart).
GROUP_VALUE_MAX = 48
#: Where a key of a group label starts a new segment.
_SEGMENT = re.compile(r"[./]")


def shown(text: object, limit: int = 60) -> str:
    """A value as an error message shows it: ``repr`` (control characters escaped, so one line), cut when long."""
    if not isinstance(text, str):
        return repr(text)[:limit]
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


def first_control(text: str, allow_tab: bool = False) -> str | None:
    """The first control character of ``text`` (see the module docstring), or None."""
    for char in text:
        if not char.isprintable() and not (allow_tab and char == "\t"):
            return char
    return None


def check_one_line(what: str, text: object, allow_tab: bool = False) -> str:
    """Return ``text`` if it is a string without control characters; else a :class:`UsageError` naming ``what``."""
    if not isinstance(text, str):
        raise UsageError(f"{what} must be a string, got {shown(text)}")
    char = first_control(text, allow_tab)
    if char is not None:
        raise UsageError(
            f"{what} {shown(text)} holds the control character {char!r}; give it on one line, without control "
            "characters"
        )
    return text


def check_path_component(what: str, text: str) -> str:
    """Return ``text`` if it is a plain name usable as one directory name; else a :class:`UsageError`.

    A plain name is made of letters, digits, ``.``, ``_`` and ``-``, does not start with ``-`` (it would read as a
    flag) and is not made of dots only (``.`` and ``..`` leave the directory it names).
    """
    check_one_line(what, text)
    if not _PLAIN_NAME.fullmatch(text) or text.startswith("-") or set(text) == {"."}:
        raise UsageError(
            f"{what} {shown(text)} must be a plain name of letters, digits, '.', '_' or '-' that does not start with "
            "'-' and is not '.' or '..' (it becomes a directory name)"
        )
    return text


def short_hash(text: str) -> str:
    """Six hex digits of the SHA-1 of ``text``: stable across machines and Python versions."""
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:6]


def _cut(label: str, raw: str, limit: int) -> str:
    """``label`` if it fits ``limit``; else its head and the hash of ``raw`` (so long values stay distinct)."""
    return label if len(label) <= limit else f"{label[: limit - 7]}-{short_hash(raw)}"


def value_labels(values: Sequence[str]) -> dict[str, str]:
    """Each of one grid key's values -> its label inside run names.

    The label is the value with every character outside ``[A-Za-z0-9._-]`` replaced by ``_``. Values whose labels
    would be equal (``a b`` and ``a_b``; ``$(id)`` and ```id```; also ``A`` and ``a``, which are one directory on
    macOS and Windows file systems) each get ``-`` and six hex digits of the SHA-1 of the raw value appended, so that
    they stay apart and stay readable; a label over :data:`VALUE_LABEL_MAX` characters is cut the same way.
    """
    plain = {value: _cut(_UNSAFE.sub("_", value), value, VALUE_LABEL_MAX) for value in values}
    counts = Counter(label.casefold() for label in plain.values())
    return {
        value: f"{label}-{short_hash(value)}" if counts[label.casefold()] > 1 else label
        for value, label in plain.items()
    }


def point_labels(grid: Sequence[tuple[str, Sequence[str]]], points: Sequence[dict[str, str]]) -> list[str]:
    """One label per grid point, distinct (also ignoring case) for distinct points: ``num_envs-2048_lr-0.001``.

    Each part is ``<last segment of the key>-<value label>`` (see :func:`value_labels`). Parts are joined by ``_``,
    and a join can still make two points look alike (two keys that end alike, or values that contain ``_``); then
    every label gets ``-p<point index>``, which makes them distinct because the last ``-p`` of each label is the
    appended one. Empty for a sweep without grid (its one point).
    """
    by_key = {key: value_labels(values) for key, values in grid}
    labels = []
    for point in points:
        label = "_".join(f"{key.rsplit('.', 1)[-1]}-{by_key[key][value]}" for key, value in point.items())
        label = _UNSAFE.sub("_", label)  # a key's own characters (Hydra keys may hold '/' or '+')
        labels.append(_cut(label, repr(sorted(point.items())), POINT_LABEL_MAX))
    if len({label.casefold() for label in labels}) < len(labels):
        labels = [f"{label}-p{index}" for index, label in enumerate(labels)]
    return labels


def bare_key(key: str) -> str:
    """A Hydra override key without its ``~ + ++`` prefix: ``++agent.x`` -> ``agent.x``."""
    return key.lstrip("~+")


def key_labels(keys: Sequence[str]) -> dict[str, str]:
    """Each key -> how group labels show it: its last segment (``agent.algorithm.learning_rate`` ->
    ``learning_rate``), or as many trailing segments (split at ``.`` and ``/``) as tell it apart from the other keys:
    ``agent.lr`` and ``env.lr`` are shown whole, ``x`` and ``y.x`` as ``x`` and ``y.x``."""
    starts = {key: [0] + [m.end() for m in _SEGMENT.finditer(bare_key(key))] for key in keys}
    depth = dict.fromkeys(keys, 1)
    while True:
        shown_keys = {key: bare_key(key)[starts[key][-depth[key]] :] for key in keys}
        counts = Counter(shown_keys.values())
        clashing = [key for key in keys if counts[shown_keys[key]] > 1 and depth[key] < len(starts[key])]
        if not clashing:
            return shown_keys
        for key in clashing:
            depth[key] += 1


def readable_value(value: str) -> str:
    """A grid value as a group label shows it: as given, unless it holds characters that do not print (each shown
    as ``?``) or is over :data:`GROUP_VALUE_MAX` characters (cut); then ``...#`` and the value's hash follow."""
    text = "".join(char if char.isprintable() else "?" for char in value)
    if text == value and len(text) <= GROUP_VALUE_MAX:
        return text
    return f"{text[: GROUP_VALUE_MAX - 10]}...#{short_hash(value)}"


def point_label(point: Mapping[str, str], keys: Mapping[str, str] | None = None) -> str:
    """The readable label of a grid point, for people: ``learning_rate=0.001`` or ``num_envs=2048,learning_rate=0.001``.

    ``keys``: how each key is shown (default :func:`key_labels` of the point's keys); empty for the point of a sweep
    without grid. Used for the groups of ``collect`` (a sweep's groups, one per grid point) and ``compare --by KEY``
    (``point_label({KEY: value})``). Not a path component: run names use :func:`point_labels`.
    """
    shown_keys = keys if keys is not None else key_labels(list(point))
    return ",".join(f"{shown_keys[key]}={readable_value(value)}" for key, value in point.items())


def group_labels(points: Sequence[Mapping[str, str]]) -> list[str]:
    """One readable label per grid point (:func:`point_label`, keys shown alike for every point), distinct for
    distinct points: should two labels still meet (values cut alike, values that hold ``,`` and ``=``), every label
    gets ``#p<point index>``, which sets them apart because the last ``#p`` of each is the appended one."""
    keys = key_labels(list(dict.fromkeys(key for point in points for key in point)))
    labels = [point_label(point, keys) for point in points]
    if len(set(labels)) < len(labels):
        labels = [f"{label}#p{index}" for index, label in enumerate(labels)]
    return labels
