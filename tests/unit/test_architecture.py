"""The package's shape: imports follow the data flow, modules stay small, the job wrapper stays light.

Data flows spec -> launch -> job -> logs -> collect -> analyse -> report. Each layer imports only the layers it is
handed data by or hands work to, as listed in ``ALLOWED``: the launchers submit the job function, the job wrapper
finds its run directory through the log layouts, the collector reads through the same layouts, analysis reads what
the collector returns, and reports show what analysis computed. Nothing reaches back (a collector that asks the
scheduler, a job wrapper that imports the collector, an analysis that imports a report).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "hpc_sweep"

#: Modules every layer may use: errors, atomic writes, the sweep dir's layout, run state, records, the manifest,
#: and the job wrapper's stdlib-only GPU sampler (its summary is part of a run's record).
BASE = {"errors", "atomic", "layout", "runstate", "records", "manifest", "resources", "names", "gpu_sampler"}
#: Layer -> the layers it may import (besides itself and the base modules).
ALLOWED = {
    "spec": {"logs"},  # a profile names its log layout
    "logs": set(),
    "job": {"spec", "logs"},  # the wrapper builds its resume argv and finds its run dir
    "launch": {"spec", "logs", "job"},  # launchers submit the job function
    "collect": {"logs"},
    "analyse": {"collect"},
    "report": {"spec", "logs", "launch", "collect", "analyse"},  # dry runs show the plan; live tables a local launch
    "demo": set(),
    "tune": {"spec", "logs", "job", "launch", "collect", "analyse", "report"},  # a controller: all but the verbs
    "verbs": {"spec", "logs", "job", "launch", "collect", "analyse", "report", "tune"},
}
#: The spec layer; ``provenance`` belongs to it: captured from the plan at submit, its commit check run by the job.
_SPEC_MODULES = {"spec", "grid", "profiles", "plan", "command", "provenance"}
#: The job layer: the wrapper, its environment, and the group of nodes of a multi-node run.
_JOB_MODULES = {"job", "job_env", "node_group"}
_TOP = {"cli", "cli_args", "__init__"}  # the command line and the package's Python API sit above every layer


def layer_of(module: str) -> str:
    """``hpc_sweep.collect.tfevents.reader`` -> ``collect``; ``hpc_sweep.command`` -> ``spec``."""
    parts = module.split(".")[1:] or ["__init__"]
    head = parts[0]
    if head in BASE:
        return "base"
    if head in _SPEC_MODULES:
        return "spec"
    if head in _TOP:
        return "top"
    if head in _JOB_MODULES:
        return "job"
    return head


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts) if parts != ["hpc_sweep"] else "hpc_sweep.__init__"


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every ``hpc_sweep`` module a file imports (at any depth: in functions and TYPE_CHECKING blocks too)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("hpc_sweep.")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hpc_sweep"):
            if node.module == "hpc_sweep":
                found += [(node.lineno, f"hpc_sweep.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_layer_table_covers_every_module() -> None:
    layers = {layer_of(_module_name(path)) for path in _sources()}
    assert layers <= {*ALLOWED, "base", "top"}, f"modules outside any layer: {layers - {*ALLOWED, 'base', 'top'}}"


def test_no_import_runs_back_up_the_flow() -> None:
    back_edges = []
    for path in _sources():
        layer = layer_of(_module_name(path))
        if layer == "top":
            continue
        allowed = {layer, "base"} | ALLOWED.get(layer, set())
        for line, target in _imports(path):
            target_layer = layer_of(target)
            if target_layer not in allowed:
                back_edges.append(
                    f"{path.relative_to(PACKAGE.parent)}:{line} ({layer}) imports {target} ({target_layer})"
                )
    assert not back_edges, "imports against the flow:\n" + "\n".join(back_edges)


def test_base_modules_import_only_base_modules() -> None:
    for path in _sources():
        if layer_of(_module_name(path)) == "base":
            targets = [target for _, target in _imports(path)]
            assert all(layer_of(t) == "base" for t in targets), f"{path.name} imports {targets}"


def test_layer_rule_catches_a_collector_that_asks_the_scheduler(tmp_path: Path) -> None:
    """The checker itself: an import of the launch layer from the collector is reported."""
    source = tmp_path / "probe.py"
    source.write_text("from hpc_sweep.launch.sacct import job_states\n")
    (line, target) = _imports(source)[0]
    assert line == 1 and layer_of(target) == "launch"
    assert layer_of(target) not in {"collect", "base"} | ALLOWED["collect"]


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_over_400_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= 400, f"{path.relative_to(PACKAGE.parent)} has {lines} lines; split it along its seams"


def test_job_wrapper_imports_nothing_heavy() -> None:
    """The wrapper starts once per job, times thousands: no pandas, numpy, matplotlib, submitit, torch, collector."""
    code = (
        "import sys, hpc_sweep.job\n"
        "heavy = ('pandas', 'numpy', 'matplotlib', 'submitit', 'torch', 'rich', 'hpc_sweep.collect')\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(heavy))))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == []
