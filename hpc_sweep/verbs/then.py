"""What follows a sweep's runs (``--then``): on Slurm a collect job queued after the arrays, elsewhere the same step
here once the runs have ended; and the notification (``--notify``) that ends it.

The step is ``hpc-sweep collect <sweep>``, then ``compare --by KEY`` for each grid key that has more than one value
(one such key: ``comparison.*`` beside ``training_analysis.png``; several: one ``compare_by_<key>/`` folder each),
then a POST of a short summary to each webhook. It is one function, :func:`follow_up`: the Slurm job runs it with
the sweep's Python (submitit pickles it with the sweep dir and the keys, nothing secret), a local sweep calls it.
A collect that fails still notifies (the message says so), then fails the step, so that Slurm's mail says FAIL.

What the manifest records, under ``options.then``: ``step`` (``collect``/``none``), ``compare_by``, ``mail`` (the
address of ``--notify mailto:``), ``webhooks`` (how many; the URLs are only in ``<sweep>/.notify``, mode 0600) and,
for Slurm, the collect job's ``slurm_parameters``. The jobs themselves are ``followups`` (see
:mod:`hpc_sweep.launch.followup`). ``--wait`` on Slurm waits for the collect job too, then shows the results here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from hpc_sweep.errors import HpcSweepError, UsageError
from hpc_sweep.launch.base import Launcher
from hpc_sweep.launch.followup import (
    arrays_to_follow,
    followup_parameters,
    followup_script,
    followups,
    in_flight,
    submit_followup,
    supersede_pending,
)
from hpc_sweep.launch.notify import notify_webhooks, split_targets, write_secret
from hpc_sweep.launch.sacct import job_states
from hpc_sweep.manifest import Sweep, load_sweep, refresh_manifest
from hpc_sweep.profiles import Profile
from hpc_sweep.report.console import make_console
from hpc_sweep.report.notice import notice_text
from hpc_sweep.resources import then_parameters
from hpc_sweep.runstate import SLURM_TERMINAL
from hpc_sweep.spec import SweepSpec

STEPS = ("collect", "none")
#: ``compare``'s own defaults (``--metric``, ``--final_window``): the step compares as the command would.
_METRIC, _FINAL_WINDOW = "mean_reward", 0.1
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


def then_settings(
    spec: SweepSpec, executor: str, step: str, notify: Sequence[str], profile: Profile, launcher: dict[str, Any]
) -> dict[str, Any]:
    """What ``options.then`` records (see the module docstring), every value checked before anything exists.

    Raises: :class:`UsageError` for a bad ``--notify``, ``--notify`` with ``--then none``, or mail without Slurm.
    """
    if step not in STEPS:
        raise UsageError(f"--then {step!r}: give one of {', '.join(STEPS)}")
    targets = split_targets(notify)
    if step == "none" and (targets.mail or targets.webhooks):
        raise UsageError("--notify announces the collect step's end: drop --then none, or drop --notify")
    if targets.mail is not None and executor != "slurm":
        raise UsageError(
            f"--notify mailto:{targets.mail}: Slurm sends the mail with its collect job; with --executor {executor} "
            "use a webhook (--notify https://...)"
        )
    settings: dict[str, Any] = {
        "step": step,
        "compare_by": [key for key, values in spec.grid if len(values) > 1],
        "mail": targets.mail,
        "webhooks": len(targets.webhooks),
    }
    if executor == "slurm" and step == "collect":
        resources = then_parameters(profile.then, f"profile {profile.source} [then]")
        settings["slurm_parameters"] = followup_parameters(launcher["slurm_parameters"], resources, targets.mail)
    return settings


def refuse_then_change(step: str, notify: Sequence[str]) -> None:
    """``--resume`` reruns the recorded plan, its ``--then`` and ``--notify`` included: giving others is refused."""
    if step != "collect" or notify:
        raise UsageError("--resume keeps the sweep's recorded --then and --notify; drop them from this command")


def store_notify(sweep_dir: Path, notify: Sequence[str]) -> None:
    """Keep the webhook URLs of ``--notify`` in ``<sweep>/.notify`` (mode 0600), the one place they are written."""
    webhooks = split_targets(notify).webhooks
    if webhooks:
        write_secret(sweep_dir, webhooks)


def _what(settings: dict[str, Any]) -> str:
    """``collect, compare --by lr, mail END,FAIL to a@b, 1 webhook``."""
    parts = ["collect", *(f"compare --by {key}" for key in settings.get("compare_by", []))]
    if settings.get("mail"):
        parts.append(f"mail END,FAIL to {settings['mail']}")
    if settings.get("webhooks"):
        parts.append(f"{settings['webhooks']} webhook(s), URL kept in .notify (mode 0600), not shown")
    return ", ".join(parts)


def describe_then(settings: dict[str, Any], launcher: Launcher, sweep_dir: Path, console: Console) -> None:
    """For ``--dry_run``: what follows the runs, and the collect job's sbatch script on Slurm (never a URL). A local
    sweep's plain collect at its end is no news (its dry run ends with the runs' commands, as before); a webhook is."""
    if launcher.runs_here:
        if settings.get("webhooks"):
            console.print(f"then, here when the runs end: {_what(settings)}", highlight=False, markup=False)
        return
    if settings.get("step") != "collect":
        console.print("then: nothing (--then none); collect by hand: hpc-sweep collect <sweep>", highlight=False)
        return
    console.print(
        f"then: one CPU-only Slurm job after the array ends: {_what(settings)}", highlight=False, markup=False
    )
    folder = str(sweep_dir / "submitit" / "%j")
    python = launcher.settings()["slurm_python"]
    script = followup_script(folder, settings["slurm_parameters"], python, ["ARRAY_ID"])
    console.print(script, highlight=False, markup=False, soft_wrap=True)


def then_of(sweep: Sweep) -> dict[str, Any] | None:
    """The recorded ``options.then`` (None for a sweep made before it existed)."""
    settings = sweep.manifest.get("options", {}).get("then")
    return settings if isinstance(settings, dict) else None


def queue_then(launcher: Launcher, sweep: Sweep, console: Console) -> None:
    """On Slurm, after the arrays were queued: queue the collect job after them (and after every array still in
    flight), replacing an older one that has not started. A failure to queue it is a warning: the runs are queued."""
    settings = then_of(sweep)
    if launcher.name != "slurm" or not settings or "slurm_parameters" not in settings:
        return
    arrays = [str(job["array_id"]) for job in sweep.manifest.get("jobs", [])]
    try:
        after = arrays_to_follow(sweep, arrays)
        if not after:
            return
        older = [entry["job_id"] for entry in followups(sweep)]
        args = (str(sweep.layout.root), list(settings.get("compare_by", [])))
        python = launcher.settings()["slurm_python"]
        job_id = submit_followup(sweep, settings["slurm_parameters"], python, after, follow_up, *args)
    except HpcSweepError as error:
        console.print(
            f"[yellow]warning:[/yellow] the collect job could not be queued ({error}); when the runs end: "
            f"hpc-sweep collect {sweep.layout.root}",
            highlight=False,
        )
        return
    replaced = supersede_pending(sweep, older)
    refresh_manifest(sweep)
    note = f" (replaces collect job {', '.join(replaced)}, which had not started)" if replaced else ""
    console.print(
        f"then: collect job {job_id} queued after array(s) {', '.join(after)}: {_what(settings)}{note}",
        highlight=False,
        markup=False,
    )


def then_here(launcher: Launcher, sweep_dir: Path, console: Console) -> None:
    """After runs that ran here: the step itself (unless ``--then none``). After ``--wait`` on Slurm: wait for the
    collect job (one Slurm no longer knows has ended), then show the results here (collect again, which reads only
    what changed: nothing)."""
    from hpc_sweep.verbs.collect import collect_sweep

    sweep = load_sweep(sweep_dir)
    settings = then_of(sweep) or {"step": "collect", "compare_by": []}
    if launcher.runs_here:
        if settings.get("step") == "none":
            console.print(f"not collected (--then none): hpc-sweep collect {sweep.layout.root}", highlight=False)
            return
        follow_up(str(sweep.layout.root), list(settings.get("compare_by", [])), console)
        return
    waiting = [str(entry["job_id"]) for entry in followups(sweep) if in_flight(entry)]
    while waiting:
        states = job_states(waiting)
        waiting = [job_id for job_id in waiting if job_id in states and states[job_id] not in SLURM_TERMINAL]
        if waiting:
            time.sleep(5.0)
    collect_sweep(sweep.layout.root, None, console=console)


def compare_dirs(sweep_dir: Path, keys: Sequence[str]) -> dict[str, Path]:
    """Where ``compare --by KEY`` writes for each key: the sweep dir for one key, ``compare_by_<key>/`` for more."""
    if len(keys) == 1:
        return {keys[0]: sweep_dir}
    return {key: sweep_dir / f"compare_by_{_UNSAFE.sub('_', key).strip('.') or 'key'}" for key in keys}


def follow_up(sweep_dir: str, compare_by: Sequence[str], console: Console | None = None) -> dict[str, Any]:
    """The step: collect, compare by each grid key, post the summary to the webhooks; what went wrong, returned.

    The collect job's function (pickled by submitit with these arguments only: the webhook URLs are read from the
    sweep's ``.notify`` here, at run time). A failed collect is raised again after the notification.
    """
    from hpc_sweep.verbs.collect import collect_sweep
    from hpc_sweep.verbs.compare import compare_paths

    console = console or make_console()
    root = Path(sweep_dir)
    problems: list[str] = []
    failure: BaseException | None = None
    try:
        collect_sweep(root, None, console=console)
    except Exception as error:  # reported in the notification, then raised again
        failure, problems = error, [f"collect failed: {error}"]
    figures = [root / "training_analysis.png"]
    for key, out in compare_dirs(root, list(compare_by)).items() if failure is None else ():
        try:
            out.mkdir(parents=True, exist_ok=True)
            compare_paths([root], key, _METRIC, _FINAL_WINDOW, out, console=console)
            figures.append(out / "comparison.png")
        except HpcSweepError as error:  # e.g. fewer than two groups with completed runs
            problems.append(f"compare --by {key}: {error}")
            console.print(f"[yellow]warning:[/yellow] compare --by {key}: {error}", highlight=False)
    failed_posts = notify_webhooks(root, notice_text(root, figures, problems))
    for line in failed_posts:
        console.print(f"[yellow]warning:[/yellow] notification not delivered: {line}", highlight=False)
    if failure is not None:
        raise failure
    return {"problems": problems, "undelivered": failed_posts}


def followup_lines(sweep: Sweep) -> list[str]:
    """One line per collect job of the sweep for ``status`` (Slurm's state as the last sacct call saw it)."""
    lines = []
    for entry in followups(sweep):
        after = ", ".join(str(array) for array in entry.get("after", []))
        state = str(entry.get("state", "unknown")).lower()
        lines.append(f"then: collect job {entry['job_id']} (after array {after}): {state}")
    return lines
