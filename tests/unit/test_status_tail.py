"""``status``'s mean reward column: from the run's event files through a cache kept across ``--watch`` redraws (each
redraw reads only what the files gained), else from the tail of its console log."""

from __future__ import annotations

from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from hpc_sweep.collect.tfevents import iter_event_files
from hpc_sweep.layout import SweepLayout
from hpc_sweep.manifest import write_new_manifest
from hpc_sweep.records import write_record
from hpc_sweep.verbs.status import StatusView, reward_cache, status_table


def _sweep(root: Path) -> SweepLayout:
    """A local two-run sweep: run 0000 logs TensorBoard events (and a console log), run 0001 a console log only."""
    layout = SweepLayout(root)
    runs = [{"run_id": run_id, "seed": seed, "group": "g"} for run_id, seed in (("0000", 1), ("0001", 2))]
    write_new_manifest(layout, {"schema": "hpc_sweep.sweep/1", "executor": "local", "options": {}, "runs": runs})
    log_dir = root / "logs" / "run0"
    log_dir.mkdir(parents=True)
    for run_id in ("0000", "0001"):
        dirs = [str(log_dir)] if run_id == "0000" else []
        write_record(
            layout, {"run_id": run_id, "state": "running", "attempt": 1, "host": "elsewhere", "log_dirs": dirs}
        )
        layout.train_log(run_id).write_text(
            f"\x1b[1m Learning iteration 3/10 \x1b[0m\n{'Mean reward:':>40} {-7.25 if run_id == '0000' else 4.5:.2f}\n"
        )
    return layout


def _rewards(view: StatusView) -> list[str]:
    """The mean reward column, as shown."""
    column = [c.header for c in view.table.columns].index("mean reward")
    return [str(cell) for cell in view.table.columns[column]._cells]


def test_the_reward_comes_from_the_event_files_else_the_console_log(tmp_path: Path) -> None:
    layout = _sweep(tmp_path / "sweep")
    writer = SummaryWriter(str(tmp_path / "sweep" / "logs" / "run0"))
    for step in range(50):
        writer.add_scalar("Train/mean_reward", step * 0.25, step)
        writer.add_scalar("Loss/value", 1.0, step)
    writer.flush()
    cache = reward_cache()
    assert _rewards(status_table(layout.root, cache)) == ["12.250", "4.500"]
    (event_file,) = iter_event_files(tmp_path / "sweep" / "logs" / "run0")
    read = cache.bytes_read
    assert read == event_file.stat().st_size
    assert _rewards(status_table(layout.root, cache)) == ["12.250", "4.500"]
    assert cache.bytes_read == read  # a redraw with nothing new reads no events
    size = event_file.stat().st_size
    for step in range(50, 60):
        writer.add_scalar("Train/mean_reward", -step * 1.0, step)
    writer.flush()
    assert _rewards(status_table(layout.root, cache)) == ["-59.000", "4.500"]
    assert cache.bytes_read - read == event_file.stat().st_size - size  # only the new bytes
    writer.close()
    assert _rewards(status_table(layout.root)) == ["-59.000", "4.500"]  # callable without a cache, as before


def test_a_run_whose_events_hold_no_reward_shows_its_console_value(tmp_path: Path) -> None:
    layout = _sweep(tmp_path / "sweep")
    writer = SummaryWriter(str(tmp_path / "sweep" / "logs" / "run0"))
    writer.add_scalar("Loss/value", 1.0, 0)
    writer.close()
    assert _rewards(status_table(layout.root, reward_cache())) == ["-7.250", "4.500"]
