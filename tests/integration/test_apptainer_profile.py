"""The ``isaaclab_apptainer`` profile on a node: ``hpc_sweep.launch.apptainer`` stages the image and Isaac Sim's
caches into ``$TMPDIR``, binds them and the sweep dir, runs ``apptainer exec --nv``, and copies the caches back, as
Isaac Lab's ``docker/cluster/run_singularity.sh`` does.

``apptainer`` is a stub on PATH (:data:`STUB`): it records its arguments and what each bound folder held, emulates
the binds by mapping paths (``/workspace/isaaclab`` is the image's Isaac Lab: the stand-in copy), writes into the
kit cache and Omniverse log folders as Isaac Sim would, and runs the inner ``isaaclab.sh -p train.py ...``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tarfile
from pathlib import Path

import pytest

from hpc_sweep.launch.apptainer import CACHE_FOLDERS, container_argv, container_env, stage_image, stage_isaaclab
from tests.conftest import run_cli

pytestmark = pytest.mark.integration

STANDINS = Path(__file__).resolve().parents[1] / "standins"
TASK, EXPERIMENT = "Isaac-Velocity-Flat-Anymal-C-v0", "anymal_c_flat"

#: The profile as shipped in slurm_templates/isaaclab_apptainer.toml.
PROFILE = """\
# Isaac Lab inside an Apptainer/Singularity image, staged on the node as Isaac Lab's cluster scripts do
# (docker/cluster/run_singularity.sh): `python -m hpc_sweep.launch.apptainer` copies the image ($ISAACLAB_SIF) and
# Isaac Sim's cache folders ($ISAACSIM_CACHE_DIR, default ~/docker-isaac-sim) to $TMPDIR on the node, binds them and
# the sweep dir, runs `apptainer exec --nv --containall` (or singularity), then copies the caches back. The training
# writes its logs to <sweep>/logs/rsl_rl/... through the bind. To run your own Isaac Lab checkout instead of the
# image's, add "--isaaclab", "${ISAACLAB_PATH}" before "{image}" in the launcher.
description = "Isaac Lab in an Apptainer image staged to $TMPDIR: apptainer exec --nv $ISAACLAB_SIF isaaclab.sh -p ..."

[vars]
image = "${ISAACLAB_SIF}"

[command]
launcher = ["{python}", "-m", "hpc_sweep.launch.apptainer", "--bind", "{sweep_dir}", "{image}", "--",
            "/workspace/isaaclab/isaaclab.sh", "-p"]
script = "/workspace/isaaclab/scripts/reinforcement_learning/rsl_rl/train.py"
workdir = "{sweep_dir}"
flags = ["headless", "run_name"]
layout = "isaaclab"

[slurm]
time = "24:00:00"
gpus_per_node = 1
cpus_per_task = 8
mem_gb = 32
setup = ["module load apptainer || module load singularity || true"]
"""

STUB = r"""
import json, os, sys
args = sys.argv[1:]
assert args[0] == "exec", args
flags, binds, pwd, i = [], [], None, 1
while args[i].startswith("--"):
    if args[i] in ("--bind", "--pwd"):
        if args[i] == "--bind":
            binds.append(args[i + 1])
        else:
            pwd = args[i + 1]
        i += 2
    else:
        flags.append(args[i])
        i += 1
image, inner = args[i], args[i + 1:]
mounts = {dst: src for src, dst, _mode in (bind.split(":") for bind in binds)}
mounts.setdefault("/workspace/isaaclab", os.environ["STUB_IMAGE_ISAACLAB"])  # what the image holds
def host(path):
    for dst in sorted(mounts, key=len, reverse=True):
        if path == dst or path.startswith(dst + "/"):
            return mounts[dst] + path[len(dst):]
    return path
record = {"argv": sys.argv, "flags": flags, "binds": binds, "pwd": pwd, "image": image, "inner": inner,
          "image_bytes": open(image, "rb").read().decode(),
          "held": {dst: sorted(os.listdir(src)) for src, dst, _ in (b.split(":") for b in binds)},
          "env": {k: v for k, v in os.environ.items() if k.startswith(("APPTAINERENV_", "SINGULARITYENV_"))}}
with open(os.environ["STUB_RECORD"], "a") as handle:
    handle.write(json.dumps(record) + "\n")
with open(host("/isaac-sim/kit/cache") + "/new_shader.bin", "w") as handle:  # Isaac Sim warming its caches
    handle.write("compiled")
with open(host("/root/.nvidia-omniverse/logs") + "/kit.log", "w") as handle:
    handle.write("kit log")
env = {k: v for k, v in os.environ.items() if not k.startswith(("APPTAINERENV_", "SINGULARITYENV_"))}
env.update({k[len("APPTAINERENV_"):]: v for k, v in os.environ.items() if k.startswith("APPTAINERENV_")})
os.chdir(host(pwd))
os.execve(host(inner[0]), [host(arg) for arg in inner], env)
"""


@pytest.fixture
def node(tmp_path: Path) -> dict[str, Path]:
    """A stand-in Isaac Lab (the image's), an image file, a warm persistent cache, a node TMPDIR, the stub."""
    isaaclab = tmp_path / "image_isaaclab"
    shutil.copytree(STANDINS / "isaaclab", isaaclab, ignore=shutil.ignore_patterns("__pycache__", "logs"))
    (isaaclab / "isaaclab.sh").chmod(0o755)
    image = tmp_path / "images" / "isaac-lab.sif"
    image.parent.mkdir()
    image.write_text("SIF stand-in")
    cache = tmp_path / "persistent" / "docker-isaac-sim"
    (cache / "cache" / "kit").mkdir(parents=True)
    (cache / "cache" / "kit" / "old_shader.bin").write_text("warm")
    stub = tmp_path / "bin" / "apptainer"
    stub.parent.mkdir()
    stub.write_text(f"#!{sys.executable}\n{STUB}")
    stub.chmod(0o755)
    profile = tmp_path / "isaaclab_apptainer.toml"
    profile.write_text(PROFILE)
    paths = {"isaaclab": isaaclab, "image": image, "cache": cache, "bin": stub.parent, "profile": profile}
    return {**paths, "tmpdir": tmp_path / "node_tmp", "record": tmp_path / "stub.jsonl", "sweep": tmp_path / "sweep"}


def _submit(node: dict[str, Path]):
    node["tmpdir"].mkdir(exist_ok=True)
    env = {
        "PATH": f"{node['bin']}{os.pathsep}{os.environ['PATH']}",
        "TMPDIR": str(node["tmpdir"]),
        "ISAACLAB_SIF": str(node["image"]),
        "ISAACSIM_CACHE_DIR": str(node["cache"]),
        "STUB_RECORD": str(node["record"]),
        "STUB_IMAGE_ISAACLAB": str(node["isaaclab"]),
        "STANDIN_PYTHON": sys.executable,
        "CUDA_VISIBLE_DEVICES": "",
        "WANDB_PROJECT": "ballu",
    }
    return run_cli(
        "submit", "--task", TASK, "--profile", str(node["profile"]), "--executor", "local", "--seeds", "1",
        "--max_iterations", "3", "--num_envs", "8", "--common_folder", "app", "--output_dir", str(node["sweep"]),
        env=env, timeout=300,
    )  # fmt: skip


def test_one_seed_runs_in_the_staged_image_and_its_logs_land_in_the_sweep(node: dict[str, Path]) -> None:
    result = _submit(node)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    sweep = node["sweep"].resolve()
    record = json.loads((sweep / "runs" / "0000" / "record.json").read_text())
    assert record["state"] == "completed", record
    assert record["log_dir"] == f"logs/rsl_rl/{EXPERIMENT}/{Path(record['log_dir']).name}"  # inside the sweep
    run_dir = sweep / record["log_dir"]
    assert run_dir.name.endswith("_app_seed1")
    assert list(run_dir.glob("events.out.tfevents.*")) and (run_dir / "model_2.pt").is_file()
    assert "[hpc_sweep.launch.apptainer] apptainer exec --nv" in (sweep / "runs" / "0000" / "train.log").read_text()
    results = json.loads((sweep / "training_results.json").read_text())["experiments"]
    assert results[0]["reward_steps"] == [0, 1, 2]


def test_image_and_caches_are_staged_bound_and_copied_back(node: dict[str, Path]) -> None:
    assert _submit(node).returncode == 0
    (call,) = [json.loads(line) for line in node["record"].read_text().splitlines()]
    staging = (node["tmpdir"] / "hpc_sweep_apptainer").resolve()
    assert call["image"] == str(staging / "isaac-lab.sif") and call["image_bytes"] == "SIF stand-in"
    assert {"--nv", "--containall", "--writable-tmpfs"} <= set(call["flags"])
    sweep = str(node["sweep"].resolve())
    assert f"{sweep}:{sweep}:rw" in call["binds"] and call["pwd"] == sweep
    staged_cache = Path(call["binds"][0].split(":")[0]).parents[1]
    assert staged_cache.parent.parent == staging and staged_cache.name == "docker-isaac-sim"
    expected = {
        f"{staged_cache / folder}:{'/isaac-sim' if base == 'root' else '/root'}/{inside}:rw"
        for folder, (base, inside) in CACHE_FOLDERS.items()
    }
    assert expected <= set(call["binds"])
    assert call["held"]["/isaac-sim/kit/cache"] == ["old_shader.bin"]  # the warm cache was staged
    assert call["inner"][:2] == ["/workspace/isaaclab/isaaclab.sh", "-p"]
    assert call["env"]["APPTAINERENV_PYTHONUNBUFFERED"] == "1"
    assert call["env"]["APPTAINERENV_WANDB_PROJECT"] == "ballu"
    assert call["env"]["SINGULARITYENV_ISAACLAB_PATH"] == "/workspace/isaaclab"
    assert (node["cache"] / "cache" / "kit" / "new_shader.bin").read_text() == "compiled"  # copied back
    assert (node["cache"] / "logs" / "kit.log").read_text() == "kit log"
    assert not list(staging.glob("run-*")), "the run's private staging dir is removed"
    assert (staging / "isaac-lab.sif").is_file(), "the staged image stays for the job's other runs"


def test_a_second_run_reuses_the_staged_image(node: dict[str, Path], tmp_path: Path) -> None:
    assert _submit(node).returncode == 0
    staged = node["tmpdir"] / "hpc_sweep_apptainer" / "isaac-lab.sif"
    first = staged.stat().st_ino
    node["sweep"] = tmp_path / "sweep2"
    assert _submit(node).returncode == 0
    assert staged.stat().st_ino == first


def test_variables_reach_the_container_through_both_runtimes_prefixes() -> None:
    env = container_env({"CUDA_VISIBLE_DEVICES": "3", "WANDB_RUN_ID": "abc", "HOME": "/h", "MY": "x"}, ["MY"])
    for prefix in ("APPTAINERENV_", "SINGULARITYENV_"):
        assert env[f"{prefix}CUDA_VISIBLE_DEVICES"] == "3" and env[f"{prefix}WANDB_RUN_ID"] == "abc"
        assert env[f"{prefix}MY"] == "x" and f"{prefix}HOME" not in env


def test_an_isaac_lab_image_tar_is_extracted_once_and_run_writable(tmp_path: Path) -> None:
    """Isaac Lab's cluster scripts push a sandbox image as ``<name>.tar`` holding ``<name>.sif/``."""
    sandbox = tmp_path / "build" / "isaac-lab.sif"
    (sandbox / "isaac-sim").mkdir(parents=True)
    archive = tmp_path / "isaac-lab.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(sandbox, arcname="isaac-lab.sif")
    node_tmp = tmp_path / "node"
    node_tmp.mkdir()
    image = stage_image(archive, node_tmp)
    assert image == node_tmp / "isaac-lab.sif" and (image / "isaac-sim").is_dir()
    (image / "written_by_the_first_run").touch()
    assert stage_image(archive, node_tmp) == image and (image / "written_by_the_first_run").exists()  # not again
    argv = container_argv("singularity", image, ["/a:/a:rw"], str(tmp_path), ["python", "x.py"], writable=True)
    assert argv[:4] == ["singularity", "exec", "--nv", "--containall"] and "--writable" in argv
    assert argv[-3:] == [str(image), "python", "x.py"]


def test_a_host_isaaclab_checkout_is_copied_to_the_node_and_its_logs_bound_through(tmp_path: Path) -> None:
    checkout = tmp_path / "IsaacLab"
    (checkout / "scripts").mkdir(parents=True)
    (checkout / "logs" / "rsl_rl").mkdir(parents=True)
    private = tmp_path / "private"
    private.mkdir()
    binds = stage_isaaclab(checkout, private)
    assert binds == [
        f"{private / 'isaaclab'}:/workspace/isaaclab:rw",
        f"{checkout / 'logs'}:/workspace/isaaclab/logs:rw",
    ]
    assert (private / "isaaclab" / "scripts").is_dir() and not (private / "isaaclab" / "logs").exists()
