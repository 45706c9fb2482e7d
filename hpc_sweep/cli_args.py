"""The command line's grammar: every verb's flags, the seed script's spellings, and which flags the user typed.

Kept apart from :mod:`hpc_sweep.cli` (which calls the verbs) so that the flags of each verb can be read in one place.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path
from typing import Any, NoReturn

from hpc_sweep import __version__
from hpc_sweep.resources import SLURM_RESOURCES

EXIT_USAGE = 2
_EXAMPLES = """examples:
  # 3 seeds of the built-in demo task on this machine, collected into tables and a figure
  hpc-sweep submit --task Demo-PointMass-v0 --seeds 1 2 3 --max_iterations 100 --executor local --output_dir sweeps/demo

  # Isaac Lab on Slurm: 5 seeds x 2 learning rates, one GPU job per run, 8 hours each
  hpc-sweep submit --task Isaac-Velocity-Rough-Anymal-C-v0 --seeds 1 2 3 4 5 --profile isaaclab \\
      -p gpu --time 08:00:00 --mem 32G --grid agent.algorithm.learning_rate=0.001,0.0003 --output_dir sweeps/anymal_lr

  # where it stands, then the results and a comparison of the two learning rates
  hpc-sweep status sweeps/anymal_lr && hpc-sweep collect sweeps/anymal_lr
  hpc-sweep compare sweeps/anymal_lr --by agent.algorithm.learning_rate

every verb has its own --help (hpc-sweep submit --help)."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad input on one line (no usage block) and exits 2, and takes no abbreviations (``--mem``
    must not silently mean ``--mem_gb``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add(parser: argparse.ArgumentParser, name: str, *aliases: str, **kwargs: Any) -> None:
    """Add ``--name_with_underscores``, its dashed spelling and any ``aliases`` (``-p``) as one option."""
    flags = [*aliases, f"--{name}"]
    if "_" in name:
        flags.append(f"--{name.replace('_', '-')}")
    parser.add_argument(*flags, dest=name, **kwargs)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be a positive integer")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text}: give a positive number of seconds")
    return value


def _notify_uri(text: str) -> str:
    """``--notify``: mailto:ADDR or a webhook URL; the message never repeats a URL (it may be a credential)."""
    from hpc_sweep.errors import UsageError
    from hpc_sweep.launch.notify import check_notify

    try:
        return check_notify(text)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--notify: ")) from None


def build_parser() -> argparse.ArgumentParser:
    """The full command-line interface."""
    parser = _Parser(
        prog="hpc-sweep",
        description="Multi-seed and hyperparameter sweeps of Isaac Lab / RSL-RL training on Slurm, a workstation or "
        "in the foreground, and results you can trust.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hpc_sweep {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)

    submit = verbs.add_parser("submit", help="plan a sweep and launch it (slurm, local or debug)")
    _add_launch_flags(submit, "submit")
    tune = verbs.add_parser("tune", help="search a space: sampled configurations, multi-seed successive halving")
    _add_launch_flags(tune, "tune")
    _add_tune_flags(tune)

    status = verbs.add_parser("status", help="show where a sweep stands")
    status.add_argument("sweep_dir", type=Path)
    _add(
        status,
        "watch",
        nargs="?",
        type=_positive_seconds,
        const=10.0,
        metavar="SECONDS",
        help="redraw every SECONDS (default 10) while a run is in progress",
    )

    collect = verbs.add_parser("collect", help="collect results: tables, training_results.json, figures")
    collect.add_argument("path", type=Path, help="a sweep dir, or any directory tree of training logs")
    _add(collect, "output_dir", type=Path, help="where to write results (default: PATH)")
    _add(collect, "csv", action="store_true", help="also write metrics.csv, every point as text (large)")
    _add(collect, "cache", type=Path, metavar="DIR", help="collect cache dir (default: OUTPUT_DIR/.hpc_sweep_cache)")
    _add(collect, "no_cache", action="store_true", help="read every file from its start; keep no cache")

    comp = verbs.add_parser("compare", help="compare groups of runs: statistics, significance tests, figure")
    comp.add_argument("paths", nargs="+", type=Path, help="sweep dirs or log trees (one group each), or one with --by")
    _add(comp, "by", help="split one sweep into groups by this grid key")
    _add(comp, "metric", default="mean_reward", help="canonical metric or tag (default: mean_reward)")
    _add(comp, "final_window", type=_window, default=0.1, help="final window: fraction (0.1) or iterations (50)")
    _add(comp, "output_dir", type=Path, help="where to write comparison.* (default: the first path)")

    again = verbs.add_parser("resubmit", help="submit again the runs that did not complete (resuming from checkpoints)")
    again.add_argument("sweep_dir", type=Path)
    _add(again, "failed", action="store_true", help="only runs that failed, were cancelled or interrupted")
    _add(again, "runs", nargs="+", metavar="ID", help="only these run ids (completed runs are never touched)")
    _add(again, "max_parallel", type=_positive_int, help="local: runs at once")

    cancel = verbs.add_parser("cancel", help="cancel a Slurm sweep's jobs (only those) and record it")
    cancel.add_argument("sweep_dir", type=Path)

    verbs.add_parser("profiles", help="list the known profiles")
    return parser


def _add_launch_flags(parser: argparse.ArgumentParser, verb: str) -> None:
    """The flags ``submit`` and ``tune`` share: training, sweep, Slurm resources (and submit's grid and --then)."""
    from hpc_sweep.launch.base import LAUNCHERS
    from hpc_sweep.launch.slurm import DEFAULT_MAX_REQUEUES
    from hpc_sweep.spec import DEFAULT_MAX_ITERATIONS, DEFAULT_NUM_ENVS, DEFAULT_SEEDS, DEFAULT_TASK

    core = parser.add_argument_group("training (the seed script's flags)")
    _add(core, "task", default=DEFAULT_TASK, help=f"task name (default: {DEFAULT_TASK}, the built-in demo)")
    _add(core, "seeds", nargs="+", type=int, default=list(DEFAULT_SEEDS), help="seeds (default: 42 123 456 789 999)")
    _add(core, "max_iterations", type=int, default=DEFAULT_MAX_ITERATIONS, help="iterations per run (default: 1000)")
    _add(core, "num_envs", type=int, default=DEFAULT_NUM_ENVS, help="environments per run (default: 4096)")
    _add(core, "output_dir", help="sweep directory (default: multi_training_<timestamp>)")
    _add(core, "common_folder", help="group name for all runs of this sweep (default: timestamped)")
    _add(core, "headless", action=argparse.BooleanOptionalAction, default=True, help="pass --headless (default: on)")
    _add(core, "world", action="store_true", help="world-frame reward variant (scripts that declare --world)")
    _add(
        core,
        "additional_args",
        nargs="*",
        action="extend",
        default=[],
        help='arguments passed to train.py as written, e.g. --additional_args "--video" "--video_interval" "1000"; '
        "the list ends at the next hpc-sweep flag (anything after a bare -- is passed too)",
    )
    sweep = parser.add_argument_group("sweep")
    if verb == "submit":
        _add(sweep, "grid", nargs="+", default=[], metavar="KEY=V1,V2", help="grid axes: our flags or Hydra overrides")
    _add(sweep, "executor", choices=tuple(LAUNCHERS), help="slurm (default when sbatch is on PATH), local, or debug")
    _add(sweep, "profile", help="profile name or .toml path (default: by task; see `hpc-sweep profiles`)")
    _add(sweep, "launcher", help="override the profile's launcher prefix, e.g. './isaaclab.sh -p'")
    _add(sweep, "train_script", help="override the profile's training script")
    _add(sweep, "workdir", help="override the profile's working directory")
    _add(sweep, "dry_run", action="store_true", help="print the plan and every run's command; create nothing")
    _add(sweep, "gpus_per_run", type=_positive_int, default=1, help="GPUs per run (per node with --nodes): >1 uses "
         "torch.distributed.run")  # fmt: skip
    _add(sweep, "nodes", type=_positive_int, default=1, help="slurm: nodes per run, one task each; >1 spreads one "
         "run over them with torch.distributed.run (see README: Runs bigger than one node)")  # fmt: skip
    _add(
        sweep,
        "runs_per_gpu",
        type=_positive_int,
        default=1,
        help="runs sharing one GPU: slurm packs them into one job, local gives each GPU that many slots",
    )
    _add(
        sweep,
        "max_parallel",
        type=_positive_int,
        help="local: runs at once (default: GPUs x runs_per_gpu, or CPU cores / 2)",
    )
    _add(sweep, "resume", action="store_true", help="reuse an existing sweep dir and run its unfinished runs")
    _add(
        sweep,
        "track",
        nargs="+",
        action="extend",
        default=[],
        type=_existing_path,
        metavar="PATH",
        help="code dirs whose git commit, status and diff are recorded in <sweep>/provenance (besides the workdir)",
    )
    slurm = parser.add_argument_group("slurm resources (override the profile's [slurm] table)")
    for resource in SLURM_RESOURCES:
        flag = resource.flag or resource.name
        if resource.kind is list:
            _add(slurm, flag, action="append", help=resource.help)
        elif resource.kind is dict:
            _add(slurm, flag, action="append", default=[], metavar="KEY=VALUE", help=resource.help)
        else:
            _add(slurm, flag, *([resource.short] if resource.short else []), type=resource.kind, help=resource.help)
    _add(slurm, "wait", action="store_true", help="block with a progress display, then collect")
    _add(
        slurm,
        "max_requeues",
        type=int,
        default=DEFAULT_MAX_REQUEUES,
        help=f"requeues on time limit/preemption (default {DEFAULT_MAX_REQUEUES})",
    )

    if verb == "submit":
        then = parser.add_argument_group("after the runs (see README: Submit and walk away)")
        _add(then, "then", choices=("collect", "none"), default="collect",
             help="collect (and compare by grid keys) when the runs end: slurm queues a CPU job after the array "
             "(default: collect)")  # fmt: skip
        _add(then, "notify", action="append", default=[], type=_notify_uri, metavar="URI",
             help="mailto:ADDR (Slurm mails at the collect job's end) or an https:// webhook that gets a summary "
             "(kept in <sweep>/.notify, mode 0600); repeatable")  # fmt: skip


def _add_tune_flags(parser: argparse.ArgumentParser) -> None:
    """``tune``'s own flags: the search, its rungs, its scores, its controller and its confirmation stage."""
    search = parser.add_argument_group(
        "search (the space: trailing KEY=loguniform(a,b) | uniform(a,b) | int(a,b) | logint(a,b) | choice(x,y,...))"
    )
    _add(search, "trials", type=_positive_int, default=20, help="configurations to sample (default: 20)")
    _add(search, "sampler", default="tpe", help="random, tpe, qmc or grid (Optuna's samplers; default: tpe)")
    _add(search, "sampler_seed", type=int, default=0, help="seed of the sampler: the same seed samples the same trials")
    _add(
        search,
        "rungs",
        type=_rungs,
        help="rung budgets in iterations, e.g. 100,300,900 (the last: the full budget)",
    )
    _add(search, "min_iterations", type=_positive_int, help="the first rung (default: max_iterations / eta^2)")
    _add(search, "eta", type=int, default=3, help="each rung keeps the best 1/eta of its trials (default: 3)")
    _add(search, "metric", default="mean_reward", help="the score's metric: canonical or a tag (default: mean_reward)")
    _add(search, "direction", choices=("maximize", "minimize"), default="maximize", help="(default: maximize)")
    _add(search, "final_window", type=_window, default=0.1, help="the score's window: fraction or iterations")
    _add(search, "min_seeds", type=_positive_int, help="seeds a score needs (default: more than half of --seeds)")
    _add(search, "concurrent_trials", type=_positive_int, help="trials at the first rung at once (default: all)")
    _add(search, "confirm", type=int, default=3, help="top configurations re-run with fresh seeds (default 3; 0: none)")
    _add(search, "confirm_seeds", nargs="+", type=int, help="their seeds (default: as many new seeds as --seeds)")
    _add(search, "poll_s", type=_positive_seconds, default=30.0, help="slurm: seconds between the controller's passes")


def _rungs(text: str) -> tuple[int, ...]:
    """``--rungs 100,300,900``: increasing positive iteration counts."""
    try:
        budgets = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give increasing iteration counts, e.g. 100,300,900") from None
    if any(b <= 0 for b in budgets) or any(a >= b for a, b in itertools.pairwise(budgets)):
        raise argparse.ArgumentTypeError(f"{text!r}: give increasing positive iteration counts, e.g. 100,300,900")
    return budgets


def _submit_parser(parser: argparse.ArgumentParser, verb: str = "submit") -> argparse.ArgumentParser:
    """The ``submit`` (or ``tune``) verb's own parser inside the top-level one."""
    verbs = next(a for a in parser._subparsers._group_actions if isinstance(a, argparse._SubParsersAction))  # type: ignore[union-attr]
    return verbs.choices[verb]


def one_value_flags(parser: argparse.ArgumentParser, verb: str = "submit") -> set[str]:
    """The submit (or tune) options that take exactly one value (``--sbatch mail-type=END``: that word is the
    option's value, not a Hydra override)."""
    actions = _submit_parser(parser, verb)._actions
    return {flag for action in actions if action.nargs is None for flag in action.option_strings}


def split_passthrough(argv: list[str], parser: argparse.ArgumentParser, verb: str = "submit") -> list[str]:
    """Let ``--additional_args`` take values that start with ``--`` (plain argparse rejects ``"--video"``).

    Values run from ``--additional_args`` to the next option hpc-sweep knows; everything after a bare ``--`` is
    passed through as well. Each value is re-attached as ``--additional_args=VALUE`` so argparse accepts it.
    """
    known = {flag for action in _submit_parser(parser, verb)._actions for flag in action.option_strings}
    out: list[str] = []
    passthrough: list[str] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        if token == "--":
            passthrough += argv[index + 1 :]
            break
        name, _, inline = token.partition("=")
        if name in ("--additional_args", "--additional-args"):
            if inline:
                passthrough.append(inline)
            index += 1
            while index < len(argv) and argv[index] != "--" and argv[index].partition("=")[0] not in known:
                passthrough.append(argv[index])
                index += 1
            continue
        out.append(token)
        index += 1
    return out + [f"--additional_args={value}" for value in passthrough]


def typed_flags(args_list: list[str]) -> frozenset[str]:
    """The submit options the user typed (their ``dest`` names), as opposed to those left at their defaults.

    A second parse where no option has a default leaves exactly the typed ones in the namespace (``--resume`` needs
    to know: typing the default seeds on a sweep recorded with other seeds is a change).
    """
    parser = build_parser()
    for action in _submit_parser(parser, args_list[0] if args_list[:1] == ["tune"] else "submit")._actions:
        action.default = argparse.SUPPRESS
    return frozenset(vars(parser.parse_args(args_list))) - {"verb"}


def _existing_path(text: str) -> Path:
    """A ``--track`` path: it must exist (its git state is recorded at submit)."""
    path = Path(text).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text!r} does not exist; give a code directory (a git checkout)")
    return path


def _window(text: str) -> float | int:
    """A final window: a fraction in (0, 1] or a positive iteration count."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0 or (value > 1 and not value.is_integer()):
        raise argparse.ArgumentTypeError(f"{text}: give a fraction in (0, 1] or a whole number of iterations")
    return value if value <= 1 else int(value)
