"""The demo trainer's config plumbing: the flag -> config-key table (``FLAG_TARGETS`` / ``apply_flags``) and the
Hydra-style overrides it runs after (``apply_overrides``), in ``hpc_sweep/demo/overrides.py``.

Every sweep's flags reach the demo's ``params/agent.yaml`` / ``env.yaml`` through this table, and hpc_sweep reads
seeds and grid values back from those files, so a flag landing on the wrong key (or as the wrong type) would make
results silently disagree with the sweep that asked for them.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import pytest

os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
pytest.importorskip("torch")
pytest.importorskip("rsl_rl")

from hpc_sweep.demo import overrides
from hpc_sweep.demo import train as demo_train
from hpc_sweep.demo.point_mass import make_env_cfg

TASK = ["--task", "Demo-PointMass-v0"]


def configs(argv: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Default agent / env configs after ``argv`` went through the parser, the overrides and the flag table."""
    args, rest = demo_train.build_parser().parse_known_args([*TASK, *argv])
    agent, env = copy.deepcopy(demo_train.DEFAULT_AGENT_CFG), make_env_cfg()
    demo_train.apply_overrides(rest, agent, env)
    demo_train.apply_flags(args, agent, env)
    return agent, env


def changed(argv: list[str]) -> dict[tuple[str, str], Any]:
    """``{(config, key): new value}`` for every top-level key that ``argv`` changed from the defaults."""
    agent, env = configs(argv)
    base_agent, base_env = configs([])
    diff = {("agent", k): v for k, v in agent.items() if v != base_agent[k]}
    diff.update({("env", k): v for k, v in env.items() if v != base_env[k]})
    return diff


@pytest.mark.parametrize(
    ("argv", "target", "value"),
    [
        (["--seed", "7"], ("agent", "seed"), 7),
        (["--max_iterations", "3"], ("agent", "max_iterations"), 3),
        (["--device", "cuda:1"], ("agent", "device"), "cuda:1"),
        (["--experiment_name", "exp"], ("agent", "experiment_name"), "exp"),
        (["--run_name", "seed7"], ("agent", "run_name"), "seed7"),
        (["--resume"], ("agent", "resume"), True),
        (["--load_run", ".*_a"], ("agent", "load_run"), ".*_a"),
        (["--checkpoint", "model_5.pt"], ("agent", "load_checkpoint"), "model_5.pt"),
        (["--logger", "wandb"], ("agent", "logger"), "wandb"),
        (["--num_envs", "64"], ("env", "num_envs"), 64),
        (["--world"], ("env", "world"), True),
    ],
)
def test_each_flag_sets_exactly_its_key_with_its_type(argv: list[str], target: tuple[str, str], value: Any) -> None:
    diff = changed(argv)
    assert diff == {target: value}
    assert type(diff[target]) is type(value)  # 7, not "7"; True, not 1


def test_every_table_entry_is_a_parser_flag_and_an_existing_config_key() -> None:
    dests = {action.dest for action in demo_train.build_parser()._actions}
    defaults = {"agent": demo_train.DEFAULT_AGENT_CFG, "env": make_env_cfg()}
    assert demo_train.FLAG_TARGETS is overrides.FLAG_TARGETS
    assert len(overrides.FLAG_TARGETS) == 11
    for flag, (root, key) in overrides.FLAG_TARGETS.items():
        assert flag in dests, flag
        assert key in defaults[root], (flag, root, key)


def test_flags_not_given_change_nothing_and_do_not_undo_overrides() -> None:
    assert changed([]) == {}
    # An absent switch (--world, --resume) must not reset a value a Hydra override set.
    assert changed(["env.world=true", "agent.resume=true"]) == {("env", "world"): True, ("agent", "resume"): True}


def test_given_flags_win_over_overrides() -> None:
    agent, env = configs(["agent.seed=5", "env.num_envs=9", "agent.run_name=hydra", "--seed", "7", "--num_envs", "64"])
    assert (agent["seed"], env["num_envs"], agent["run_name"]) == (7, 64, "hydra")


def test_falsy_but_given_values_are_applied() -> None:
    agent, env = configs(["agent.seed=5", "agent.run_name=r", "env.num_envs=9", "--seed", "0", "--run_name", ""])
    assert (agent["seed"], agent["run_name"], env["num_envs"]) == (0, "", 9)
    _, env = configs(["--num_envs", "0"])
    assert env["num_envs"] == 0


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("agent.algorithm.lr=1", "unknown config key 'agent.algorithm.lr' in override 'agent.algorithm.lr=1' "
         "(prefix it with '+' to add it)"),
        ("env.nested.x=1", "unknown config key 'env.nested' in override 'env.nested.x=1'"),
        ("agent.seed.x=1", "config key 'agent.seed' is not a group; cannot set 'agent.seed.x'"),
        ("--bogus", "unrecognized argument '--bogus' (expected agent.<key>=<value> or env.<key>=<value>)"),
        ("policy.lr=1", "unrecognized argument 'policy.lr=1' (expected agent.<key>=<value> or env.<key>=<value>)"),
    ],
)  # fmt: skip
def test_unknown_keys_keep_their_exact_messages(item: str, message: str) -> None:
    agent, env = copy.deepcopy(demo_train.DEFAULT_AGENT_CFG), make_env_cfg()
    with pytest.raises(demo_train.UsageError) as caught:
        demo_train.apply_overrides([item], agent, env)
    assert str(caught.value) == message
    assert demo_train.UsageError is overrides.UsageError  # the class train.main() catches


def test_unknown_key_on_the_command_line_exits_1_with_one_line(capsys) -> None:
    assert demo_train.main([*TASK, "--seed", "3", "agent.algorithm.lr=1"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "[ERROR] unknown config key 'agent.algorithm.lr' in override 'agent.algorithm.lr=1' "
        "(prefix it with '+' to add it)\n"
    )
