"""The tune controller: reads where the runs stand, records decisions, sends submissions; again, until done.

One pass (:meth:`Controller.step`):

1. score every trial whose runs all ended at the rung they were sent to (each seed's final-window mean of the metric
   from its TensorBoard events, read incrementally; the trial's score is the IQM over seeds), and tell Optuna the
   rung-0 score of each new trial (the one budget every trial reaches, so the sampler compares like with like);
2. promote (:func:`hpc_sweep.tune.promotion.promotions`, from the top rung down): a promoted trial's completed runs
   are submitted again with the next rung's budget and resume from their last checkpoint;
3. start new trials while fewer than ``concurrent_trials`` train at rung 0 (asked from Optuna's sampler);
4. when every trial has been started, none is in flight and none can be promoted: the confirmation stage (the top
   ``confirm`` trials again, with fresh seeds, at the full budget), then the comparison of those, and done.

Every decision is written to ``tune/state.json`` before it is acted on (see :mod:`hpc_sweep.tune.state`). Where a
crash leaves it open whether a recorded submission reached Slurm, the submission's unique job name
(``<job name>.s<id>``) is looked up (:func:`hpc_sweep.launch.sacct.jobs_named`) before it is sent again; and a
duplicate that does slip through trains nothing, since a job whose run already reached its budget returns at once
(:func:`hpc_sweep.job.reached_budget`).

On Slurm the controller runs as a small CPU job (:class:`ControllerJob`, requeued on its time limit) and sends each
submission as a job array as soon as it is decided. Locally (``--executor local`` or ``debug``) it runs in the
foreground and each submission runs to its end before the next pass.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from hpc_sweep.errors import HpcSweepError
from hpc_sweep.launch.base import launcher_for
from hpc_sweep.layout import SweepLayout
from hpc_sweep.manifest import Sweep, load_sweep, refresh_manifest
from hpc_sweep.profiles import Profile
from hpc_sweep.records import now_iso
from hpc_sweep.runstate import RunState, parse_state
from hpc_sweep.spec import SweepSpec
from hpc_sweep.tune.observe import RunCurves, ended_jobs, run_outcome
from hpc_sweep.tune.promotion import RungOutcome, promotions, seed_score, trial_score
from hpc_sweep.tune.runs import (
    add_runs,
    budget_requests,
    next_index,
    submission_name,
    trial_label,
    trial_runs,
    trials_span,
)
from hpc_sweep.tune.space import SearchSpace, parse_space
from hpc_sweep.tune.state import (
    Submission,
    Trial,
    TuneConfig,
    TuneState,
    journal_path,
    read_config,
    read_state,
    tune_dir,
    write_state,
)

#: Fault injection for the restart tests: ``<point>:<submission id>`` makes the controller die (``os._exit``) at that
#: point of that submission: ``before_send`` (recorded, not sent) or ``after_send`` (sent, ids not recorded).
FAULT_ENV = "HPC_SWEEP_TUNE_FAULT"
#: What ends a study once its confirmation runs ended: ``(root, config, state, ranking, console) -> result``
#: (``hpc-sweep tune`` collects the study and compares the confirmed trials; see :mod:`hpc_sweep.verbs.tune`).
Finisher = Callable[[Path, TuneConfig, TuneState, list[Trial], Console], dict[str, Any]]


class Controller:
    """A tune study's controller, over its sweep dir (all its state is in files; see the module docstring)."""

    def __init__(self, sweep_dir: Path, console: Console | None = None, finish: Finisher | None = None) -> None:
        self.root = Path(sweep_dir).resolve()
        self.layout = SweepLayout(self.root)
        self.console = console or Console(stderr=True)
        self.config: TuneConfig = read_config(self.root)
        self.space: SearchSpace = parse_space(self.config.space)
        self.state: TuneState = read_state(self.root)
        sweep = load_sweep(self.root)
        self.spec = _spec_of(sweep)
        self.profile = Profile.from_dict(sweep.manifest["profile"])
        self.python = sweep.manifest.get("options", {}).get("slurm_python")
        self.executor = str(sweep.manifest.get("executor", "local"))
        self.curves = RunCurves(self.layout, self.config.metric, tune_dir(self.root) / "events")
        self._study: Any = None
        self._finisher = finish
        self._resent: set[int] = set()

    # ------------------------------------------------------------------ the loop
    def run(self) -> TuneState:
        """Pass after pass until the study is done; on Slurm it sleeps ``poll_s`` between passes."""
        while True:
            pending = self.step()
            for submission in pending:
                self.send(submission)
            if self.state.phase == "done":
                return self.state
            if self.executor == "slurm":
                time.sleep(self.config.poll_s)
            elif not pending:  # here every run sent has ended: a pass that decides nothing can only repeat itself
                stuck = [t.trial for t in self.state.trials if t.in_flight]
                raise HpcSweepError(
                    f"tune: the runs of {', '.join(map(trial_label, stuck)) or 'the confirmation'} did not end "
                    f"(see hpc-sweep status {self.root}); restart with hpc-sweep tune --resume --output_dir {self.root}"
                )

    def step(self) -> list[Submission]:
        """One pass of decisions (see the module docstring); returns the submissions not sent yet (new or left open
        by a crash), every one of them already recorded in ``state.json``."""
        sweep = load_sweep(self.root)
        launcher = launcher_for(sweep)
        launcher.refresh(sweep)
        records = {run["run_id"]: run for run in sweep.runs}
        ended = ended_jobs(self.state.submissions) if launcher.name == "slurm" else set()
        changed = self._score(records, ended)
        decided = self._promote(sweep)
        decided += self._start_trials(sweep)
        if self.state.phase == "search" and self._search_over():
            decided += self._start_confirmation(sweep)
        if self.state.phase == "confirm" and self._confirmation_over(records, ended):
            self._finish()
            changed = True
        if decided or changed:
            write_state(self.root, self.state)
            self._report()
        return [s for s in self.state.submissions if s.job_ids is None or self._lost(s, records, ended)]

    # ------------------------------------------------------------------ reading the runs
    def _score(self, records: dict[str, dict[str, Any]], ended: set[str]) -> bool:
        """Score each trial whose runs all ended at its rung; tell Optuna the rung-0 scores."""
        changed = False
        for trial in self.state.trials:
            if not trial.in_flight:
                continue
            budget = self.config.rungs[trial.rung]
            sent = self._runs_at(trial, trial.rung)
            outcomes = {run_id: run_outcome(records[run_id], budget, ended) for run_id in sent}
            if any(outcome is None for outcome in outcomes.values()):
                continue
            seed_scores = []
            for run_id, outcome in outcomes.items():
                curve = self.curves.curve(records[run_id]) if outcome == "completed" else None
                seed_scores.append(None if curve is None else seed_score(*curve, budget, self.config.final_window))
            trial.scores[trial.rung] = trial_score(seed_scores, self.config.min_seeds)
            trial.seeds_scored[trial.rung] = sum(score is not None for score in seed_scores)
            changed = True
        for trial in self.state.trials:
            if 0 in trial.scores and not trial.told:
                from hpc_sweep.tune.sampler import tell

                tell(self.study, trial.trial, trial.scores[0])
                trial.told = True
                changed = True
        return changed

    def _runs_at(self, trial: Trial, rung: int) -> list[str]:
        """The trial's runs that were sent to ``rung`` (a seed that failed below it is not sent on)."""
        budget = self.config.rungs[rung]
        return [run_id for run_id in trial.runs if (self.state.budget_of(run_id) or 0) >= budget] or trial.runs

    # ------------------------------------------------------------------ decisions
    def _promote(self, sweep: Sweep) -> list[Submission]:
        """Promotions from every rung, top rung first; one submission per rung with promotions."""
        decided = []
        for rung in reversed(range(len(self.config.rungs) - 1)):
            finished = [RungOutcome(t.trial, t.scores[rung]) for t in self.state.trials if rung in t.scores]
            already = {t.trial for t in self.state.trials if t.rung > rung}
            chosen = promotions(finished, already, self.config.eta, self.config.maximize)
            if not chosen:
                continue
            runs: list[str] = []
            for number in chosen:
                trial = self.state.trial(number)
                assert trial is not None
                records = {run["run_id"]: run for run in sweep.runs}
                completed = [
                    run_id
                    for run_id in self._runs_at(trial, rung)
                    if parse_state(records[run_id].get("state")) is RunState.COMPLETED
                ]
                trial.rung = rung + 1
                runs += completed
            listed = ", ".join(trial_label(n) for n in chosen)
            decided.append(self._new_submission(self.config.rungs[rung + 1], runs, f"rung {rung + 1}: {listed}"))
        return decided

    def _start_trials(self, sweep: Sweep) -> list[Submission]:
        """New trials while fewer than ``concurrent_trials`` train at rung 0: adopted (asked before a crash) or new."""
        from hpc_sweep.tune.sampler import ask, running_trials

        limit = self.config.concurrent_trials or self.config.trials
        busy = sum(1 for t in self.state.trials if t.rung == 0 and t.in_flight)
        room = min(limit - busy, self.config.trials - len(self.state.trials))
        if room <= 0 or self.state.phase != "search":
            return []
        known = {t.trial for t in self.state.trials}
        adopted = sorted((n, p) for n, p in running_trials(self.study).items() if n not in known)
        index = next_index(sweep.manifest)
        new_runs, new_trials = [], []
        for _ in range(room):
            number, params = adopted.pop(0) if adopted else ask(self.study, self.space)
            label = trial_label(number)
            existing = [run["run_id"] for run in sweep.runs if run.get("group") == label]
            if existing:  # its runs were planned before a crash
                new_trials.append(Trial(number, params, existing))
                continue
            runs = trial_runs(self.spec, self.space, number, params, self.spec.seeds, index)
            index += len(runs)
            new_runs += runs
            new_trials.append(Trial(number, params, [run.run_id for run in runs]))
        if new_runs:
            add_runs(self.layout, new_runs, self.profile, self.python)
        self.state.trials += new_trials
        numbers = [t.trial for t in new_trials]
        purpose = f"rung 0: {trials_span(numbers)}"
        return [self._new_submission(self.config.rungs[0], [r for t in new_trials for r in t.runs], purpose)]

    def _search_over(self) -> bool:
        """All trials started and scored at their rung, and no promotion left (the last pass made none)."""
        if len(self.state.trials) < self.config.trials or any(t.in_flight for t in self.state.trials):
            return False
        return not any(s.job_ids is None for s in self.state.submissions)

    def ranking(self) -> list[Trial]:
        """Trials best first: the highest rung reached with a score, then the score there, then the trial number."""
        sign = -1.0 if self.config.maximize else 1.0

        def key(trial: Trial) -> tuple[int, float, int]:
            rung = trial.best_rung()
            if rung is None:
                return (1, 0.0, trial.trial)
            return (-rung, sign * float(trial.scores[rung] or 0.0), trial.trial)

        return sorted((t for t in self.state.trials if t.best_rung() is not None), key=key)

    def _start_confirmation(self, sweep: Sweep) -> list[Submission]:
        top = self.ranking()[: self.config.confirm]
        if not top or not self.config.confirm_seeds:
            self.state.phase = "confirm"
            self.state.confirm = {"trials": [], "runs": {}}
            return []
        index = next_index(load_sweep(self.root).manifest)
        runs = []
        by_trial: dict[str, list[str]] = {}
        for trial in top:
            planned = trial_runs(
                self.spec, self.space, trial.trial, trial.params, self.config.confirm_seeds, index, "confirm"
            )
            index += len(planned)
            runs += planned
            by_trial[str(trial.trial)] = [run.run_id for run in planned]
        add_runs(self.layout, runs, self.profile, self.python)
        self.state.phase = "confirm"
        self.state.confirm = {"trials": [t.trial for t in top], "runs": by_trial}
        purpose = f"confirmation: {', '.join(trial_label(t.trial) for t in top)} with fresh seeds"
        return [self._new_submission(self.config.rungs[-1], [r.run_id for r in runs], purpose)]

    def _confirmation_over(self, records: dict[str, dict[str, Any]], ended: set[str]) -> bool:
        confirm = self.state.confirm or {}
        runs = [run_id for ids in confirm.get("runs", {}).values() for run_id in ids]
        budget = self.config.rungs[-1]
        if any(run_id not in records for run_id in runs):
            return False  # planned in a pass whose manifest this one has not read
        return all(run_outcome(records[run_id], budget, ended) is not None for run_id in runs)

    def _finish(self) -> None:
        if self._finisher is not None:
            self.state.result = self._finisher(self.root, self.config, self.state, self.ranking(), self.console)
        self.state.phase = "done"

    def _new_submission(self, budget: int, runs: list[str], purpose: str) -> Submission:
        number = len(self.state.submissions)
        name = submission_name(self.spec.common_folder, self.root, number)
        submission = Submission(number, name, budget, runs, purpose, now_iso())
        self.state.submissions.append(submission)
        self.console.print(f"tune: {purpose} ({len(runs)} runs to {budget} iterations)", highlight=False)
        return submission

    # ------------------------------------------------------------------ sending
    def _lost(self, submission: Submission, records: dict[str, dict[str, Any]], ended: set[str]) -> bool:
        """A local submission sent before a crash whose runs did not all end: send it again (they resume)."""
        if self.executor == "slurm" or submission.job_ids is None or submission.id in self._resent:
            return False
        self._resent.add(submission.id)  # once per controller: a run that cannot end must not loop it forever
        return any(
            run_id in records and run_outcome(records[run_id], submission.budget, ended) is None
            for run_id in submission.runs
        )

    def send(self, submission: Submission) -> None:
        """Send one recorded submission (on Slurm, first settle whether a crash already sent it)."""
        _fault("before_send", submission.id)
        sweep = load_sweep(self.root)
        launcher = launcher_for(sweep)
        requests = budget_requests(sweep.manifest, self.root, submission.runs, submission.budget)
        if launcher.name == "slurm":
            from hpc_sweep.launch.sacct import jobs_named

            found = jobs_named(submission.name, submission.created)
            if found:
                self._adopt(sweep, submission, found)
                return
            from hpc_sweep.launch.slurm import SlurmLauncher

            named = SlurmLauncher.from_settings(
                {**launcher.settings(), "slurm_parameters": {**launcher.settings()["slurm_parameters"],
                                                             "job_name": submission.name}}
            )  # fmt: skip
            named.launch(sweep, requests, self.console)
            _fault("after_send", submission.id)
            by_run = {run["run_id"]: run.get("job_id") for run in load_sweep(self.root).runs}
            submission.job_ids = [str(by_run.get(run_id)) for run_id in submission.runs]
        else:
            submission.job_ids = ["local"] * len(submission.runs)
            write_state(self.root, self.state)  # sent: a restart re-sends it only if its runs did not all end
            launcher.launch(sweep, requests, self.console)
        write_state(self.root, self.state)

    def _adopt(self, sweep: Sweep, submission: Submission, found: dict[str, str]) -> None:
        """Record the jobs a crashed controller had sent for ``submission`` (found by its job name)."""
        arrays = sorted({job.split("_")[0] for job in found}, key=int)
        tasks = sorted(
            (job for job in found if "_" in job), key=lambda job: (int(job.split("_")[0]), int(job.split("_")[1]))
        )
        per_job = int(sweep.manifest.get("options", {}).get("runs_per_job", 1))
        job_ids = [
            tasks[min(i // per_job, len(tasks) - 1)] if tasks else arrays[0] for i in range(len(submission.runs))
        ]
        submission.job_ids = job_ids
        by_run = dict(zip(submission.runs, job_ids, strict=True))
        for run in sweep.runs:
            if run["run_id"] in by_run:
                run["job_id"] = by_run[run["run_id"]]
        jobs = sweep.manifest.get("jobs", [])
        known = {job["array_id"] for job in jobs}
        jobs += [{"array_id": array, "submitted": submission.created} for array in arrays if array not in known]
        refresh_manifest(sweep, jobs=jobs)
        write_state(self.root, self.state)
        self.console.print(f"tune: submission {submission.id} had been sent before a restart: jobs {', '.join(arrays)}")

    # ------------------------------------------------------------------ outputs
    @property
    def study(self) -> Any:
        if self._study is None:
            from hpc_sweep.tune.sampler import make_sampler, open_study

            sampler = make_sampler(self.config.sampler, self.config.sampler_seed, self.space)
            name = self.spec.common_folder or "hpc_sweep"
            self._study = open_study(journal_path(self.root), name, self.config.direction, sampler)
        return self._study

    def _report(self) -> None:
        from hpc_sweep.tune.progress import write_progress

        write_progress(self)


def _spec_of(sweep: Sweep) -> SweepSpec:
    data = dict(sweep.manifest["spec"])
    data["seeds"] = tuple(data["seeds"])
    data["additional_args"] = tuple(data.get("additional_args", ()))
    data["grid"] = ()
    return SweepSpec(**data)


def _fault(point: str, submission: int) -> None:
    """Die here when :data:`FAULT_ENV` asks for this point of this submission (the restart tests)."""
    if os.environ.get(FAULT_ENV) == f"{point}:{submission}":
        os._exit(17)
