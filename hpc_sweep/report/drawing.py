"""``training_analysis.png`` drawn in a second process, started when a collect starts.

Why a process of its own, started first: once the runs' outputs are cached, drawing the figure of a thousand runs is
most of a collect (importing matplotlib, loading each run's curve digests, drawing); the tables and
``training_results.json`` need none of it. Started before discovery, the process imports matplotlib while this one
finds the runs and checks them against the cache; it loads the digests of the runs whose outputs are cached while
the changed runs are read (:meth:`FigureProcess.preload`); it draws once every run's summary is known, while this
process writes the other files. When nothing needs drawing (a collect that changed nothing), it is stopped at once.

It is a plain :class:`multiprocessing.Process` on a pipe, not a pool: a pool's worker cannot be stopped in the middle
of a task, and the unneeded import would then delay the end of every unchanged collect.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from hpc_sweep.analyse.digest import CurveDigest
from hpc_sweep.analyse.run_summary import RunSummary
from hpc_sweep.errors import HpcSweepError
from hpc_sweep.report.run_products import ProductCache, load_curves, stat_key

_PRELOAD, _DRAW = "preload", "draw"


class FigureProcess:
    """The drawing process: :meth:`preload` the cached runs' digests, :meth:`draw` the figure, :meth:`close`."""

    def __init__(self) -> None:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)  # fork: nothing re-imported
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, self._conn), daemon=True, name="hpc-sweep-figure")
        self._process.start()
        child.close()

    def preload(self, cache: ProductCache, ready: list[tuple[str, RunSummary]]) -> None:
        """Load these runs' digests now (runs whose outputs ``cache`` already holds), ahead of :meth:`draw`."""
        with contextlib.suppress(OSError):  # a process that died says so when the figure is asked for
            self._conn.send((_PRELOAD, cache, [(key, summary.metrics) for key, summary in ready]))

    def draw(self, cache: ProductCache, produced: list[tuple[str, RunSummary]], path: Path, root: Path) -> None:
        """Start drawing the figure of ``produced`` (digests in ``cache``) into ``path`` (``root``: what was
        collected, for the title)."""
        with contextlib.suppress(OSError):  # likewise
            self._conn.send((_DRAW, cache, produced, path, root))

    def result(self) -> Path:
        """The figure's path once it is written; the drawing's error is raised here."""
        try:
            outcome = self._conn.recv()
        except (EOFError, OSError):
            raise HpcSweepError(
                "the process drawing training_analysis.png ended without drawing it (killed, or out of memory?); "
                "the other results are written: run collect again for the figure"
            ) from None
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def close(self) -> None:
        """Stop the process at once (a drawing that was asked for has been waited for by :meth:`result`). Killed,
        not asked to end: it holds nothing to save, and a signal handler it inherited (a submitit job's, which
        ignores SIGTERM) must not keep it, and so the collect, alive."""
        with contextlib.suppress(OSError):
            self._conn.close()
        if self._process.is_alive():
            self._process.kill()
        self._process.join()

    def __enter__(self) -> FigureProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# In the drawing process: a run's digests by its key, with the stat of the file they were loaded from.
_LOADED: dict[str, tuple[list[Any], dict[str, CurveDigest]]] = {}


def _serve(conn: Connection, parents_end: Connection) -> None:
    """The drawing process: import matplotlib, then preload and draw as asked, until the pipe closes.

    Forked, it starts with the collect's signal handlers and its end of the pipe: the handlers go back to the
    defaults (a submitit job's would act as if the job were signalled), Ctrl-C is left to the collect, and the
    collect's end is closed here, so that the pipe ends when the collect closes it.
    """
    parents_end.close()
    for number in (signal.SIGTERM, getattr(signal, "SIGUSR2", None)):
        if number is not None:
            signal.signal(number, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import hpc_sweep.report.figures  # noqa: F401  (the import is the slow part: done before it is needed)

        while True:
            message = conn.recv()
            if message[0] == _PRELOAD:
                cache, ready = message[1:]
                for key, metrics in ready:
                    with contextlib.suppress(OSError, ValueError):  # a damaged file fails again, loudly, at draw
                        _curves(cache, key, metrics)
            elif message[0] == _DRAW:
                try:
                    conn.send(_draw(*message[1:]))
                except Exception as error:  # sent to the collect, which raises it
                    conn.send(error)
    except (EOFError, KeyboardInterrupt, BrokenPipeError):
        pass  # the collect ended or was interrupted: it reports that itself


def _curves(cache: ProductCache, key: str, metrics: list[str]) -> dict[str, CurveDigest]:
    """A run's digests, loaded once per version of its digest file."""
    stat = stat_key(cache.digests(key))
    known = _LOADED.get(key)
    if known is None or known[0] != stat:
        known = (stat, load_curves(cache, key, metrics))
        _LOADED[key] = known
    return known[1]


def _draw(cache: ProductCache, produced: list[tuple[str, RunSummary]], path: Path, root: Path) -> Path:
    from hpc_sweep.report.figures import plot_training_analysis, training_analysis_title

    for key, summary in produced:
        summary.curves = summary.curves or _curves(cache, key, summary.metrics)
    title = training_analysis_title(len(produced), root)
    return plot_training_analysis([summary for _, summary in produced], path, title)
