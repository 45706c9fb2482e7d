"""Grid expansion and run naming: what a user expects the plan of a sweep to be."""

from __future__ import annotations

import pytest

from hpc_sweep.errors import UsageError
from hpc_sweep.spec import SweepSpec, expand_runs, parse_grid


def spec(**kwargs) -> SweepSpec:
    return SweepSpec(**{"common_folder": "study", "seeds": (1, 2), **kwargs})


def test_seeds_only_give_one_run_per_seed_in_order() -> None:
    runs = expand_runs(spec(seeds=(42, 123, 456)))
    assert [r.seed for r in runs] == [42, 123, 456]
    assert [r.run_id for r in runs] == ["0000", "0001", "0002"]
    assert runs[0].run_name == "study_seed42"
    assert {r.group for r in runs} == {"study"}


def test_grid_is_cartesian_product_times_seeds() -> None:
    grid = parse_grid(["num_envs=2048,4096", "agent.algorithm.learning_rate=0.001,0.0003"])
    runs = expand_runs(spec(grid=grid))
    assert len(runs) == 2 * 2 * 2
    points = {(r.num_envs, r.overrides, r.seed) for r in runs}
    assert (2048, ("agent.algorithm.learning_rate=0.001",), 1) in points
    assert (4096, ("agent.algorithm.learning_rate=0.0003",), 2) in points
    assert len({r.group for r in runs}) == 4
    assert len({r.run_name for r in runs}) == 8


def test_grid_keys_naming_our_flags_set_the_flags_not_overrides() -> None:
    runs = expand_runs(spec(grid=parse_grid(["world=false,true", "max_iterations=10,20"])))
    assert {(r.world, r.max_iterations) for r in runs} == {(False, 10), (True, 10), (False, 20), (True, 20)}
    assert all(r.overrides == () for r in runs)


@pytest.mark.parametrize(
    "items",
    [["num_envs"], ["=1,2"], ["num_envs=1,,2"], ["num_envs=a,b"], ["num_envs=0"], ["x=1", "x=2"], ["seed=1,2"]],
)
def test_malformed_grid_is_a_usage_error(items: list[str]) -> None:
    with pytest.raises(UsageError):
        expand_runs(spec(grid=parse_grid(items)))


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"seeds": (1, 1)}, "repeats"),
        ({"max_iterations": 0}, "--max_iterations"),
        ({"num_envs": -5}, "--num_envs"),
        ({"task": " "}, "--task"),
        ({"common_folder": "a/b"}, "--common_folder"),
    ],
)
def test_bad_spec_names_the_flag(kwargs: dict, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        spec(**kwargs).validate()


def test_values_that_sanitise_alike_keep_their_own_groups_and_run_names() -> None:
    runs = expand_runs(spec(grid=parse_grid(["agent.project=a b,a_b,c"]), seeds=(1,)))
    groups = [r.group for r in runs]
    assert len(set(groups)) == 3
    assert groups == ["project=a\\ b", "project=a_b", "project=c"]  # for people: each value as its override spells it
    folders = [r.common_folder for r in runs]  # the names that become directories
    assert len(set(folders)) == 3
    assert folders[2] == "study_project-c"  # a value that collides with nothing keeps its plain label
    assert folders[0].startswith("study_project-a_b-") and folders[1].startswith("study_project-a_b-")
    assert [r.point["agent.project"] for r in runs] == ["a\\ b", "a_b", "c"]  # the values kept (Hydra escapes ' ')
    assert [r.run_name for r in expand_runs(spec(grid=parse_grid(["agent.project=a b,a_b,c"]), seeds=(1,)))] == [
        r.run_name for r in runs
    ]


def test_with_a_grid_each_point_is_its_own_common_folder_so_ballu_logs_do_not_merge() -> None:
    runs = expand_runs(spec(grid=parse_grid(["env.world_frame=a,b"]), seeds=(1,)))
    assert [r.common_folder for r in runs] == ["study_world_frame-a", "study_world_frame-b"]
    assert [r.group for r in runs] == ["world_frame=a", "world_frame=b"]  # the readable label of each point
    assert [r.common_folder for r in expand_runs(spec())] == ["study", "study"]  # no grid: the folder as given


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"common_folder": ".."}, "--common_folder '..'"),
        ({"common_folder": "-rf"}, "--common_folder '-rf'"),
        ({"task": "a/b"}, "--task 'a/b' is not a task name"),
        ({"task": "-x"}, "--task '-x'"),
        ({"additional_args": ("--seed", "5")}, "use --seeds"),
        ({"additional_args": ("--max_iterations=9",)}, "use --max_iterations"),
        ({"additional_args": ("--num-envs", "9")}, "use --num_envs"),
        ({"additional_args": ("--checkpoint", "m.pt")}, "--resume"),
        ({"additional_args": ("--distributed",)}, "--gpus_per_run"),
        ({"additional_args": ("agent.seed=3",)}, "use --seeds"),
        ({"additional_args": ("++env.scene.num_envs=3",)}, "use --num_envs"),
        ({"grid": (("env.scene.num_envs", ("1", "2")),)}, "use --num_envs"),
        ({"grid": (("max_iterations", ("10", "010")),)}, "same value twice"),
        ({"grid": (("task", ("A-v0", "../B")),)}, "--grid task '../B'"),
    ],
)
def test_what_the_tool_sets_or_names_cannot_be_set_around_it(kwargs: dict, fragment: str) -> None:
    with pytest.raises(UsageError) as raised:
        spec(**kwargs).validate()
    assert fragment in str(raised.value) and "\n" not in str(raised.value)


def test_pass_through_flags_that_are_not_ours_are_kept() -> None:
    args = ("--video", "--video_interval", "1000", "--seed_offset=2", "agent.experiment_name=x", "--device", "cuda:0")
    assert expand_runs(spec(additional_args=args))[0].additional_args == args
