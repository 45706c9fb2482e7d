"""The one table of Slurm resources: our name (profile ``[slurm]`` key and command-line flag), its type, submitit's
parameter, sbatch's spelling, and the rule a value must follow.

``cli`` builds its flags from it, ``profiles`` validates ``[slurm]`` values against it, ``launch.slurm`` translates
through it: a resource added here is accepted everywhere at once. Every value ends up in an sbatch script, so each
is checked here before it can get there: names against Slurm's own character rules, numbers against a range
(booleans are not numbers), text for control characters, and ``--sbatch`` options against the ones hpc-sweep
writes itself. Standard library only.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any

from hpc_sweep.errors import UsageError
from hpc_sweep.names import check_one_line, shown

#: The longest time limit accepted: one year (Slurm itself allows more, but no training job needs it, and a typo
#: such as 99999999999999999999 should not become a limit that Slurm may read as infinite or reject late).
MAX_TIME_MINUTES = 365 * 24 * 60
#: The largest memory request accepted, in GB (1 PiB): larger is a typo, and Slurm's counters overflow past it.
MAX_MEM_GB = 1024 * 1024

_NAME = "[A-Za-z0-9_.-]+"
_FEATURE_CHARS = r"A-Za-z0-9_.:+\-&|,*()\[\]!"


@dataclass(frozen=True)
class SlurmResource:
    """One Slurm resource as each layer names it, and what its values may be."""

    name: str  # our name: the profile's [slurm] key
    kind: type  # the value's type in a profile and on the command line
    help: str
    submitit: str | None  # submitit SlurmExecutor parameter (``additional_parameters.<key>`` for an sbatch option
    # submitit has no parameter for); None when it is not one (the node's Python)
    sbatch: str  # what the user would write to sbatch
    flag: str | None = None  # the command-line flag when it is not --<name>
    short: str | None = None  # a one-letter alias as sbatch spells it (``-p``)
    pattern: str | None = None  # text values: the whole value matches this (Slurm's rule for such a name)
    expected: str = ""  # text values: what a valid value looks like, for the error message
    low: int | None = None  # counts: the smallest and the largest accepted
    high: int | None = None

    @property
    def option(self) -> str:
        """The command-line flag, e.g. ``--mem_gb``."""
        return f"--{self.flag or self.name}"


SLURM_RESOURCES: tuple[SlurmResource, ...] = (
    SlurmResource(
        "partition", str, "partition", "partition", "--partition", pattern=f"{_NAME}(,{_NAME})*",
        expected="a partition name of letters, digits, '.', '_' or '-' (several separated by commas)", short="-p",
    ),
    SlurmResource(
        "account", str, "account to charge", "account", "--account", pattern=_NAME,
        expected="an account name of letters, digits, '.', '_' or '-'",
    ),
    SlurmResource(
        "qos", str, "quality of service", "qos", "--qos", pattern=_NAME,
        expected="a QOS name of letters, digits, '.', '_' or '-'",
    ),
    SlurmResource("time", str, "time limit per run: MM, HH:MM:SS or D-HH:MM:SS", "time", "--time"),
    SlurmResource("gpus_per_node", int, "GPUs per job", "gpus_per_node", "--gpus-per-node", low=0, high=256),
    SlurmResource("cpus_per_task", int, "CPUs per job", "cpus_per_task", "--cpus-per-task", low=1, high=10_000),
    SlurmResource("mem_gb", float, "memory per job in GB", "mem", "--mem=<GB>G"),
    SlurmResource("mem", str, "memory per job as sbatch writes it: 32G, 16000M (a bare number is MB)", "mem", "--mem"),
    SlurmResource(
        "gres", str, "generic resources, e.g. gpu:a100:1", "gres", "--gres", pattern=r"[A-Za-z0-9_.:,()=-]+",
        expected="a GRES list such as gpu:a100:2 or gpu:1,shard:2",
    ),
    SlurmResource(
        "nodelist", str, "nodes to run on (--nodelist)", "nodelist", "--nodelist", pattern=r"[A-Za-z0-9_.,\[\]-]+",
        expected="node names or a hostlist such as node[01-04],gpu7",
    ),
    SlurmResource(
        "reservation", str, "reservation to run in", "additional_parameters.reservation", "--reservation",
        pattern=f"{_NAME}(,{_NAME})*", expected="a reservation name of letters, digits, '.', '_' or '-'",
    ),
    SlurmResource(
        "mail_type", str, "when Slurm mails you: BEGIN, END, FAIL, ALL, ... (comma-separated)", "mail_type",
        "--mail-type", pattern=r"(?:NONE|BEGIN|END|FAIL|REQUEUE|ALL|INVALID_DEPEND|STAGE_OUT|TIME_LIMIT(?:_\d{2})?|"
        r"ARRAY_TASKS)(?:,(?:NONE|BEGIN|END|FAIL|REQUEUE|ALL|INVALID_DEPEND|STAGE_OUT|TIME_LIMIT(?:_\d{2})?|"
        r"ARRAY_TASKS))*", expected="Slurm mail types such as END,FAIL (upper case, comma-separated)",
    ),
    SlurmResource(
        "mail_user", str, "who Slurm mails", "mail_user", "--mail-user", pattern=r"[A-Za-z0-9_.+%-]+(@[A-Za-z0-9.-]+)?",
        expected="a user name or an e-mail address",
    ),
    SlurmResource(
        "job_name", str, "the jobs' name in squeue (default: the common folder)", "job_name", "--job-name",
        pattern=r"[A-Za-z0-9_.+=:-]{1,200}", expected="a name of letters, digits and . _ + = : -",
    ),
    SlurmResource(
        "constraint", str, "node features (--constraint)", "constraint", "--constraint",
        pattern=f"[{_FEATURE_CHARS}]+",
        expected="node features of letters, digits, '.', '_', '-' joined by Slurm's operators & | , * [ ] ( ) !",
    ),
    SlurmResource(
        "exclude", str, "nodes to avoid (--exclude)", "exclude", "--exclude", pattern=r"[A-Za-z0-9_.,\[\]-]+",
        expected="node names or a hostlist such as node[01-04],gpu7",
    ),
    SlurmResource(
        "array_parallelism", int, "array tasks running at once (%%N)", "array_parallelism", "--array=...%N",
        low=1, high=4_000_001,
    ),
    SlurmResource("setup", list, "a shell line run before each job (repeatable)", "setup", "(script lines)"),
    SlurmResource(
        "additional_parameters",
        dict,
        "any other sbatch option, e.g. mail-type=END",
        "additional_parameters",
        "--KEY=VALUE",
        flag="sbatch",
    ),
    SlurmResource(
        "python", str, "the Python that runs each job on the node (default: this one)", None, "", flag="slurm_python"
    ),
)  # fmt: skip

#: Our name -> resource.
BY_NAME: dict[str, SlurmResource] = {resource.name: resource for resource in SLURM_RESOURCES}

_RESOURCE_ADVICE = {
    r.sbatch[2:]: f"use {r.option}" for r in SLURM_RESOURCES if re.fullmatch("--[a-z-]+", r.sbatch) is not None
}
_RESOURCE_ADVICE["array"] = "there is one array per sweep; --array_parallelism sets its %N"
_LOGS = "submitit's logs are <output_dir>/submitit/ and each run's is runs/<run_id>/train.log"
_ONE_TASK = "each job is one task on one node that starts its runs itself (see --gpus_per_run, --runs_per_gpu)"
#: sbatch options hpc-sweep writes itself (or whose change would break its jobs) -> what to do instead.
OWNED_SBATCH: dict[str, str] = {
    **_RESOURCE_ADVICE,
    "output": _LOGS,
    "error": _LOGS,
    "open-mode": _LOGS,
    "requeue": "requeues are hpc-sweep's: use --max_requeues",
    "no-requeue": "requeues are hpc-sweep's: use --max_requeues 0",
    "signal": "the warning signal before the time limit is set from --time",
    "parsable": "hpc-sweep reads sbatch's answer itself",
    "wrap": "the job script is hpc-sweep's",
    "chdir": "each run's working directory is the profile's (or --workdir)",
    "nodes": _ONE_TASK,
    "ntasks": _ONE_TASK,
    "ntasks-per-node": _ONE_TASK,
}
#: Real sbatch options that are also the start of an owned one (sbatch takes an exact name before an abbreviation).
_NOT_ABBREVIATIONS = frozenset({"gpus"})
_SBATCH_KEY = re.compile(r"[a-z][a-z0-9-]*")
_TIME = re.compile(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", re.ASCII)
_COMMAND_NAME = re.compile(r"[A-Za-z0-9_.+][A-Za-z0-9_.+-]*")


def parse_time_minutes(text: str | int, where: str = "--time") -> int:
    """Minutes of a Slurm time limit: ``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS`` (or a
    whole number of minutes), between one minute (rounded up) and :data:`MAX_TIME_MINUTES`."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise UsageError(f'{where} {shown(text)} is not a time limit; give a string such as "04:00:00"')
    if isinstance(text, int):
        seconds = text * 60
    else:
        match = _TIME.fullmatch(text.strip())
        if not match:
            raise UsageError(
                f"{where} {shown(text)} is not a Slurm time; use MM, HH:MM:SS or D-HH:MM:SS (e.g. 04:00:00)"
            )
        days, first, second, third = match.groups()
        if days is not None:  # D-HH[:MM[:SS]]
            seconds = int(days) * 86400 + int(first) * 3600 + int(second or 0) * 60 + int(third or 0)
        elif third is not None:  # HH:MM:SS
            seconds = int(first) * 3600 + int(second) * 60 + int(third)
        elif second is not None:  # MM:SS
            seconds = int(first) * 60 + int(second)
        else:  # MM
            seconds = int(first) * 60
    if seconds <= 0:
        raise UsageError(f"{where} {shown(text)} is not a positive time; give a limit such as 04:00:00")
    minutes = -(-seconds // 60)
    if minutes > MAX_TIME_MINUTES:
        raise UsageError(f"{where} {shown(text)} is over a year (365-00:00:00); give a shorter time limit")
    return minutes


def mem_string(value: Any, where: str = "--mem_gb") -> str:
    """sbatch's ``--mem`` for ``value`` GB: whole GB as ``NGB``, else MB rounded up (``0.0001`` -> ``1MB``, never
    ``0MB``, which Slurm reads as all of a node's memory)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{where} {shown(value)} is not a number; give the memory per job in GB, e.g. 32")
    if not math.isfinite(value) or value <= 0 or value > MAX_MEM_GB:
        raise UsageError(f"{where} {shown(value)}: give a memory per job in GB above 0 and at most {MAX_MEM_GB}")
    if float(value).is_integer():
        return f"{int(value)}GB"
    megabytes = value * 1024
    nearest = round(megabytes)
    return f"{nearest if abs(megabytes - nearest) < 1e-6 else math.ceil(megabytes)}MB"


_MEM = re.compile(r"(\d+(?:\.\d+)?)([KMGT]?)B?", re.IGNORECASE)
_MEM_UNIT_MB = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024 * 1024}


def mem_text(value: Any, where: str = "--mem") -> str:
    """sbatch's ``--mem`` as sbatch spells it (``32G``, ``16000M``, ``1T``, ``500`` = MB), checked and rounded up to
    whole MB (never ``0``, which Slurm reads as all of a node's memory)."""
    text = check_one_line(where, value if isinstance(value, str) else str(value)).strip()
    match = _MEM.fullmatch(text)
    if isinstance(value, bool) or match is None:
        raise UsageError(f"{where} {shown(value)} is not a memory size; write it as sbatch does, e.g. 32G or 16000M")
    megabytes = math.ceil(float(match.group(1)) * _MEM_UNIT_MB[match.group(2).upper()])
    if megabytes <= 0 or megabytes > MAX_MEM_GB * 1024:
        raise UsageError(f"{where} {shown(value)}: give a memory per job above 0 and at most {MAX_MEM_GB}G")
    return f"{megabytes // 1024}GB" if megabytes % 1024 == 0 else f"{megabytes}MB"


def node_python(value: Any, where: str = "--slurm_python") -> str:
    """The Python that runs jobs on the node: an absolute path (``~`` expanded here) or a command name looked up on
    the node's ``PATH`` (e.g. ``python3`` after a ``--setup`` line activated an environment)."""
    text = check_one_line(where, value)
    expanded = os.path.expanduser(text)
    if os.path.isabs(expanded) or (_COMMAND_NAME.fullmatch(text) and text not in (".", "..")):
        return expanded
    raise UsageError(
        f"{where} {shown(text)}: give the absolute path of the node's Python (e.g. /opt/venv/bin/python) or a "
        "command name on its PATH (e.g. python3)"
    )


def sbatch_options(value: Any, where: str = "--sbatch") -> dict[str, Any]:
    """Checked ``--sbatch`` options: keys as sbatch spells them (``[a-z][a-z0-9-]*``, given with ``-`` or ``_``),
    none that hpc-sweep writes itself (nor an abbreviation of one), values one-line text, integers or ``true`` (a
    bare flag). Keys are returned with ``_`` (submitit's spelling; it writes them with ``-``)."""
    if not isinstance(value, dict):
        raise UsageError(f"{where} must be a table of sbatch options (KEY = VALUE), got {shown(value)}")
    checked: dict[str, Any] = {}
    for key, option in value.items():
        name = check_one_line(f"{where} option", key).lstrip("-").replace("_", "-")
        if not _SBATCH_KEY.fullmatch(name):
            raise UsageError(
                f"{where} {shown(key)} is not an sbatch option name; sbatch's are lower case letters, digits and '-' "
                "(e.g. mail-type)"
            )
        owned = name if name in OWNED_SBATCH else None
        if owned is None and name not in _NOT_ABBREVIATIONS:
            owned = next((o for o in sorted(OWNED_SBATCH) if o.startswith(name)), None)
        if owned is not None:
            short = "" if owned == name else f" ({name} abbreviates --{owned})"
            raise UsageError(f"{where} {name}{short}: hpc-sweep sets --{owned} itself; {OWNED_SBATCH[owned]}")
        if option is True or (isinstance(option, int) and not isinstance(option, bool)):
            checked[name.replace("-", "_")] = option
            continue
        if not isinstance(option, str):
            raise UsageError(f"{where} {name}={shown(option)}: give a string, an integer, or true for a bare flag")
        checked[name.replace("-", "_")] = check_one_line(f"{where} {name}=", option)
    return checked


def setup_lines(value: Any, where: str = "--setup") -> list[str]:
    """The shell lines run before each job: a list of strings, each one line (a tab is fine; a newline is not), none
    an ``#SBATCH`` line (sbatch reads those up to the first command, so one would set options behind our back)."""
    if not isinstance(value, list):
        raise UsageError(f"{where} must be a list of shell lines, got {shown(value)}")
    for line in value:
        if check_one_line(where, line, allow_tab=True).lstrip().upper().startswith("#SBATCH"):
            raise UsageError(f"{where} {shown(line)} is an #SBATCH line; give sbatch options with --sbatch KEY=VALUE")
    return list(value)


def resource_value(name: str, value: Any, where: str | None = None) -> Any:
    """``value`` of resource ``name`` checked against its rule and translated to what submitit takes (minutes for
    ``time``, ``32GB``/``1126MB`` for ``mem_gb``, the expanded path for ``python``); a :class:`UsageError` naming
    ``where`` (default: the flag) otherwise."""
    if name not in BY_NAME:
        raise UsageError(f"unknown Slurm resource {name!r}; valid: {', '.join(sorted(BY_NAME))}")
    resource = BY_NAME[name]
    where = where or resource.option
    if name == "time":
        return parse_time_minutes(value, where)
    if name == "mem_gb":
        return mem_string(value, where)
    if name == "mem":
        return mem_text(value, where)
    if name == "python":
        return node_python(value, where)
    if name == "setup":
        return setup_lines(value, where)
    if name == "additional_parameters":
        return sbatch_options(value, where)
    if resource.kind is int:
        if isinstance(value, bool) or not isinstance(value, int) or not resource.low <= value <= resource.high:
            sign = "non-negative" if resource.low == 0 else "positive"
            raise UsageError(f"{where} {shown(value)}: give a {sign} whole number, at most {resource.high}")
        return value
    text = check_one_line(where, value)
    if name == "mail_type":  # sbatch reads mail types case-insensitively
        text = text.upper()
    if resource.pattern and not re.fullmatch(resource.pattern, text):
        raise UsageError(f"{where} {shown(text)} is not {resource.expected}")
    return text


#: The collect job that follows a sweep (a profile's ``[then]`` table): its key -> the resource whose rule it follows.
THEN_RESOURCES = {"time": "time", "cpus": "cpus_per_task", "mem": "mem", "partition": "partition"}
#: What the collect job asks for when the profile's ``[then]`` table does not say: CPUs for collect's reader
#: processes, memory for the figures, time for a large sweep read the first time (later collects read only changes).
THEN_DEFAULTS: dict[str, Any] = {"time": "01:00:00", "cpus": 2, "mem": "8G"}


def then_parameters(table: Any, where: str = "[then]") -> dict[str, Any]:
    """The collect job's submitit parameters from a ``[then]`` table (``time``, ``cpus``, ``mem``, ``partition``),
    :data:`THEN_DEFAULTS` filling what it leaves out; each value follows the rule of its Slurm resource."""
    if not isinstance(table, dict):
        raise UsageError(f"{where} must be a table (time, cpus, mem, partition), got {shown(table)}")
    unknown = sorted(set(table) - set(THEN_RESOURCES))
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(THEN_RESOURCES))}")
    params: dict[str, Any] = {}
    for key, value in {**THEN_DEFAULTS, **table}.items():
        name = THEN_RESOURCES[key]
        params[BY_NAME[name].submitit or name] = resource_value(name, value, f"{where} {key}")
    return params
