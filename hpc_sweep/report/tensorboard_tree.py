"""``tensorboard/``: every run's TensorBoard files under the names users think of, ``<group>/seed<k>``.

``tensorboard --logdir <sweep>/tensorboard`` then shows one curve per seed per group, named ``<group>/seed<k>``,
however the training named its run dirs (Isaac Lab's ``<timestamp>_<run_name>``, BALLU's
``<common_folder>/seed_<seed>``) and wherever they are (the sweep dir, ``$ISAACLAB_PATH/logs``)::

    tensorboard -> .tensorboard-<random>          a relative link, replaced atomically by each collect
    .tensorboard-<random>/
        .hpc_sweep_tensorboard_view               marks the tree as ours (the collector never reads it as runs)
        <group>/seed<k> -> <run dir>              a run with one dir: a link to it (new points show live)
        <group>/seed<k>/events.out.tfevents.* -> <attempt dir>/events.out.tfevents.*
                                                  a run with several attempts' dirs: one link per event file

How TensorBoard reads this: every directory holding event files is one run, named by its path relative to the
logdir, and links to directories and files are followed (by its Python loader and by its Rust data server alike).
A link per attempt dir (``seed1/attempt1``, ``seed1/attempt2``) would be two runs, two curves for one seed; one
directory holding the links to every attempt's event files is one run. TensorBoard reads a run's files in name order,
and event file names begin with their writer's start time, so in attempt order. A resumed attempt redoes the
iterations after its checkpoint; TensorBoard's data server (its default loader, ``tensorboard-data-server``) drops
the earlier points of a step that comes again ("preemption"), so the curve is the stitched one ``collect`` reads,
while the Python loader (``--load_fast=false``) keeps both and draws the redone stretch twice. Such a run shows the
event files its attempts had at collect time; the next collect adds newer ones.

Names: a run without a seed is ``run_<run_id>``; a second run of one group with the same seed gets ``seed<k>_2``;
names are made single path components. Links are relative where the target lies inside the directory that holds
``tensorboard/`` (a sweep dir can be moved or copied, see the README's Safety section), absolute otherwise.

Rebuilt by a collect whose runs' links differ from the tree's (its marker names them by a hash), atomically: the new
tree is written into a fresh hidden directory, then the ``tensorboard`` link is replaced by a rename, then the tree
it pointed to is removed. Only what is ours is removed
(links, our marker, the directories that held them): a ``tensorboard`` that is not our link (a directory the user
made) is left alone, with a warning, and nothing is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hpc_sweep.collect.discover import TENSORBOARD_VIEW_MARKER, RunSource
from hpc_sweep.collect.tfevents import iter_event_files

VIEW_NAME = "tensorboard"
_TREE_PREFIX = ".tensorboard-"
_STALE_S = 3600.0  # a tree of ours left behind by an interrupted collect is removed once it is this old
_STAMP = "plan: "  # the marker's line naming the links a tree holds, so that an unchanged tree is not rebuilt


@dataclass
class TensorboardTree:
    """What :func:`write_tensorboard_tree` did: the logdir to give TensorBoard (None when nothing was written)."""

    logdir: Path | None
    runs: int = 0
    warnings: list[str] = field(default_factory=list)


def write_tensorboard_tree(runs: Iterable[RunSource], base: Path) -> TensorboardTree:
    """(Re)build ``<base>/tensorboard`` for ``runs`` (see the module docstring); runs without a run dir are left out."""
    base = Path(base)
    link = base / VIEW_NAME
    previous, problem = _our_tree(link)
    if problem:
        return TensorboardTree(None, warnings=[problem])
    links = _plan(runs, Path(os.path.realpath(base)))
    stamp = hashlib.blake2b(repr(links).encode(), digest_size=16).hexdigest()
    count = len({"/".join(inside.split("/")[:2]) for inside, _ in links})
    if previous is not None and _stamp_of(previous) == stamp:  # the same links as last time: nothing to redo
        return TensorboardTree(link, runs=count)
    try:
        fresh = Path(tempfile.mkdtemp(prefix=_TREE_PREFIX, dir=base))
    except OSError as error:
        return TensorboardTree(None, warnings=[f"TensorBoard views not written in {base}: {error}"])
    swap = base / f".{VIEW_NAME}.link{fresh.name}"
    try:
        _fill(fresh, links, stamp)
        os.symlink(fresh.name, swap)
        os.replace(swap, link)
    except BaseException as error:
        _remove_ours(fresh)
        with contextlib.suppress(OSError):
            os.unlink(swap)
        if isinstance(error, OSError):  # a filesystem without links, a full disk: the results are written anyway
            return TensorboardTree(None, warnings=[f"TensorBoard views not written in {base}: {error}"])
        raise
    if previous is not None and previous != fresh:
        _remove_ours(previous)
    _remove_stale(base, keep=fresh)
    return TensorboardTree(link, runs=count)


def _our_tree(link: Path) -> tuple[Path | None, str | None]:
    """The tree ``link`` points to now (None when there is none yet), or why ``link`` is not ours to replace."""
    if not link.is_symlink():
        if link.exists():
            return None, f"{link} exists and was not written by hpc-sweep: left as it is, no TensorBoard views written"
        return None, None
    target = link.parent / os.readlink(link)
    if target.parent == link.parent and target.name.startswith(_TREE_PREFIX):
        return (target if (target / TENSORBOARD_VIEW_MARKER).is_file() else None), None
    return None, f"{link} links to {os.readlink(link)}, not to views of ours: left as it is, no views written"


def _plan(runs: Iterable[RunSource], real_base: Path) -> list[tuple[str, str]]:
    """Every link of the tree: (path inside the tree, what it points to): one run dir, or each of its attempts'
    event files, per run with run dirs."""
    taken: set[tuple[str, str]] = set()
    links: list[tuple[str, str]] = []
    for run in runs:
        dirs = _distinct_dirs(run.log_dirs)  # (dir, its real path) pairs
        if not dirs:
            continue
        group = _component(run.group or "runs")
        label = _component(f"seed{run.seed}" if run.seed is not None else f"run_{run.run_id}")
        name, n = label, 1
        while (group, name) in taken:
            n += 1
            name = f"{label}_{n}"
        taken.add((group, name))
        entry = f"{group}/{name}"
        if len(dirs) == 1:
            links.append((entry, _target(dirs[0][1], entry, real_base)))
            continue
        names: set[str] = set()
        for attempt, (run_dir, real_dir) in enumerate(dirs, start=1):
            for event_file in iter_event_files(run_dir):
                # Two attempts' files of one name: keep both, in attempt order.
                file = event_file.name if event_file.name not in names else f"{event_file.name}.attempt{attempt}"
                names.add(file)
                real = os.path.realpath(event_file) if event_file.is_symlink() else f"{real_dir}/{event_file.name}"
                links.append((f"{entry}/{file}", _target(real, f"{entry}/{file}", real_base)))
    return links


def _fill(tree: Path, links: list[tuple[str, str]], stamp: str) -> None:
    """Write the marker (with the stamp of the links) and every link."""
    (tree / TENSORBOARD_VIEW_MARKER).write_text(
        "TensorBoard views of this sweep's runs, rebuilt by `hpc-sweep collect`; anything else here is left alone.\n"
        f"{_STAMP}{stamp}\n",
        encoding="utf-8",
    )
    made: set[Path] = set()
    for inside, target in links:
        link = tree / inside
        if link.parent not in made:
            link.parent.mkdir(parents=True, exist_ok=True)
            made.add(link.parent)
        os.symlink(target, link)


def _stamp_of(tree: Path) -> str | None:
    """The stamp of the links a tree of ours was written with."""
    try:
        text = (tree / TENSORBOARD_VIEW_MARKER).read_text(encoding="utf-8")
    except OSError:
        return None
    return next((line[len(_STAMP) :] for line in text.splitlines() if line.startswith(_STAMP)), None)


def _target(real: str, inside: str, real_base: Path) -> str:
    """What the link at ``inside`` (a path in a tree directly inside ``real_base``) points to, given the target's
    real path: relative when the target lies inside ``real_base``, else absolute."""
    if Path(real).is_relative_to(real_base):
        return os.path.relpath(real, real_base / "tree" / Path(inside).parent)
    return real


def _distinct_dirs(log_dirs: Iterable[Path]) -> list[tuple[Path, str]]:
    """The run's existing dirs in attempt order, each once (BALLU's attempts share one), with their real paths."""
    seen: dict[str, Path] = {}
    for log_dir in log_dirs:
        if Path(log_dir).is_dir():
            seen.setdefault(os.path.realpath(log_dir), Path(log_dir))
    return [(path, real) for real, path in seen.items()]


def _component(name: str) -> str:
    """``name`` as one path component: separators and NUL replaced, never empty, ``.`` or ``..``."""
    cleaned = name.replace(os.sep, "_").replace("\0", "_").strip()
    return "_" if cleaned in ("", ".", "..") else cleaned


def _remove_ours(tree: Path) -> None:
    """Remove a tree of ours: links, our marker and the directories they leave empty. Anything else stays."""
    with contextlib.suppress(OSError), os.scandir(tree) as entries:
        for entry in entries:  # DirEntry knows a link without another stat: a thousand runs' links go fast
            if entry.is_symlink() or (entry.name == TENSORBOARD_VIEW_MARKER and entry.is_file()):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
            elif entry.is_dir(follow_symlinks=False):
                _remove_ours(Path(entry.path))
    with contextlib.suppress(OSError):
        os.rmdir(tree)


def _remove_stale(base: Path, keep: Path) -> None:
    """Trees of ours that an interrupted collect left behind (not linked, and old: never a running collect's)."""
    linked = os.path.realpath(base / VIEW_NAME)
    for candidate in base.glob(f"{_TREE_PREFIX}*"):
        if candidate == keep or os.path.realpath(candidate) == linked or candidate.is_symlink():
            continue
        if not (candidate / TENSORBOARD_VIEW_MARKER).is_file():
            continue
        with contextlib.suppress(OSError):
            if time.time() - candidate.stat().st_mtime > _STALE_S:
                _remove_ours(candidate)
