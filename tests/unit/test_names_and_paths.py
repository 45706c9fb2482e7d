"""Run names, log directories and the training argv for any input: never shared by two runs, never outside the sweep
dir or the log root, never a shell string; and bad names, paths and pass-through flags refused in one line."""

from __future__ import annotations

import itertools
import json
import math
import shlex
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpc_sweep.command import build_command
from hpc_sweep.errors import UsageError
from hpc_sweep.layout import SweepLayout
from hpc_sweep.manifest import write_new_manifest
from hpc_sweep.names import first_control
from hpc_sweep.plan import make_plan
from hpc_sweep.profiles import load_profile
from hpc_sweep.records import write_record
from hpc_sweep.spec import OWNED_FLAGS, SweepSpec, expand_runs
from tests.conftest import run_cli

HOSTILE = st.sampled_from(
    ["\n", "\r", "\x00", "\t", "/", "..", ".", "-", "-rf", " ", "'", '"', "$(id)", "`id`", "a b", "a_b", "A_B", "8",
     "08", "~", "*", "[", "\\", "\u2028", "é", "--seed", "=", ","]
)  # fmt: skip
TEXT = st.lists(st.one_of(st.text(max_size=6), HOSTILE), min_size=1, max_size=3).map("".join)
#: Hydra keys (three end alike: lr), mostly; then one of our flags and keys the tool refuses.
HYDRA_KEY = st.sampled_from(["agent.algorithm.lr", "env.lr", "lr", "agent.x_y", "agent.x", "x"])
KEYS = st.one_of(HYDRA_KEY, HYDRA_KEY, HYDRA_KEY, st.sampled_from(["num_envs", "world", "agent.seed", "bad key"]))
#: Values that sanitise alike (a b, a_b, A_B, $(id), `id`...), numbers, and anything at all.
ALIKE = st.sampled_from(
    ["a b", "a_b", "A_B", "a-b", "$(id)", "`id`", "_id_", "8", "08", "x/y", "x_y", "é", "_", "a",
     "'$(id)'", '"`id`"', "'é'", "a\\ b", "'a b'", "[a,b]", "{a:b}"]  # the last ones as Hydra quotes them
)  # fmt: skip
#: Also text that Hydra reads as one value (no quotes, brackets or shell characters), which mostly sanitises alike.
HYDRA_TEXT = st.text("ab _-.AB01", min_size=1, max_size=4)
VALUES = st.one_of(ALIKE, ALIKE, HYDRA_TEXT, HYDRA_TEXT, st.text("ab _$`()-.AB01", min_size=1, max_size=4), TEXT)
#: Values that Hydra accepts as one value, many of which sanitise alike.
HYDRA_ALIKE = st.sampled_from(
    ["a b", "a_b", "A_B", "a-b", "'$(id)'", '"`id`"', "_id_", "8", "08", "x/y", "x_y", "'é'", "_", "a", "a\\ b",
     "'a b'", "[a,b]", "[a, b]", "{a:b}", "'a,b'", "a\\,b"]
)  # fmt: skip
HYDRA_GRID = st.lists(
    st.tuples(HYDRA_KEY, st.lists(st.one_of(HYDRA_ALIKE, HYDRA_TEXT), min_size=2, max_size=4, unique=True).map(tuple)),
    min_size=1,
    max_size=3,
    unique_by=lambda axis: axis[0],
).map(tuple)
GRID = st.lists(
    st.tuples(KEYS, st.lists(VALUES, min_size=2, max_size=4, unique=True).map(tuple)),
    min_size=1,
    max_size=3,
    unique_by=lambda axis: axis[0],
).map(tuple)
PLAIN = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,15}", fullmatch=True)
COMMON_FOLDER = st.one_of(PLAIN, st.sampled_from(["study", "A.b-c", "x_lr-a_b"]), TEXT)  # mostly usable names
SEEDS = st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=3, unique=True).map(tuple)
BOUNDED = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def expanded_or_error(spec: SweepSpec):
    try:
        return expand_runs(spec)
    except UsageError as error:
        assert "\n" not in str(error) and len(str(error).splitlines()) == 1
        return None


def is_plain_name(name: str) -> bool:
    return (
        0 < len(name.encode()) <= 200
        and all(c.isascii() and (c.isalnum() or c in "._-") for c in name)
        and not name.startswith("-")
        and set(name) != {"."}
    )


@BOUNDED
@given(grid=GRID, common_folder=COMMON_FOLDER, seeds=SEEDS)
def test_run_names_and_log_dirs_are_unique_plain_and_inside_the_log_root(grid, common_folder, seeds) -> None:
    runs = expanded_or_error(SweepSpec(grid=grid, common_folder=common_folder, seeds=seeds))
    if runs is not None:
        check_names(grid, seeds, runs, common_folder)


@BOUNDED
@given(grid=HYDRA_GRID, common_folder=PLAIN, seeds=SEEDS)
def test_run_names_are_unique_and_plain_for_every_grid_hydra_accepts(grid, common_folder, seeds) -> None:
    """The same, where every value is one Hydra accepts: each such sweep is planned (none is refused)."""
    check_names(grid, seeds, expand_runs(SweepSpec(grid=grid, common_folder=common_folder, seeds=seeds)), common_folder)


def check_names(grid, seeds, runs, common_folder) -> None:
    assert len(runs) == math.prod(len(values) for _, values in grid) * len(seeds)
    assert [r.run_name for r in expand_runs(SweepSpec(grid=grid, common_folder=common_folder, seeds=seeds))] == [
        r.run_name for r in runs
    ]  # stable: the same sweep gets the same names
    names = [r.run_name.casefold() for r in runs]
    assert len(set(names)) == len(runs)  # also on case-insensitive file systems
    groups = {json.dumps(r.point, sort_keys=True): r.group for r in runs}
    assert len(set(groups.values())) == len(groups)  # one group per grid point, never merged
    folders = {json.dumps(r.point, sort_keys=True): r.common_folder for r in runs}
    assert len({f.casefold() for f in folders.values()}) == len(folders)  # and one folder, also on case-blind disks
    root = Path("/sweeps/s/logs/rsl_rl/experiment")
    for run in runs:
        assert is_plain_name(run.run_name) and is_plain_name(run.common_folder)
        assert run.group and first_control(run.group) is None  # the group is for people (never a path): one line
        isaac_dir = Path(f"{root}/2026-01-01_00-00-00_{run.run_name}")
        assert isaac_dir.parent == root and ".." not in isaac_dir.parts
        ballu_dir = Path(f"{root}/{run.common_folder}/seed_{run.seed}")
        assert ballu_dir.parent.parent == root and ".." not in ballu_dir.parts
    keys = [key for key, _ in grid]
    points = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(v for _, v in grid))]
    assert [r.point for r in runs[:: len(seeds)]] == points  # the raw values are kept for compare --by
    ballu = {f"{r.common_folder}/seed_{r.seed}".casefold() for r in runs}
    assert len(ballu) == len(runs)  # BALLU's <common_folder>/seed_<seed> directories are not shared either


@BOUNDED
@given(
    task=st.one_of(TEXT, st.just("Demo-PointMass-v0")),
    seed=st.integers(-(2**40), 2**40),
    additional=st.lists(st.one_of(TEXT, st.sampled_from(["--video", "--video_interval", "100", "agent.x=1"])),
                        max_size=4),
    value=st.one_of(TEXT, st.just("0.001")),
)  # fmt: skip
def test_the_training_argv_holds_each_user_value_as_exactly_one_element(task, seed, additional, value) -> None:
    spec = SweepSpec(
        task=task,
        seeds=(seed,),
        common_folder="study",
        max_iterations=10,
        num_envs=8,
        additional_args=tuple(additional),
        grid=(("agent.algorithm.learning_rate", (value,)),),
    )
    runs = expanded_or_error(spec)
    if runs is None:
        return
    command = build_command(runs[0], load_profile("demo"), Path("/s"), "/opt/py")
    assert isinstance(command.argv, tuple) and all(isinstance(a, str) for a in command.argv)
    assert command.argv == (
        "/opt/py", "-m", "hpc_sweep.demo.train", "--task", task, "--seed", str(seed), "--max_iterations", "10",
        "--num_envs", "8", "--headless", "--run_name", runs[0].run_name, *additional,
        f"agent.algorithm.learning_rate={value}",
    )  # fmt: skip
    assert all(first_control(a, allow_tab=True) is None for a in command.argv)


@settings(max_examples=100, deadline=None)
@given(
    flag=st.sampled_from(sorted(OWNED_FLAGS)),
    cut=st.integers(0, 20),
    dashes=st.booleans(),
    value=st.one_of(st.none(), TEXT),
)
def test_any_spelling_of_a_flag_the_tool_sets_is_refused_with_the_flag_to_use(flag, cut, dashes, value) -> None:
    name = flag[: max(len(flag) - cut, 1)] if cut < len(flag) else flag  # argparse takes unambiguous abbreviations
    name = name.replace("_", "-") if dashes else name
    arg = f"--{name}" if value is None else f"--{name}={value}"
    with pytest.raises(UsageError) as raised:
        expand_runs(SweepSpec(common_folder="study", seeds=(1,), additional_args=(arg,)))
    message = str(raised.value)
    assert "\n" not in message
    assert "control character" in message or "use --" in message


# --- The probe's cases through the real command line ---

NAME_CASES = [
    (["--common_folder", ".."], "--common_folder"),
    (["--common_folder=-rf"], "--common_folder"),
    (["--common_folder", "a\nb"], "--common_folder"),
    (["--task", "../../etc"], "--task"),
    (["--task=-rf"], "--task"),
    (["--task", "Demo\ntouch x"], "--task"),
    (["--additional_args=--max_iterations", "999"], "use --max_iterations"),
    (["--additional_args=--max-iterations=999"], "use --max_iterations"),
    (["--additional_args", "--num_env", "64"], "argparse reads it as --num_envs"),
    (["--", "--resume", "--load_run", "x"], "use --resume"),
    (["--additional_args=--headless"], "--no-headless"),
    (["--additional_args", "agent.max_iterations=5"], "use --max_iterations"),
    (["--additional_args", "+env.scene.num_envs=5"], "use --num_envs"),
    (["--additional_args", "a\nb"], "control character"),
    (["--grid", "agent.seed=1,2"], "--seeds"),
    (["--grid", "num_envs=8,08"], "same value twice"),
    (["--grid", "world=true,yes"], "same value twice"),
    (["--grid", "agent.x=1\n2"], "control character"),
    (["--launcher", "python -c 'x"], "--launcher"),
    (["--train_script", "train.py\nid"], "--train_script"),
    (["--", "--seed", "5"], "use --seeds"),
]


@pytest.mark.parametrize(("args", "fragment"), NAME_CASES, ids=lambda v: repr(v)[:40])
def test_bad_names_and_pass_through_flags_are_one_line_exit_2_and_create_nothing(
    args: list[str], fragment: str, tmp_path: Path
) -> None:
    result = run_cli("submit", "--seeds", "1", "--executor", "local", "--dry_run", "--output_dir", "out", *args,
                     cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hpc-sweep: error: ") and fragment in lines[0], result.stderr
    assert list(tmp_path.iterdir()) == []


def test_grid_values_that_sanitise_alike_get_their_own_groups(tmp_path: Path) -> None:
    result = run_cli(
        "submit", "--seeds", "1", "--executor", "local", "--dry_run", "--common_folder", "s", "--output_dir", "out",
        "--grid", "agent.wandb_project=a b,a_b", "agent.x='$(id)','`id`',8,08", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    groups = [line.split(" group ", 1)[1].rsplit("  (cwd ", 1)[0] for line in lines if " group " in line]
    assert len(groups) == len(set(groups)) == 8 and "wandb_project=a_b,x=08" in groups  # readable, one per point
    argvs = [shlex.split(line) for line in lines if "--run_name" in line]
    folders = [argv[argv.index("--run_name") + 1].removesuffix("_seed1") for argv in argvs]
    assert len(folders) == len(set(folders)) == 8
    assert "s_wandb_project-a_b_x-8" not in folders  # colliding values carry a hash ...
    assert any(f.endswith("_x-8") for f in folders) and any(f.endswith("_x-08") for f in folders)  # ... others do not
    assert ["agent.x='$(id)'" in argv for argv in argvs].count(True) == 2  # the values reach the argv as Hydra ...
    assert ["agent.x='`id`'" in argv for argv in argvs].count(True) == 2  # ... reads them: quoted, never cut


@pytest.mark.parametrize("where", ["file", "below a file"])
def test_an_output_dir_that_is_or_lies_below_a_file_is_refused_before_anything_is_created(
    where: str, tmp_path: Path
) -> None:
    (tmp_path / "taken").write_text("mine")
    target = "taken" if where == "file" else "taken/sweep"
    for extra in ([], ["--dry_run"]):
        result = run_cli("submit", "--seeds", "1", "--executor", "local", "--output_dir", target, *extra, cwd=tmp_path)
        assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
        assert "is a file" in result.stderr or "which is a file" in result.stderr
        assert "Traceback" not in result.stderr
        assert [p.name for p in tmp_path.iterdir()] == ["taken"] and (tmp_path / "taken").read_text() == "mine"


def _recorded_sweep(root: Path) -> Path:
    """A sweep of seeds 1 2 3 (demo, local) whose first run completed."""
    spec = SweepSpec(seeds=(1, 2, 3), common_folder="study", max_iterations=5, num_envs=8)
    options = {"launcher_override": None, "train_script_override": None, "workdir_override": None, "max_parallel": 1}
    plan = make_plan(spec, load_profile("demo"), root / "sweep", "local", options)
    layout = SweepLayout(plan.sweep_dir)
    write_new_manifest(layout, plan.manifest)
    write_record(layout, {"run_id": "0000", "state": "completed", "attempt": 1})
    return plan.sweep_dir


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_resume_with_other_seeds_or_iterations_is_refused_listing_the_differences(tmp_path: Path) -> None:
    sweep = _recorded_sweep(tmp_path)
    before = _snapshot(sweep)
    base = ["submit", "--resume", "--executor", "local", "--output_dir", str(sweep)]
    for extra in (["--dry_run"], []):
        result = run_cli(*base, "--seeds", "1", "2", "3", "4", "--max_iterations", "7", *extra, cwd=tmp_path)
        assert result.returncode == 2, result.stdout + result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert "--seeds is 1 2 3 4 (recorded: 1 2 3)" in lines[0]
        assert "--max_iterations is 7 (recorded: 5)" in lines[0]
        assert "another --output_dir" in lines[0]
        assert "[0003]" not in result.stdout and _snapshot(sweep) == before
    other_executor = run_cli(*base[:3], "debug", *base[4:], "--dry_run", cwd=tmp_path)
    assert other_executor.returncode == 2 and "--executor is debug (recorded: local)" in other_executor.stderr


def test_the_dry_run_of_a_resume_shows_only_the_runs_a_resume_would_start(tmp_path: Path) -> None:
    sweep = _recorded_sweep(tmp_path)
    before = _snapshot(sweep)
    result = run_cli("submit", "--resume", "--dry_run", "--executor", "local", "--output_dir", str(sweep),
                     "--seeds", "1", "2", "3", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    shown = [line.split("]")[0].strip("[") for line in result.stdout.splitlines() if line.startswith("[")]
    assert shown == ["0001", "0002"]  # 0000 completed: a real resume leaves it alone
    assert "2 of 3 runs" in result.stdout and "--max_iterations 5" in result.stdout
    assert _snapshot(sweep) == before
