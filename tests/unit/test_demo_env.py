"""Fast checks of the built-in demo task (``Demo-PointMass-v0``) and the pure helpers of its training CLI.

The demo replaces Isaac Lab in every test, so its contract with rsl-rl (TensorDict observations, ``(N,)`` rewards and
dones, Isaac-Lab-style ``extras``) and its determinism are what make the integration tests trustworthy.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
torch = pytest.importorskip("torch")
pytest.importorskip("rsl_rl")

from tensordict import TensorDict  # noqa: E402

from hpc_sweep.demo import params_yaml  # noqa: E402
from hpc_sweep.demo import train as demo_train  # noqa: E402
from hpc_sweep.demo.point_mass import TASK_NAME, PointMassEnv, make_env_cfg, optimal_episode_return_bound  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def make_env(**overrides) -> PointMassEnv:
    return PointMassEnv(make_env_cfg(**{"num_envs": 16, **overrides}))


def rollout(env: PointMassEnv, steps: int, seed: int = 0) -> list[tuple]:
    """Random-action rollout; actions come from their own generator so only the env's randomness is compared."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(steps):
        actions = torch.rand(env.num_envs, env.num_actions, generator=gen) * 2 - 1
        obs, rew, dones, _ = env.step(actions)
        out.append((obs["policy"].clone(), rew.clone(), dones.clone()))
    return out


def test_observation_and_step_contract() -> None:
    env = make_env()
    obs = env.get_observations()
    assert isinstance(obs, TensorDict)
    assert obs["policy"].shape == (16, PointMassEnv.num_obs)
    assert obs["policy"].dtype == torch.float32
    assert env.num_actions == 2 and env.max_episode_length == 100
    assert isinstance(env.cfg, dict) and env.cfg["task"] == TASK_NAME

    obs, rew, dones, extras = env.step(torch.zeros(16, 2))
    assert isinstance(obs, TensorDict) and obs["policy"].shape == (16, 6)
    assert rew.shape == (16,) and rew.dtype == torch.float32
    assert dones.shape == (16,)
    assert extras["time_outs"].shape == (16,) and extras["time_outs"].dtype == torch.bool
    assert torch.isfinite(rew).all()


def test_reward_is_weighted_sum_of_named_terms() -> None:
    env = make_env()
    action = torch.full((16, 2), 0.5)
    _, rew, dones, _ = env.step(action)
    assert not dones.any()
    terms = env.reward_terms(action)  # the terms only depend on the post-step state and the action
    assert set(terms) == {"position_tracking", "velocity_tracking", "action_l2"}
    expected = sum(terms[k] * env.reward_cfg[k]["weight"] * env.dt for k in terms)
    assert torch.allclose(rew, expected)
    assert torch.allclose(terms["action_l2"], torch.full((16,), 0.5))
    assert torch.allclose(sum(env.episode_sums.values()), rew)


def test_position_term_peaks_at_target_and_velocity_term_rewards_approach() -> None:
    env = make_env(num_envs=2)
    env.pos[:] = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    env.target[:] = torch.tensor([[0.0, 0.0], [1.5, 0.0]])
    env.vel[:] = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    terms = env.reward_terms(torch.zeros(2, 2))
    assert terms["position_tracking"][0] == pytest.approx(1.0)
    assert terms["position_tracking"][1] < 0.01
    assert terms["velocity_tracking"][1] == pytest.approx(1.0, abs=1e-4)  # moving straight at the far target
    env.vel[1] = torch.tensor([-1.0, 0.0])
    assert env.reward_terms(torch.zeros(2, 2))["velocity_tracking"][1] < 0


def test_timeout_resets_each_env_and_logs_episode_sums() -> None:
    env = make_env(num_envs=4, episode_length=10, spawn_half_size=0.1, target_half_size=0.1)
    env.episode_length_buf[:] = torch.tensor([0, 0, 5, 8])  # like rsl-rl's init_at_random_ep_len
    zeros = torch.zeros(4, 2)
    _, _, dones, extras = env.step(zeros)
    assert not dones.any() and "log" not in extras
    _, _, dones, extras = env.step(zeros)
    assert dones.tolist() == [0, 0, 0, 1]
    assert extras["time_outs"].tolist() == [False, False, False, True]
    log = extras["log"]
    assert {"Episode_Reward/position_tracking", "Episode_Termination/time_out"} <= set(log)
    assert log["Episode_Termination/time_out"] == 1.0
    assert log["Episode_Reward/position_tracking"] > 0
    assert env.episode_length_buf.tolist() == [2, 2, 7, 0]
    assert env.vel[3].abs().sum() == 0


def test_leaving_the_arena_terminates_without_time_out() -> None:
    env = make_env(num_envs=2)
    env.pos[0] = torch.tensor([2.99, 0.0])
    env.vel[0] = torch.tensor([3.0, 0.0])
    _, _, dones, extras = env.step(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    assert dones.tolist() == [1, 0]
    assert not extras["time_outs"].any()
    assert extras["log"]["Episode_Termination/out_of_bounds"] == 1.0


def test_same_seed_same_rollout_different_seed_different() -> None:
    a = rollout(make_env(seed=3, episode_length=20), 45)
    b = rollout(make_env(seed=3, episode_length=20), 45)
    c = rollout(make_env(seed=4, episode_length=20), 45)
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[-1][0], c[-1][0])


def test_env_randomness_ignores_global_rng() -> None:
    torch.manual_seed(0)
    first = make_env(seed=9).get_observations()["policy"]
    torch.manual_seed(123)
    second = make_env(seed=9).get_observations()["policy"]
    assert torch.equal(first, second)


def test_world_variant_rewards_differ() -> None:
    base = make_env(seed=5)
    world = make_env(seed=5, world=True)
    assert torch.equal(base.get_observations()["policy"], world.get_observations()["policy"])
    rb = torch.stack([r for _, r, _ in rollout(base, 30)])
    rw = torch.stack([r for _, r, _ in rollout(world, 30)])
    assert not torch.allclose(rb, rw)
    # At rest on the target both position kernels are 1, but the world velocity term is a penalty (best 0).
    for env in (base, world):
        env.pos[:] = env.target
        env.vel[:] = 0.0
    assert base.reward_terms(torch.zeros(16, 2))["velocity_tracking"].min() == pytest.approx(1.0)
    assert world.reward_terms(torch.zeros(16, 2))["velocity_tracking"].abs().max() == pytest.approx(0.0)


def test_make_env_cfg_rejects_unknown_keys_and_copies() -> None:
    with pytest.raises(KeyError):
        make_env_cfg(nope=1)
    cfg = make_env_cfg()
    cfg["rewards"]["action_l2"]["weight"] = 7.0
    assert make_env_cfg()["rewards"]["action_l2"]["weight"] == -0.05
    assert optimal_episode_return_bound(make_env_cfg()) == pytest.approx(15.0)


# ----------------------------------------------------------------------------------------- train.py pure helpers


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("0.0003", 0.0003),
        ("1e-3", 1e-3),
        ("true", True),
        ("False", False),
        ("null", None),
        ("None", None),
        ("[64,64]", [64, 64]),
        ("[a, b]", ["a", "b"]),
        ("elu", "elu"),
        ("'42'", "42"),
    ],
)
def test_override_values_parse_like_hydra(text: str, value) -> None:
    assert demo_train.parse_override_value(text) == value


def test_overrides_apply_nested_and_reject_unknown_keys() -> None:
    agent = {"algorithm": {"learning_rate": 1.0}, "seed": 1}
    env = {"episode_length": 100}
    demo_train.apply_overrides(["agent.algorithm.learning_rate=0.0003", "env.episode_length=150"], agent, env)
    assert agent["algorithm"]["learning_rate"] == 0.0003 and env["episode_length"] == 150
    with pytest.raises(demo_train.UsageError, match=r"agent\.algorithm\.lr"):
        demo_train.apply_overrides(["agent.algorithm.lr=1"], agent, env)
    with pytest.raises(demo_train.UsageError, match=r"env\.nested"):
        demo_train.apply_overrides(["env.nested.x=1"], agent, env)
    with pytest.raises(demo_train.UsageError, match="--bogus"):
        demo_train.apply_overrides(["--bogus"], agent, env)
    demo_train.apply_overrides(["+agent.algorithm.new_key=2"], agent, env)
    assert agent["algorithm"]["new_key"] == 2


def test_builtin_yaml_emitter_output(tmp_path) -> None:
    path = tmp_path / "params" / "agent.yaml"
    data = {"seed": 7, "run_name": "", "load_run": ".*", "nested": {"dims": [64, 64], "x": None, "on": True}}
    data["symmetry_cfg"] = {"data_augmentation_func": optimal_episode_return_bound}
    path.parent.mkdir()
    path.write_text(params_yaml.yaml_text(data))
    text = path.read_text()
    assert text.splitlines()[0] == "seed: 7"  # YAML 1.1 reads a bare `on` as a bool, hence "on" below
    assert 'run_name: ""' in text and 'load_run: ".*"' in text
    assert "  dims:\n  - 64\n  - 64\n" in text and "  x: null" in text and '  "on": true' in text
    # Callables as Isaac Lab's class_to_dict stores them (the rsl-rl fixtures' symmetry function is one).
    assert text.endswith("  data_augmentation_func: hpc_sweep.demo.point_mass:optimal_episode_return_bound\n")


def test_get_checkpoint_path_picks_latest_run_and_model(tmp_path) -> None:
    for run, models in {"2024-01-01_00-00-00_a": [0, 50], "2024-01-02_00-00-00_b": [0, 9, 10, 100]}.items():
        (tmp_path / run).mkdir()
        for it in models:
            (tmp_path / run / f"model_{it}.pt").write_bytes(b"")
    latest = demo_train.get_checkpoint_path(str(tmp_path), ".*", "model_.*.pt")
    assert latest.endswith(os.path.join("2024-01-02_00-00-00_b", "model_100.pt"))
    chosen = demo_train.get_checkpoint_path(str(tmp_path), ".*_a", "model_0.pt")
    assert chosen.endswith(os.path.join("2024-01-01_00-00-00_a", "model_0.pt"))
    with pytest.raises(ValueError, match="No runs"):
        demo_train.get_checkpoint_path(str(tmp_path), "nomatch")


def test_unknown_task_exits_1(capsys) -> None:
    assert demo_train.main(["--task", "Isaac-Nope-v0"]) == 1
    assert "Isaac-Nope-v0" in capsys.readouterr().err
