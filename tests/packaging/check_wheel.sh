#!/usr/bin/env bash
# A user's first install: build the wheel, install it (with the demo extra) into a fresh venv outside the
# repository, and check from there that the shipped profiles are present and identical to the repository's, that
# every profile's --dry_run works, and that a real 2-seed demo sweep completes with files lab mates can read.
#
#   bash tests/packaging/check_wheel.sh [WORK_DIR]
#
# WORK_DIR (default: a new temporary directory, removed afterwards) holds the built wheel, the venv and the sweep.
# pip's own cache is used as usual, so a second run installs from it. $PYTHON picks the interpreter (python3).
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
if [[ $# -ge 1 ]]; then
    WORK="$(mkdir -p "$1" && cd "$1" && pwd)"
else
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/hpc_sweep_wheel.XXXXXX")"
    trap 'rm -rf "$WORK"' EXIT
fi
# Nothing of the repository may leak in: no PYTHONPATH, no profile path, a working directory outside it.
unset PYTHONPATH PYTHONHOME HPC_SWEEP_PROFILE_PATH VIRTUAL_ENV
export GIT_PYTHON_REFRESH=quiet COLUMNS=200 PIP_DISABLE_PIP_VERSION_CHECK=1
umask 022
start=$SECONDS
step() { echo "== [$((SECONDS - start))s] $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

step "build the wheel from a copy of the sources (no build/ or egg-info left in the checkout)"
mkdir -p "$WORK/src" "$WORK/dist"
cp "$REPO/pyproject.toml" "$REPO/README.md" "$WORK/src/"
[[ -f "$REPO/MANIFEST.in" ]] && cp "$REPO/MANIFEST.in" "$WORK/src/"
tar -C "$REPO" --exclude=__pycache__ --exclude='*.pyc' -cf - hpc_sweep | tar -C "$WORK/src" -xf -
"$PYTHON" -m pip wheel --quiet --no-deps -w "$WORK/dist" "$WORK/src"
wheels=("$WORK"/dist/hpc_sweep-*.whl)
[[ ${#wheels[@]} -eq 1 && -f "${wheels[0]}" ]] || fail "expected one wheel in $WORK/dist"
WHEEL="${wheels[0]}"
echo "wheel: $(basename "$WHEEL")"

step "install it with the demo extra into a fresh venv (torch pinned by constraints.txt)"
"$PYTHON" -m venv "$WORK/venv"
VENV_BIN="$WORK/venv/bin"
"$VENV_BIN/python" -m pip install --quiet -c "$REPO/constraints.txt" "${WHEEL}[demo]"

RUN_DIR="$WORK/cwd"   # an empty working directory: no ./slurm_templates to fall back on
mkdir -p "$RUN_DIR"
cd "$RUN_DIR"
"$VENV_BIN/python" - "$WORK/venv" <<'PY'
import sys
from pathlib import Path

import hpc_sweep

where = Path(hpc_sweep.__file__).resolve()
venv = Path(sys.argv[1]).resolve()
assert venv in where.parents, f"hpc_sweep imported from {where}, not from the venv {venv}"
print(f"hpc_sweep imported from {where.parent}")
PY

step "the installed profiles are the repository's, byte for byte"
"$VENV_BIN/python" - "$REPO/slurm_templates" <<'PY'
import sys
from pathlib import Path

from hpc_sweep.profiles import available_profiles, shipped_profile_dir

repo = {path.stem: path.read_bytes() for path in sorted(Path(sys.argv[1]).glob("*.toml"))}
found = available_profiles()
shipped = shipped_profile_dir()
assert shipped is not None and "site-packages" in str(shipped), f"shipped profiles not in the install: {shipped}"
assert sorted(found) == sorted(repo), f"installed {sorted(found)} != repository {sorted(repo)}"
for name, path in found.items():
    assert path.parent == shipped, f"{name} comes from {path}, not from {shipped}"
    assert path.read_bytes() == repo[name], f"installed {name}.toml differs from the repository's"
print("profiles:", ", ".join(sorted(found)))
PY
"$VENV_BIN/hpc-sweep" profiles > profiles.txt || { cat profiles.txt; fail "hpc-sweep profiles failed"; }
cat profiles.txt
for path in "$REPO"/slurm_templates/*.toml; do
    name="$(basename "$path" .toml)"
    grep -Eq "^[^ ]+ $name +[^ ]" profiles.txt || fail "hpc-sweep profiles does not list $name"
done

step "a --dry_run of every shipped profile"
mkdir -p dummy/isaaclab dummy/ballu
touch dummy/isaaclab.sif
export ISAACLAB_PATH="$RUN_DIR/dummy/isaaclab" BALLU_PATH="$RUN_DIR/dummy/ballu" ISAACLAB_SIF="$RUN_DIR/dummy/isaaclab.sif"
for path in "$REPO"/slurm_templates/*.toml; do
    name="$(basename "$path" .toml)"
    case "$name" in
        demo | local_test) task=Demo-PointMass-v0 ;;
        ballu*) task=Isaac-Vel-BALLU-v0 ;;
        *) task=Isaac-Velocity-Flat-Anymal-D-v0 ;;
    esac
    before="$(ls -A)"
    "$VENV_BIN/hpc-sweep" submit --profile "$name" --task "$task" --seeds 1 2 --executor slurm --dry_run \
        > "dry_run_$name.txt" 2>&1 || { cat "dry_run_$name.txt"; fail "dry run of profile $name"; }
    grep -q "profile $name" "dry_run_$name.txt" || { cat "dry_run_$name.txt"; fail "dry run of $name names no profile"; }
    [[ "$(ls -A | grep -v '^dry_run_')" == "$(echo "$before" | grep -v '^dry_run_')" ]] \
        || fail "the dry run of $name created files"
    echo "dry run of $name: ok ($(head -1 "dry_run_$name.txt" | cut -c1-100)...)"
done

step "a real 2-seed demo sweep, locally"
"$VENV_BIN/hpc-sweep" submit --task Demo-PointMass-v0 --seeds 1 2 --max_iterations 5 --num_envs 32 \
    --executor local --output_dir "$WORK/sweep" > sweep.txt 2>&1 || { cat sweep.txt; fail "the demo sweep failed"; }
tail -n 4 sweep.txt
"$VENV_BIN/python" - "$WORK/sweep" <<'PY'
import json
import sys
from pathlib import Path

sweep = Path(sys.argv[1])
results = json.loads((sweep / "training_results.json").read_text())
runs = results["experiments"]
assert sorted(run["seed"] for run in runs) == [1, 2], runs
assert all(run["status"] == "completed" for run in runs), [(run["seed"], run["status"]) for run in runs]
print(f"training_results.json: {len(runs)} runs, all completed")
PY
unreadable="$(find "$WORK/sweep" -type f ! -perm -0044)"
[[ -z "$unreadable" ]] || fail "under umask 022 these sweep files are not readable by group and others: $unreadable"
echo "every sweep file is readable by group and others (umask 022)"
step "the wheel works"
