"""A tune study's files: its settings (``tune/config.json``, written once) and the controller's state
(``tune/state.json``, rewritten atomically after every decision).

Everything the controller knows lives here and in the sweep's own files (``sweep.json``, each run's record), so a
controller that is killed, requeued or restarted by hand continues from them. The state is written *before* each
action it decides (a submission is recorded with ``job_ids: null``, then submitted, then its ids recorded), so a
restart finds every decision; what a crash may leave open is only whether a recorded submission reached the
scheduler, which the controller settles by the submission's unique job name (see
:mod:`hpc_sweep.tune.controller`).

``state.json`` (schema ``hpc_sweep.tune/1``)::

    {"schema", "phase": "search" | "confirm" | "done",
     "trials": [{"trial", "params": {key: value}, "runs": [run ids, seed order], "rung": the rung it was last sent to,
                 "scores": {"<rung>": score or null}, "seeds_scored": {"<rung>": n}, "told": bool}],
     "submissions": [{"id", "name", "budget", "runs", "purpose", "created", "job_ids": [...] or null}],
     "confirm": {"trials": [...], "runs": {"<trial>": [run ids]}} or null,
     "result": the confirmation's summary once done, or null}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hpc_sweep.atomic import write_json_atomic
from hpc_sweep.records import broken_file, read_json_file

STATE_SCHEMA = "hpc_sweep.tune/1"
TUNE_DIR = "tune"
_FIX = "restore it from a backup; the runs' own files are intact"


@dataclass(frozen=True)
class TuneConfig:
    """What the user asked of the search (everything else is the sweep's: ``sweep.json``'s spec and options)."""

    space: tuple[str, ...]  # the search space's items, as :func:`hpc_sweep.tune.space.parse_space` reads them
    trials: int
    rungs: tuple[int, ...]  # iteration budgets, increasing; the last is the full budget
    eta: int
    metric: str = "mean_reward"
    direction: str = "maximize"
    final_window: float | int = 0.1
    min_seeds: int = 1
    sampler: str = "tpe"
    sampler_seed: int = 0
    concurrent_trials: int = 0  # trials training at rung 0 at once; 0: all of them
    confirm: int = 3  # configurations re-run with fresh seeds at the end; 0: none
    confirm_seeds: tuple[int, ...] = ()
    poll_s: float = 30.0

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TuneConfig:
        data = dict(data)
        for key in ("space", "rungs", "confirm_seeds"):
            data[key] = tuple(data.get(key) or ())
        return cls(**data)


@dataclass
class Trial:
    """One sampled configuration and where it stands (see the module docstring)."""

    trial: int
    params: dict[str, Any]
    runs: list[str]
    rung: int = 0
    scores: dict[int, float | None] = field(default_factory=dict)
    seeds_scored: dict[int, int] = field(default_factory=dict)
    told: bool = False

    @property
    def in_flight(self) -> bool:
        """Sent to a rung that has not finished yet."""
        return self.rung not in self.scores

    def best_rung(self) -> int | None:
        """The highest rung with a score (None: none yet)."""
        scored = [rung for rung, score in self.scores.items() if score is not None]
        return max(scored) if scored else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["scores"] = {str(k): v for k, v in self.scores.items()}
        data["seeds_scored"] = {str(k): v for k, v in self.seeds_scored.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trial:
        return cls(
            trial=int(data["trial"]),
            params=dict(data["params"]),
            runs=list(data["runs"]),
            rung=int(data.get("rung", 0)),
            scores={int(k): v for k, v in (data.get("scores") or {}).items()},
            seeds_scored={int(k): int(v) for k, v in (data.get("seeds_scored") or {}).items()},
            told=bool(data.get("told")),
        )


@dataclass
class Submission:
    """Runs sent to the scheduler together, to train to ``budget`` iterations (resuming where they stopped)."""

    id: int
    name: str
    budget: int
    runs: list[str]
    purpose: str
    created: str
    job_ids: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Submission:
        return cls(**data)


@dataclass
class TuneState:
    """The controller's state: trials, submissions, the confirmation stage."""

    phase: str = "search"
    trials: list[Trial] = field(default_factory=list)
    submissions: list[Submission] = field(default_factory=list)
    confirm: dict[str, Any] | None = None
    result: dict[str, Any] | None = None

    def trial(self, number: int) -> Trial | None:
        return next((trial for trial in self.trials if trial.trial == number), None)

    def budget_of(self, run_id: str) -> int | None:
        """The budget a run was last submitted for (None: never submitted)."""
        budgets = [s.budget for s in self.submissions if run_id in s.runs]
        return budgets[-1] if budgets else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": STATE_SCHEMA,
            "phase": self.phase,
            "trials": [trial.to_dict() for trial in self.trials],
            "submissions": [submission.to_dict() for submission in self.submissions],
            "confirm": self.confirm,
            "result": self.result,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TuneState:
        return cls(
            phase=str(data.get("phase", "search")),
            trials=[Trial.from_dict(t) for t in data.get("trials", [])],
            submissions=[Submission.from_dict(s) for s in data.get("submissions", [])],
            confirm=data.get("confirm"),
            result=data.get("result"),
        )


def tune_dir(sweep_dir: Path) -> Path:
    return Path(sweep_dir) / TUNE_DIR


def is_tune_dir(sweep_dir: Path) -> bool:
    """Whether a sweep dir holds a tune study."""
    return (tune_dir(sweep_dir) / "config.json").is_file()


def write_config(sweep_dir: Path, config: TuneConfig) -> None:
    tune_dir(sweep_dir).mkdir(parents=True, exist_ok=True)
    write_json_atomic(tune_dir(sweep_dir) / "config.json", config.to_dict())


def read_config(sweep_dir: Path) -> TuneConfig:
    path = tune_dir(sweep_dir) / "config.json"
    data = read_json_file(path, _FIX)
    try:
        return TuneConfig.from_dict(data)
    except (TypeError, ValueError, AttributeError) as error:
        raise broken_file(path, f"it is not a tune config ({error})", _FIX) from None


def read_state(sweep_dir: Path) -> TuneState:
    path = tune_dir(sweep_dir) / "state.json"
    data = read_json_file(path, _FIX)
    if data is None:
        return TuneState()
    try:
        return TuneState.from_dict(data)
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise broken_file(path, f"it is not a tune state ({error!r})", _FIX) from None


def write_state(sweep_dir: Path, state: TuneState) -> None:
    write_json_atomic(tune_dir(sweep_dir) / "state.json", state.to_dict())


def journal_path(sweep_dir: Path) -> Path:
    """Optuna's journal of the study (its sampler's history), beside the state."""
    return tune_dir(sweep_dir) / "optuna.journal"
