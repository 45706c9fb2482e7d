"""The samplers of ``hpc-sweep tune`` and their journal: a seed fixes the sequence of configurations, samples lie in
their bounds (on a log scale where asked), the grid sampler asks each combination once, and a study reopened from
its journal file finds every trial, told or not, so a restarted controller neither loses nor repeats work."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import pytest

from hpc_sweep.errors import UsageError
from hpc_sweep.tune.sampler import SAMPLERS, ask, make_sampler, open_study, running_trials, tell
from hpc_sweep.tune.space import SearchSpace, parse_space

SPACE = parse_space(
    [
        "agent.algorithm.learning_rate=loguniform(1e-5,1e-2)",
        "agent.algorithm.entropy_coef=uniform(0,0.02)",
        "agent.algorithm.num_learning_epochs=int(2,8)",
        "+agent.policy.activation=choice(elu,tanh,[256,128])",
    ]
)


def study_in(path: Path, sampler_name: str, seed: int | None, space: SearchSpace = SPACE) -> Any:
    return open_study(path, "tune", "maximize", make_sampler(sampler_name, seed, space))


def asked(path: Path, sampler_name: str, seed: int, trials: int = 8) -> list[dict[str, Any]]:
    """Ask ``trials`` configurations in a fresh journal, telling every other one a value (as results arrive)."""
    study = study_in(path, sampler_name, seed)
    params = []
    for index in range(trials):
        number, sampled = ask(study, SPACE)
        params.append(sampled)
        if index % 2:
            tell(
                study,
                number,
                sampled["agent.algorithm.entropy_coef"] * 50 - sampled["agent.algorithm.num_learning_epochs"],
            )
    return params


@pytest.mark.parametrize(("sampler_name", "trials"), [("random", 8), ("tpe", 14), ("qmc", 8)])
def test_the_same_seed_asks_the_same_configurations(tmp_path: Path, sampler_name: str, trials: int) -> None:
    """TPE asks 14, past its 10 random start-up trials, so its model's choices are compared too."""
    first = asked(tmp_path / "a.journal", sampler_name, seed=7, trials=trials)
    again = asked(tmp_path / "b.journal", sampler_name, seed=7, trials=trials)
    other = asked(tmp_path / "c.journal", sampler_name, seed=8, trials=trials)
    assert first == again
    assert first != other


@pytest.mark.parametrize("sampler_name", ["random", "tpe", "qmc"])
def test_samples_lie_within_their_bounds(tmp_path: Path, sampler_name: str) -> None:
    for params in asked(tmp_path / "s.journal", sampler_name, seed=3, trials=12):
        assert 1e-5 <= params["agent.algorithm.learning_rate"] <= 1e-2
        assert 0 <= params["agent.algorithm.entropy_coef"] <= 0.02
        assert params["agent.algorithm.num_learning_epochs"] in range(2, 9)
        assert params["+agent.policy.activation"] in ("elu", "tanh", "[256,128]")
        assert len(SPACE.overrides(params)) == 4


def test_a_log_dimension_is_sampled_on_a_log_scale(tmp_path: Path) -> None:
    """loguniform(1e-5,1e-1): half the draws lie below the geometric middle 1e-3 (uniform draws: 1%).
    With 200 draws the count is Binomial(200, 0.5): 60..140 is more than 5 standard deviations wide."""
    space = parse_space(["lr=loguniform(1e-5,1e-1)", "n=logint(1,10000)"])
    study = study_in(tmp_path / "log.journal", "random", 0, space)
    draws = [ask(study, space)[1] for _ in range(200)]
    assert all(1e-5 <= params["lr"] <= 1e-1 for params in draws)
    assert 60 <= sum(params["lr"] < 1e-3 for params in draws) <= 140
    assert 60 <= sum(params["n"] < 100 for params in draws) <= 140


def test_the_grid_sampler_asks_every_combination_exactly_once(tmp_path: Path) -> None:
    space = parse_space(["a=choice(elu,tanh,relu)", "b=int(2,5)", "+c=choice([1,2],'x y')"])
    study = study_in(tmp_path / "grid.journal", "grid", 0, space)
    numbers_and_params = [ask(study, space) for _ in range(space.size())]  # type: ignore[arg-type]
    combinations = [tuple(params[key] for key in ("a", "b", "+c")) for _, params in numbers_and_params]
    assert len(combinations) == 24 == len(set(combinations))
    for number, _ in numbers_and_params:  # telling the last one does not try to stop an optimize loop
        tell(study, number, 1.0)
    assert running_trials(study) == {}


def test_the_grid_sampler_refuses_a_continuous_dimension() -> None:
    space = parse_space(["a=choice(x,y)", "lr=loguniform(1e-5,1e-2)"])
    with pytest.raises(UsageError, match=r"--sampler grid enumerates choice\(\) and int\(\) dimensions; lr is conti"):
        make_sampler("grid", 0, space)


def test_an_unknown_sampler_is_refused_with_the_known_ones() -> None:
    with pytest.raises(UsageError) as raised:
        make_sampler("cmaes", 0, SPACE)
    assert all(name in str(raised.value) for name in SAMPLERS)


def test_experimental_samplers_warn_nobody(tmp_path: Path) -> None:
    space = parse_space(["a=choice(x,y)", "b=int(1,3)"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name in SAMPLERS:
            study = study_in(tmp_path / f"{name}.journal", name, 0, space)
            number, _ = ask(study, space)
            tell(study, number, 0.5)
    assert [str(warning.message) for warning in caught] == []


def test_a_reopened_journal_holds_every_trial_told_or_not(tmp_path: Path) -> None:
    journal = tmp_path / "study.journal"
    study = study_in(journal, "tpe", 1)
    first = [ask(study, SPACE) for _ in range(4)]
    tell(study, first[0][0], 0.5)
    tell(study, first[1][0], None)

    reopened = study_in(journal, "tpe", 1)
    assert [(trial.number, trial.params) for trial in reopened.trials] == first
    assert running_trials(reopened) == dict(first[2:])
    assert reopened.trials[0].value == 0.5
    assert reopened.trials[1].state.name == "FAIL"
    assert ask(reopened, SPACE)[0] == 4


def test_tell_is_idempotent_and_nan_is_a_failure(tmp_path: Path) -> None:
    study = study_in(tmp_path / "tell.journal", "random", 0)
    (done, _), (failed, _) = ask(study, SPACE), ask(study, SPACE)
    tell(study, done, 0.25)
    tell(study, done, 0.75)  # a controller that crashed before recording its tell tells again: nothing changes
    tell(study, done, None)
    tell(study, failed, math.nan)
    tell(study, failed, 1.0)
    trials = study_in(tmp_path / "tell.journal", "random", 0).trials
    assert (trials[0].state.name, trials[0].value) == ("COMPLETE", 0.25)
    assert (trials[1].state.name, trials[1].value) == ("FAIL", None)
    assert running_trials(study) == {}


def test_the_journal_leaves_no_lock_file_behind(tmp_path: Path) -> None:
    journal = tmp_path / "study.journal"
    study = study_in(journal, "random", 0)
    tell(study, ask(study, SPACE)[0], 1.0)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["study.journal"]
