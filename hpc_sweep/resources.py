"""The one table of Slurm resources: our name (profile ``[slurm]`` key and command-line flag), its type, submitit's
parameter and sbatch's spelling.

``cli`` builds its flags from it, ``profiles`` validates ``[slurm]`` keys against it, ``launch.slurm`` translates
through it: a resource added here is accepted everywhere at once. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SlurmResource:
    """One Slurm resource as each layer names it."""

    name: str  # our name: the profile's [slurm] key
    kind: type  # the value's type in a profile and on the command line
    help: str
    submitit: str | None  # submitit SlurmExecutor parameter; None when it is not one (the node's Python)
    sbatch: str  # what the user would write to sbatch
    flag: str | None = None  # the command-line flag when it is not --<name>


SLURM_RESOURCES: tuple[SlurmResource, ...] = (
    SlurmResource("partition", str, "partition", "partition", "--partition"),
    SlurmResource("account", str, "account to charge", "account", "--account"),
    SlurmResource("qos", str, "quality of service", "qos", "--qos"),
    SlurmResource("time", str, "time limit per run: MM, HH:MM:SS or D-HH:MM:SS", "time", "--time"),
    SlurmResource("gpus_per_node", int, "GPUs per job", "gpus_per_node", "--gpus-per-node"),
    SlurmResource("cpus_per_task", int, "CPUs per job", "cpus_per_task", "--cpus-per-task"),
    SlurmResource("mem_gb", float, "memory per job in GB", "mem", "--mem"),
    SlurmResource("constraint", str, "node features (--constraint)", "constraint", "--constraint"),
    SlurmResource("exclude", str, "nodes to avoid (--exclude)", "exclude", "--exclude"),
    SlurmResource("array_parallelism", int, "array tasks running at once (%%N)", "array_parallelism", "--array=...%N"),
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
)

#: Our name -> resource.
BY_NAME: dict[str, SlurmResource] = {resource.name: resource for resource in SLURM_RESOURCES}
