"""Run one training inside an Isaac Sim / Isaac Lab Apptainer (or Singularity) image, staged on the node as Isaac
Lab's cluster scripts do it (``docker/cluster/run_singularity.sh`` in isaac-sim/IsaacLab).

The ``isaaclab_apptainer`` profile's launcher: ``{python} -m hpc_sweep.launch.apptainer [options] <image> --
<inner command ...>``. On the compute node it

1. stages the image into ``$TMPDIR`` (node-local disk): a ``.sif`` file is copied (skipped when an identical copy is
   there), a ``.tar`` is extracted and its ``<name>.sif`` used (Isaac Lab's cluster scripts push a sandbox image as
   ``<name>.tar``), a directory (sandbox) is used where it is;
2. stages Isaac Sim's cache folders (kit, ov, pip, GL and compute caches, Omniverse logs, data, documents) from the
   persistent cache dir (``--cache``, else ``$ISAACSIM_CACHE_DIR``, else ``~/docker-isaac-sim``; missing folders are
   created) into a private directory of ``$TMPDIR``, so that the shader caches are warm and written locally;
3. runs ``apptainer exec --nv --containall`` (``singularity`` when there is no ``apptainer``; ``--writable`` for a
   sandbox extracted here, else ``--writable-tmpfs``) with each cache folder bound where the image's Isaac Sim keeps
   it, the sweep and log dirs (``--bind``) and the working directory bound at their own paths (so the run dirs and
   the ``[INFO] Logging experiment in directory`` line mean the same place inside and out, and the training's logs
   and checkpoints land on the shared filesystem as they are written), and, with ``--isaaclab DIR``, a copy of that
   Isaac Lab checkout at ``/workspace/isaaclab`` (its ``logs/`` bound through);
4. copies the caches back to the persistent dir (files that changed, each replaced atomically: runs of a pack
   finish side by side), removes its private staging dir, and exits with the training's status (re-raising the
   signal that ended it, so the job wrapper classifies the exit as it would without a container).

``--containall`` cleans the environment, so the variables the training needs from the job are passed through
``APPTAINERENV_<NAME>`` / ``SINGULARITYENV_<NAME>``: ``CUDA_VISIBLE_DEVICES``, ``PYTHONUNBUFFERED``,
``GIT_PYTHON_REFRESH``, every ``WANDB_*``, the EULA/consent variables when set, and any ``--env_pass NAME``.
Signals reaching this process (the job wrapper stops the training's whole process group) are passed on to the
container, and the caches are still copied back. Standard library only, no shell: it runs once per run on the node.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

RUNTIMES = ("apptainer", "singularity")
#: Isaac Sim's cache folders under the cache dir -> where the Isaac Sim image keeps them, relative to Isaac Sim's root
#: (``/isaac-sim``) or the container user's home (``/root``): Isaac Lab's run_singularity.sh binds the same.
CACHE_FOLDERS = {
    "cache/kit": ("root", "kit/cache"),
    "cache/ov": ("home", ".cache/ov"),
    "cache/pip": ("home", ".cache/pip"),
    "cache/glcache": ("home", ".cache/nvidia/GLCache"),
    "cache/computecache": ("home", ".nv/ComputeCache"),
    "logs": ("home", ".nvidia-omniverse/logs"),
    "data": ("home", ".local/share/ov/data"),
    "documents": ("home", "Documents"),
}
ISAACLAB_IN_IMAGE = "/workspace/isaaclab"
_PASSED = ("CUDA_VISIBLE_DEVICES", "PYTHONUNBUFFERED", "GIT_PYTHON_REFRESH", "ACCEPT_EULA", "PRIVACY_CONSENT")
_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_SAY = "[hpc_sweep.launch.apptainer]"


def main(argv: Sequence[str] | None = None) -> int:
    """Stage, run the container, copy the caches back; returns the training's exit status."""
    args, inner = _parse(list(sys.argv[1:] if argv is None else argv))
    runtime = args.runtime or next((name for name in RUNTIMES if shutil.which(name)), None)
    if runtime is None or not shutil.which(runtime):
        print(f"{_SAY} neither apptainer nor singularity is on PATH (load its module in --setup)", flush=True)
        return 127
    node_tmp = Path(os.environ.get("TMPDIR") or tempfile.gettempdir()) / "hpc_sweep_apptainer"
    node_tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
    image = stage_image(Path(args.image).expanduser(), node_tmp)
    cache = Path(args.cache or os.environ.get("ISAACSIM_CACHE_DIR") or Path.home() / "docker-isaac-sim").expanduser()
    private = Path(tempfile.mkdtemp(prefix="run-", dir=node_tmp))
    try:
        staged_cache = stage_cache(cache, private)
        binds = cache_binds(staged_cache, args.isaacsim_root, args.container_home)
        if args.isaaclab:
            binds += stage_isaaclab(Path(args.isaaclab).expanduser(), private)
        binds += [_identity_bind(path) for path in [*args.bind, os.getcwd()]]
        extracted_here = image.is_dir() and image.resolve().is_relative_to(node_tmp.resolve())
        command = container_argv(runtime, image, binds, os.getcwd(), inner, writable=extracted_here)
        print(f"{_SAY} {' '.join(command)}", flush=True)
        returncode = _run(command, container_env(os.environ, args.env_pass))
        copy_back(staged_cache, cache)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    return returncode


def _parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    if "--" not in argv:
        raise SystemExit(f"{_SAY} usage: python -m hpc_sweep.launch.apptainer [options] IMAGE -- COMMAND ...")
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="python -m hpc_sweep.launch.apptainer", description=__doc__.split("\n")[0])
    parser.add_argument("image", help="a .sif file, a .tar holding <name>.sif, or a sandbox directory")
    parser.add_argument("--cache", help="persistent Isaac Sim cache dir (default: $ISAACSIM_CACHE_DIR)")
    parser.add_argument("--bind", action="append", default=[], help="a host dir bound at its own path (repeatable)")
    parser.add_argument("--isaaclab", help="an Isaac Lab checkout to copy to the node and bind at /workspace/isaaclab")
    parser.add_argument("--runtime", choices=RUNTIMES, help="default: apptainer if on PATH, else singularity")
    parser.add_argument("--env_pass", action="append", default=[], help="another variable to pass in (repeatable)")
    parser.add_argument("--isaacsim_root", default="/isaac-sim", help="Isaac Sim's root inside the image")
    parser.add_argument("--container_home", default="/root", help="the container user's home inside the image")
    inner = argv[split + 1 :]
    if not inner:
        raise SystemExit(f"{_SAY} no command after --")
    return parser.parse_args(argv[:split]), inner


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (the runs of a pack stage one image once)."""
    with open(path, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def stage_image(image: Path, node_tmp: Path) -> Path:
    """The image on node-local disk (see the module docstring); reused when an identical copy is already there."""
    if image.is_dir():
        return image
    if not image.is_file():
        raise SystemExit(f"{_SAY} image {image} does not exist (set $ISAACLAB_SIF or the profile's image)")
    with _locked(node_tmp / ".stage.lock"):
        if image.name.endswith(".tar"):
            return _extract(image, node_tmp)
        staged = node_tmp / image.name
        if not _same_file(image, staged):
            print(f"{_SAY} copying {image} to {staged}", flush=True)
            _copy_atomic(image, staged)
        return staged


def _extract(archive: Path, node_tmp: Path) -> Path:
    """Isaac Lab's ``<name>.tar`` (holding the sandbox ``<name>.sif``), extracted once per archive version."""
    info = archive.stat()
    done = node_tmp / f".{archive.name}.{info.st_size}.{info.st_mtime_ns}.extracted"
    if not done.exists():
        import tarfile

        print(f"{_SAY} extracting {archive} into {node_tmp}", flush=True)
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(node_tmp, filter="data")
            else:  # pragma: no cover - Python without extraction filters
                tar.extractall(node_tmp)
        done.touch()
    image = node_tmp / f"{archive.name[: -len('.tar')]}.sif"
    if not image.exists():
        raise SystemExit(f"{_SAY} {archive} holds no {image.name} (Isaac Lab's cluster scripts pack <name>.sif)")
    return image


def stage_cache(cache: Path, private: Path) -> Path:
    """Create the cache folders that are missing in the persistent ``cache`` dir, then copy it into ``private``."""
    for folder in CACHE_FOLDERS:
        (cache / folder).mkdir(parents=True, exist_ok=True)
    staged = private / "docker-isaac-sim"
    shutil.copytree(cache, staged, symlinks=True)
    return staged


def cache_binds(staged: Path, isaacsim_root: str, home: str) -> list[str]:
    """``--bind`` values: each staged cache folder where the image's Isaac Sim keeps it."""
    bases = {"root": isaacsim_root.rstrip("/"), "home": home.rstrip("/")}
    return [f"{staged / folder}:{bases[base]}/{inside}:rw" for folder, (base, inside) in CACHE_FOLDERS.items()]


def stage_isaaclab(checkout: Path, private: Path) -> list[str]:
    """Copy an Isaac Lab checkout (not its logs) to the node, bound at /workspace/isaaclab; its logs bound through."""
    staged = private / "isaaclab"
    shutil.copytree(checkout, staged, symlinks=True, ignore=shutil.ignore_patterns("logs", ".git"))
    logs = checkout / "logs"
    logs.mkdir(exist_ok=True)
    return [f"{staged}:{ISAACLAB_IN_IMAGE}:rw", f"{logs.resolve()}:{ISAACLAB_IN_IMAGE}/logs:rw"]


def _identity_bind(path: str) -> str:
    """A host dir bound at its own path (created when missing, e.g. a log dir no run has written yet)."""
    real = Path(path).expanduser().resolve()
    real.mkdir(parents=True, exist_ok=True)
    return f"{real}:{real}:rw"


def container_argv(
    runtime: str, image: Path, binds: list[str], cwd: str, inner: list[str], writable: bool = False
) -> list[str]:
    """The ``exec`` command line (one argv element per value; no shell). ``writable``: a sandbox this node extracted
    for itself (as Isaac Lab's scripts run it); any other image gets a throw-away writable layer."""
    command = [runtime, "exec", "--nv", "--containall", "--writable" if writable else "--writable-tmpfs"]
    command += ["--pwd", str(Path(cwd).resolve())]
    for bind in dict.fromkeys(binds):
        command += ["--bind", bind]
    return [*command, str(image), *inner]


def container_env(environ: Mapping[str, str], extra: Sequence[str]) -> dict[str, str]:
    """This environment plus ``APPTAINERENV_``/``SINGULARITYENV_`` copies of what the training needs inside."""
    env = dict(environ)
    names = [*_PASSED, *extra, *(name for name in environ if name.startswith("WANDB_"))]
    passed = {name: environ[name] for name in names if name in environ}
    passed["ISAACLAB_PATH"] = ISAACLAB_IN_IMAGE  # as Isaac Lab's run_singularity.sh exports it
    for name, value in passed.items():
        env[f"APPTAINERENV_{name}"] = env[f"SINGULARITYENV_{name}"] = value
    return env


def _run(command: list[str], env: dict[str, str]) -> int:
    """Run the container to its end, passing stop signals on; a death by signal is returned as ``-signum``."""
    process = subprocess.Popen(command, env=env)

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)

    previous = {signum: signal.signal(signum, forward) for signum in _SIGNALS}
    try:
        return process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def copy_back(staged: Path, cache: Path) -> None:
    """Copy the files the run added or changed back to the persistent cache, each by an atomic replace."""
    for current, _dirs, files in os.walk(staged):
        target_dir = cache / Path(current).relative_to(staged)
        target_dir.mkdir(parents=True, exist_ok=True)
        for name in files:
            source, target = Path(current) / name, target_dir / name
            with contextlib.suppress(OSError):  # a cache file is never worth failing the run
                if not source.is_symlink() and source.is_file() and not _same_file(source, target):
                    _copy_atomic(source, target)


def _same_file(source: Path, target: Path) -> bool:
    """Same size and modification time (copies keep the time): the copy is up to date."""
    try:
        a, b = source.stat(), target.stat()
    except OSError:
        return False
    return a.st_size == b.st_size and int(a.st_mtime) == int(b.st_mtime)


def _copy_atomic(source: Path, target: Path) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    try:
        shutil.copy2(source, temporary)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _exit_like(returncode: int) -> None:
    """End this process as the training ended: with its status, or by the signal that killed it."""
    if returncode < 0:
        signal.signal(-returncode, signal.SIG_DFL)
        os.kill(os.getpid(), -returncode)
        sys.exit(128 - returncode)
    sys.exit(returncode)


if __name__ == "__main__":
    _exit_like(main())
