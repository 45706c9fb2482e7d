"""Optuna's samplers over a :class:`~hpc_sweep.tune.space.SearchSpace`, and the study journal they read and write.

The tune controller uses Optuna's ask-and-tell interface: it asks for a configuration whenever a slot frees up,
submits its runs, and tells the result when the runs end, so many trials are asked before any result comes back.
Hence TPE with ``constant_liar=True`` (running trials count as if they had a bad value, so parallel asks spread out)
and the trial state lives in Optuna's own journal, one append-only file per sweep, next to the manifest.

Why a file journal, and why its ``open()`` lock. Sweeps live on the cluster's shared filesystem, usually NFS.
SQLite there corrupts its database under concurrent access (optuna/optuna#815: "database disk image is malformed"
from jobs on a cluster's shared filesystem; SQLite's FAQ says the same of NFS locking), and ``flock`` is not reliable
on NFS either. Optuna's :class:`~optuna.storages.journal.JournalFileOpenLock` takes its lock by creating a lock file
with ``open(..., O_CREAT | O_EXCL)``, which is atomic on NFSv3 and later, and breaks a lock left by a dead process
after a grace period. The journal records every ask and tell, so a controller that restarts after a crash reopens
the study and finds every trial, including those it asked and never told (:func:`running_trials`).

optuna is imported on first use, as the command line imports this module on every start.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpc_sweep.errors import UsageError
from hpc_sweep.tune.space import SearchSpace

if TYPE_CHECKING:
    import optuna

#: The names ``--sampler`` takes.
SAMPLERS = ("random", "tpe", "qmc", "grid")


def make_sampler(name: str, seed: int | None, space: SearchSpace) -> optuna.samplers.BaseSampler:
    """The sampler ``--sampler NAME`` names, seeded (the same seed and the same results give the same asks).

    ``random``: independent uniform draws (log-uniform on a log dimension). ``tpe``: multivariate TPE with the
    constant liar, as trials run in parallel. ``qmc``: a scrambled Sobol sequence, which covers the space more evenly
    than random draws for the same number of trials (give a seed: without one, a restarted controller continues a
    different sequence). ``grid``: every combination once, in a seeded random order; only for spaces of ``choice()``
    and ``int()`` dimensions (``SearchSpace.size()`` says how many trials that is).
    """
    import optuna

    if name not in SAMPLERS:
        raise UsageError(f"--sampler {name!r} is not known; use one of: {', '.join(SAMPLERS)}")
    with _quiet():
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if name == "tpe":
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
        if name == "qmc":
            return optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=seed)
        continuous = next((dimension for dimension in space.dimensions if dimension.kind == "float"), None)
        if continuous is not None:
            raise UsageError(
                f"--sampler grid enumerates choice() and int() dimensions; {continuous.key} is continuous: make it a "
                f"choice of values ({continuous.key}=choice(...)) or use --sampler random, tpe or qmc"
            )
        return _grid_sampler_class()(seed=seed)


@functools.lru_cache(maxsize=1)
def _grid_sampler_class() -> type[optuna.samplers.BaseSampler]:
    """Optuna's ``BruteForceSampler`` without its stop: when every combination has been asked, it calls
    ``study.stop()``, which raises outside ``study.optimize``, so each later ``tell`` would raise. With ask and tell,
    stopping is the controller's business (``SearchSpace.size()`` trials)."""
    import optuna

    class GridSampler(optuna.samplers.BruteForceSampler):
        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            """Nothing: see :func:`_grid_sampler_class`."""

    return GridSampler


def open_study(journal: Path, study_name: str, direction: str, sampler: Any) -> optuna.Study:
    """The study ``study_name`` in the journal file ``journal``, created if new, loaded with its trials if not.

    ``direction`` is ``"maximize"`` or ``"minimize"``. The file and its lock file (``<journal>.lock``) live side by
    side; see the module docstring for why this storage and this lock.
    """
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = str(journal)
    with _quiet():
        storage = optuna.storages.JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))
        return optuna.create_study(
            storage=storage, study_name=study_name, direction=direction, sampler=sampler, load_if_exists=True
        )


def ask(study: optuna.Study, space: SearchSpace) -> tuple[int, dict[str, Any]]:
    """A new trial: ``(its number, its parameters by key)``; the trial stays running until :func:`tell`."""
    with _quiet():
        trial = study.ask(space.distributions())
    return trial.number, dict(trial.params)


def running_trials(study: optuna.Study) -> dict[int, dict[str, Any]]:
    """Trials asked and not told, ``number -> params``: a controller that crashed after asking adopts these rather
    than asking again (which would leave them running forever and, for TPE, count them as lies forever)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return {trial.number: dict(trial.params) for trial in trials}


def tell(study: optuna.Study, number: int, value: float | None) -> None:
    """Finish trial ``number``: COMPLETE with ``value``, or FAIL when ``value`` is None or NaN (no result).

    Idempotent: a trial already finished is left as it is, so a controller that crashed between telling and
    recording that it told can tell again.
    """
    from optuna.trial import TrialState

    failed = value is None or math.isnan(value)
    with _quiet():
        if failed:
            study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
        else:
            study.tell(number, float(value), skip_if_finished=True)  # type: ignore[arg-type]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Optuna's ``ExperimentalWarning`` silenced (QMC and brute-force samplers are experimental): people running
    tune can do nothing about it, and it would fill the controller's log."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield
