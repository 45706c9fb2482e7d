"""The Isaac Lab stand-in's own rules (``tests/standins/isaaclab``), pinned against upstream's behaviour.

``get_checkpoint_path`` (Isaac Lab ``isaaclab_tasks/utils/parse_cfg.py``) resolves ``--load_run`` and ``--checkpoint``
as regular expressions with ``re.match`` (a PREFIX match), takes the alphabetically last matching run and the last
checkpoint under the key ``f"{name:0>15}"``. Hydra (through ``hydra_task_config``) applies the leftover ``key=value``
arguments to the ``env``/``agent`` configs and rejects unknown keys. The stand-in's files are loaded by path: they
are standard library only and never imported as packages into the test process.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

STANDIN = Path(__file__).resolve().parents[1] / "standins" / "isaaclab"
UTILS = STANDIN / "source" / "isaaclab_tasks" / "isaaclab_tasks" / "utils"
STAMP = "2026-01-02_03-04-05"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


parse_cfg = _load("_standin_parse_cfg", UTILS / "parse_cfg.py")
hydra = _load("_standin_hydra", UTILS / "hydra.py")


def _run_dirs(root: Path, seeds: tuple[int, ...], checkpoints: tuple[str, ...] = ("model_0.pt", "model_4.pt")) -> Path:
    """``<root>/<STAMP>_grp_seed<s>/`` with the given checkpoint files, as array tasks started in one second leave."""
    for seed in seeds:
        run = root / f"{STAMP}_grp_seed{seed}"
        (run / "params").mkdir(parents=True)
        for name in checkpoints:
            (run / name).write_text("{}")
    return root


def _resolved_run(root: Path, run_pattern: str | None, checkpoint: str = "model_.*.pt") -> str:
    return Path(parse_cfg.get_checkpoint_path(str(root), run_pattern, checkpoint)).parent.name


# ------------------------------------------------------------------------------------------------- runs: prefix match


def test_load_run_of_seed1_resolves_to_seed10_when_both_share_a_timestamp(tmp_path: Path) -> None:
    root = _run_dirs(tmp_path, (1, 10))
    assert _resolved_run(root, f"{STAMP}_grp_seed1", "model_4.pt") == f"{STAMP}_grp_seed10"


def test_load_run_of_seed1_resolves_to_the_alphabetically_last_prefix_sibling(tmp_path: Path) -> None:
    root = _run_dirs(tmp_path, (1, 10, 11))
    assert _resolved_run(root, f"{STAMP}_grp_seed1") == f"{STAMP}_grp_seed11"
    assert _resolved_run(root, f"{STAMP}_grp_seed10") == f"{STAMP}_grp_seed10"


def test_anchored_escaped_pattern_resolves_seed1_to_its_own_run(tmp_path: Path) -> None:
    root = _run_dirs(tmp_path, (1, 10, 11))
    name = f"{STAMP}_grp_seed1"
    path = parse_cfg.get_checkpoint_path(str(root), f"^{re.escape(name)}$", f"^{re.escape('model_4.pt')}$")
    assert path == str(root / name / "model_4.pt")


def test_escaping_without_the_end_anchor_is_still_a_prefix_match(tmp_path: Path) -> None:
    root = _run_dirs(tmp_path, (1, 10))
    assert _resolved_run(root, re.escape(f"{STAMP}_grp_seed1")) == f"{STAMP}_grp_seed10"


def test_unescaped_dots_in_a_run_name_match_any_character(tmp_path: Path) -> None:
    for name in ("lr0.001_seed1", "lr0x001_seed1"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model_0.pt").write_text("{}")
    assert _resolved_run(tmp_path, "lr0.001_seed1") == "lr0x001_seed1"


def test_no_load_run_means_the_latest_run(tmp_path: Path) -> None:
    root = _run_dirs(tmp_path, (3,))
    (root / "2027-01-01_00-00-00_other" / "params").mkdir(parents=True)
    (root / "2027-01-01_00-00-00_other" / "model_7.pt").write_text("{}")
    assert _resolved_run(root, None) == "2027-01-01_00-00-00_other"
    assert _resolved_run(root, ".*") == "2027-01-01_00-00-00_other"


def test_runs_sort_by_modification_time_when_sort_alpha_is_off(tmp_path: Path) -> None:
    root = _run_dirs(tmp_path, (1, 2))
    os.utime(root / f"{STAMP}_grp_seed2", (1_000, 1_000))
    path = parse_cfg.get_checkpoint_path(str(root), ".*", "model_.*.pt", sort_alpha=False)
    assert Path(path).parent.name == f"{STAMP}_grp_seed1"


def test_no_matching_run_is_a_value_error_naming_the_pattern(tmp_path: Path) -> None:
    root = _run_dirs(tmp_path, (1,))
    with pytest.raises(ValueError, match=r"No runs present in the directory: .* match: 'seed9'"):
        parse_cfg.get_checkpoint_path(str(root), "seed9", "model_.*.pt")


def test_missing_log_root_is_a_file_not_found_error_not_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        parse_cfg.get_checkpoint_path(str(tmp_path / "no_such_experiment"), ".*", "model_.*.pt")


# ------------------------------------------------------------------------------------------------- checkpoints


def test_checkpoints_sort_by_zero_padded_name_so_model_10_follows_model_9(tmp_path: Path) -> None:
    root = _run_dirs(tmp_path, (1,), ("model_9.pt", "model_10.pt", "model_2.pt"))
    assert sorted(["model_9.pt", "model_10.pt"])[-1] == "model_9.pt"  # what a plain sort would pick
    assert parse_cfg.checkpoint_sort_key("model_9.pt") < parse_cfg.checkpoint_sort_key("model_10.pt")
    path = parse_cfg.get_checkpoint_path(str(root), ".*", "model_.*.pt")
    assert Path(path).name == "model_10.pt"


def test_checkpoint_names_of_15_characters_or_more_are_not_padded(tmp_path: Path) -> None:
    root = _run_dirs(tmp_path, (1,), ("model_999999.pt", "model_1000000.pt"))
    assert Path(parse_cfg.get_checkpoint_path(str(root), ".*", "model_.*.pt")).name == "model_999999.pt"


def test_checkpoint_pattern_is_a_prefix_regex_too(tmp_path: Path) -> None:
    root = _run_dirs(tmp_path, (1,), ("model_1.pt", "model_10.pt", "model_11.pt"))
    assert Path(parse_cfg.get_checkpoint_path(str(root), ".*", "model_1")).name == "model_11.pt"
    assert Path(parse_cfg.get_checkpoint_path(str(root), ".*", "model_1.pt")).name == "model_1.pt"
    (root / f"{STAMP}_grp_seed1" / "model_1.pt.bak").write_text("{}")
    assert Path(parse_cfg.get_checkpoint_path(str(root), ".*", "model_1.pt")).name == "model_1.pt.bak"
    anchored = f"^{re.escape('model_1.pt')}$"
    assert Path(parse_cfg.get_checkpoint_path(str(root), ".*", anchored)).name == "model_1.pt"


def test_no_matching_checkpoint_is_a_value_error(tmp_path: Path) -> None:
    root = _run_dirs(tmp_path, (1,), ())
    with pytest.raises(ValueError, match="No checkpoints in the directory"):
        parse_cfg.get_checkpoint_path(str(root), ".*", "model_.*.pt")


# ------------------------------------------------------------------------------------------------- Hydra overrides


def _cfg() -> dict:
    return {"env": {"scene": {"num_envs": 4096}}, "agent": {"save_interval": 50, "algorithm": {"learning_rate": 1e-3}}}


@pytest.mark.parametrize(
    ("raw", "value"),
    [("2", 2), ("1e-4", 1e-4), ("0.0003", 0.0003), ("True", True), ("false", False), ("null", None), ("'7'", "7")],
)
def test_override_values_are_typed_like_hydras_grammar(raw: str, value: object) -> None:
    cfg = _cfg()
    hydra.apply_override(cfg, f"agent.algorithm.learning_rate={raw}")
    assert cfg["agent"]["algorithm"]["learning_rate"] == value
    assert type(cfg["agent"]["algorithm"]["learning_rate"]) is type(value)


def test_list_values_are_parsed_item_by_item() -> None:
    cfg = _cfg()
    hydra.apply_override(cfg, "agent.save_interval=[1, 2.5, abc]")
    assert cfg["agent"]["save_interval"] == [1, 2.5, "abc"]


def test_unknown_key_is_rejected_with_hydras_message() -> None:
    with pytest.raises(hydra.HydraOverrideError) as error:
        hydra.apply_override(_cfg(), "agent.algorithm.learning_rat=0.1")
    assert str(error.value).splitlines()[:3] == [
        "Could not override 'agent.algorithm.learning_rat'.",
        "To append to your config use +agent.algorithm.learning_rat=0.1",
        "Key 'learning_rat' is not in struct",
    ]


def test_unknown_intermediate_key_is_rejected_at_that_key() -> None:
    with pytest.raises(hydra.HydraOverrideError, match="Key 'algo' is not in struct"):
        hydra.apply_override(_cfg(), "agent.algo.learning_rate=0.1")


def test_plus_adds_a_key_but_not_an_existing_one_and_double_plus_does_both() -> None:
    cfg = _cfg()
    hydra.apply_override(cfg, "+agent.algorithm.new_key=3")
    assert cfg["agent"]["algorithm"]["new_key"] == 3
    with pytest.raises(hydra.HydraOverrideError, match=re.escape("An item is already at 'agent.save_interval'")):
        hydra.apply_override(cfg, "+agent.save_interval=3")
    hydra.apply_override(cfg, "++agent.save_interval=3")
    hydra.apply_override(cfg, "++agent.other=4")
    assert (cfg["agent"]["save_interval"], cfg["agent"]["other"]) == (3, 4)
    hydra.apply_override(cfg, "~agent.other")
    assert "other" not in cfg["agent"]


def test_a_comma_separated_value_is_an_ambiguous_sweep_without_multirun() -> None:
    with pytest.raises(
        hydra.HydraOverrideError, match=re.escape("Ambiguous value for argument 'agent.save_interval=1,2'")
    ):
        hydra.apply_override(_cfg(), "agent.save_interval=1,2")


def test_a_leftover_without_equals_sign_is_a_parse_error() -> None:
    with pytest.raises(hydra.HydraOverrideError, match="Error parsing override 'oops'\nmissing EQUAL"):
        hydra.apply_override(_cfg(), "oops")


def test_an_unknown_leftover_flag_exits_2_like_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        hydra.apply_overrides(_cfg(), ["--not_a_flag"])
    assert stop.value.code == 2
    assert "error: unrecognized arguments: --not_a_flag" in capsys.readouterr().err
