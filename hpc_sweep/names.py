"""Text that becomes script lines, argv elements, names and paths: one-line checks, path components, unique labels.

Every value a user types (a flag, a profile field, a grid value) passes one of these checks before it reaches a
shell script, a command line or a directory name, so that a stray newline cannot become a command of its own and
two runs can never share a name. Standard library only: every layer uses it.

*Control characters* here are the characters ``str.isprintable`` refuses: C0/C1 controls (newline, carriage return,
NUL, escape, ...), DEL, the Unicode line and paragraph separators and invisible format characters (right-to-left
overrides, zero-width joiners), surrogates and unassigned code points. Ordinary spaces and every printable letter
of any script are allowed. A tab is allowed only where the caller says it is harmless (argv elements, shell lines).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence

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
