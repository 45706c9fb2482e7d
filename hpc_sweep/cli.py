"""The ``hpc-sweep`` command: parses flags, calls the verb, maps errors to exit codes (2 for bad input).

Verbs, each a module of :mod:`hpc_sweep.verbs` (or a few lines here):

* ``submit``    plan a sweep and launch it (slurm, local or debug)       -> verbs/submit.py
* ``tune``      search a space: successive halving, resume on promotion  -> verbs/tune.py, tune/
* ``status``    where each run of a sweep stands (``--watch`` redraws)   -> verbs/status.py
* ``collect``   results, tables and figures of a sweep or any log tree   -> verbs/collect.py
* ``compare``   multi-seed statistics and tests between groups of runs   -> verbs/compare.py
* ``resubmit``  new attempts of runs that did not complete (resuming)    -> verbs/resubmit.py
* ``cancel``    cancel a sweep's jobs, and only those                    -> verbs/cancel.py
* ``profiles``  the known cluster/training profiles                      -> here

The seed script's flags work as they were spelled (``--max_iterations``) and with dashes (``--max-iterations``);
``hpc-sweep --task ...`` means ``hpc-sweep submit``.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from hpc_sweep.cli_args import EXIT_USAGE, build_parser, one_value_flags, split_passthrough, typed_flags
from hpc_sweep.errors import HpcSweepError, UsageError
from hpc_sweep.grid import is_override_token, take_overrides
from hpc_sweep.report.console import make_console
from hpc_sweep.resources import SLURM_RESOURCES

EXIT_OK, EXIT_RUN_FAILED = 0, 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hpc-sweep`` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    first = args_list[0] if args_list else ""
    if (first.startswith("--") and first not in ("--help", "--version")) or is_override_token(first):
        args_list.insert(0, "submit")  # the seed script had no verbs: `hpc-sweep --task X ...` submits
    parser = build_parser()
    overrides: list[str] = []
    if args_list and args_list[0] in ("submit", "tune"):
        # Hydra overrides as plain trailing words, as Isaac Lab's train.py takes them (key=value, key=a,b); for tune
        # also the search space's dimensions (key=loguniform(a,b))
        verb = args_list[0]
        args_list, overrides = take_overrides(split_passthrough(args_list, parser, verb), one_value_flags(parser, verb))
    args = parser.parse_args(args_list)
    if args.verb in ("submit", "tune"):
        args.given, args.overrides = typed_flags(args_list), overrides
    try:
        return _VERBS[args.verb](args)
    except UsageError as error:
        print(f"hpc-sweep: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except HpcSweepError as error:
        print(f"hpc-sweep: {error}", file=sys.stderr)
        return EXIT_RUN_FAILED
    except KeyboardInterrupt:
        print("hpc-sweep: interrupted; finished runs are kept (resume with --resume)", file=sys.stderr)
        return 130


def _submit(args: argparse.Namespace) -> int:
    from hpc_sweep.verbs.submit import submit

    spec, options = _sweep_request(args)
    return EXIT_OK if submit(spec, options) else EXIT_RUN_FAILED


def _tune(args: argparse.Namespace) -> int:
    from hpc_sweep.tune.space import is_search_item
    from hpc_sweep.verbs.tune import TuneRequest, tune

    words = [*args.overrides, *args.additional_args]  # a dimension typed after --additional_args is one too
    space = tuple(word for word in words if is_search_item(word))
    args.overrides = [word for word in args.overrides if not is_search_item(word)]
    args.additional_args = [word for word in args.additional_args if not is_search_item(word)]
    args.grid = []
    spec, options = _sweep_request(args, prefix="tune")
    if spec.grid:
        key = spec.grid[0][0]
        raise UsageError(f"tune samples its configurations: {key} lists several values; write {key}=choice(a,b,...)")
    request = TuneRequest(
        space=space,
        trials=args.trials,
        sampler=args.sampler,
        sampler_seed=args.sampler_seed,
        rungs=args.rungs,
        min_iterations=args.min_iterations,
        eta=args.eta,
        metric=args.metric,
        direction=args.direction,
        final_window=args.final_window,
        min_seeds=args.min_seeds,
        concurrent_trials=args.concurrent_trials,
        confirm=args.confirm,
        confirm_seeds=tuple(args.confirm_seeds) if args.confirm_seeds else None,
        poll_s=args.poll_s,
        max_iterations_given="max_iterations" in args.given,
    )
    return EXIT_OK if tune(spec, options, request) else EXIT_RUN_FAILED


def _sweep_request(args: argparse.Namespace, prefix: str = "multi_run") -> tuple[Any, Any]:
    """The spec and submit options of ``submit`` (and ``tune``) from their shared flags."""
    from hpc_sweep.spec import SweepSpec, parse_grid, split_overrides
    from hpc_sweep.verbs.submit import SubmitOptions

    grid_items, fixed = split_overrides(args.overrides)  # sweeps become grid axes, single values go to every run
    given = args.given | {name for name, extra in (("grid", grid_items), ("additional_args", fixed)) if extra}

    stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    spec = SweepSpec(
        task=args.task,
        seeds=tuple(args.seeds),
        max_iterations=args.max_iterations,
        num_envs=args.num_envs,
        common_folder=args.common_folder if args.common_folder is not None else f"{prefix}_{stamp}",
        headless=args.headless,
        world=args.world,
        additional_args=(*args.additional_args, *fixed),
        grid=parse_grid([*args.grid, *grid_items]),
        gpus_per_run=args.gpus_per_run,
        nodes=args.nodes,
        runs_per_gpu=args.runs_per_gpu,
    )
    if args.max_requeues < 0:
        raise UsageError(f"--max_requeues {args.max_requeues}: give 0 or more")
    executor = args.executor or ("slurm" if shutil.which("sbatch") else "local")
    sweep_dir = Path(args.output_dir or f"{'tune' if prefix == 'tune' else 'multi_training'}_{stamp}")
    options = SubmitOptions(
        executor=executor,
        sweep_dir=sweep_dir,
        profile=args.profile,
        launcher=args.launcher,
        train_script=args.train_script,
        workdir=args.workdir,
        dry_run=args.dry_run,
        resume=args.resume,
        max_parallel=args.max_parallel,
        resources=_resources(args),
        slurm_python=args.slurm_python,
        wait=args.wait,
        max_requeues=args.max_requeues,
        given=given,
        track=tuple(args.track),
        then=getattr(args, "then", "none"),
        notify=tuple(getattr(args, "notify", ())),
    )
    return spec, options


def _resources(args: argparse.Namespace) -> dict[str, Any]:
    """Slurm resources given on the command line, by our resource name (None = keep the profile's)."""
    resources: dict[str, Any] = {}
    for resource in SLURM_RESOURCES:
        value = getattr(args, resource.flag or resource.name)
        if resource.kind is dict:
            value = _sbatch_options(value)
        resources[resource.name] = value
    resources.pop("python")  # the node's Python is --slurm_python, a submit option of its own
    return resources


def _sbatch_options(items: list[str]) -> dict[str, str] | None:
    """``--sbatch KEY=VALUE`` items as sbatch options (dashes as underscores, as submitit spells them)."""
    extra: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--sbatch {item!r} is malformed: write KEY=VALUE, e.g. --sbatch mail-type=END")
        extra[key.strip().lstrip("-").replace("-", "_")] = value
    return extra or None


def _compare(args: argparse.Namespace) -> int:
    from hpc_sweep.verbs.compare import compare_paths

    compare_paths(args.paths, args.by, args.metric, args.final_window, args.output_dir)
    return EXIT_OK


def _cancel(args: argparse.Namespace) -> int:
    from hpc_sweep.verbs.cancel import cancel_sweep

    cancel_sweep(args.sweep_dir)
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    from hpc_sweep.verbs.status import show_status

    return EXIT_OK if show_status(args.sweep_dir, watch=args.watch) else EXIT_RUN_FAILED


def _collect(args: argparse.Namespace) -> int:
    from hpc_sweep.verbs.collect import collect_sweep

    collect_sweep(args.path, args.output_dir, csv=args.csv, cache=args.cache, use_cache=not args.no_cache)
    return EXIT_OK


def _resubmit(args: argparse.Namespace) -> int:
    from hpc_sweep.verbs.resubmit import resubmit

    return EXIT_OK if resubmit(args.sweep_dir, args.failed, args.runs, args.max_parallel) else EXIT_RUN_FAILED


def _profiles() -> int:
    from rich.table import Table

    from hpc_sweep.profiles import available_profiles, load_profile

    table = Table(title="hpc-sweep profiles")
    for column in ("name", "description", "command", "file"):
        table.add_column(column, overflow="fold")
    for name, path in available_profiles().items():
        profile = load_profile(str(path))
        command = shlex.join([*profile.launcher, profile.script])
        table.add_row(name, profile.description, command, str(path))
    make_console().print(table)
    return EXIT_OK


_VERBS = {
    "submit": _submit,
    "tune": _tune,
    "status": _status,
    "collect": _collect,
    "compare": _compare,
    "resubmit": _resubmit,
    "cancel": _cancel,
    "profiles": lambda _args: _profiles(),
}


if __name__ == "__main__":
    sys.exit(main())
