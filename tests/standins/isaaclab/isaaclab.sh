#!/usr/bin/env bash
# Test stand-in of Isaac Lab's `isaaclab.sh` (github.com/isaac-sim/IsaacLab, file isaaclab.sh), `-p` only.
#
# As the real script does: `set -e`; export ISAACLAB_PATH (the directory of this script); with no argument print
# "[Error] No arguments provided." and the help and exit 1; an unknown option prints "[Error] Invalid argument
# provided: <opt>" and exits 1; `-p|--python` prints "[INFO] Using python from: <python>", then runs that python with
# every remaining argument unchanged ("$@") in the CURRENT directory (not cd'ed into ISAACLAB_PATH), as a child
# process (no exec), so the exit status is python's (through `set -e`).
#
# The real script finds Isaac Sim's python (an active conda env, an active virtual env, or _isaac_sim/python.sh);
# the stand-in takes, in order: $STANDIN_PYTHON (tests set it to their own interpreter), $VIRTUAL_ENV/bin/python,
# python3 on PATH.

set -e

export ISAACLAB_PATH="$( cd "$( dirname "${BASH_SOURCE[0]}" )" &> /dev/null && pwd )"

extract_python_exe() {
    local python_exe=""
    if [ -n "${STANDIN_PYTHON}" ]; then
        python_exe="${STANDIN_PYTHON}"
    elif [ -n "${VIRTUAL_ENV}" ] && [ -x "${VIRTUAL_ENV}/bin/python" ]; then
        python_exe="${VIRTUAL_ENV}/bin/python"
    else
        python_exe="$(command -v python3 || true)"
    fi
    if [ -z "${python_exe}" ] || [ ! -x "${python_exe}" ]; then
        echo "[ERROR] Unable to find any Python executable at path: '${python_exe}'" >&2
        exit 1
    fi
    echo "${python_exe}"
}

print_help() {
    echo -e "\nusage: $(basename "$0") [-h] [-p] -- Utility to manage Isaac Lab (test stand-in: -p only)."
    echo -e "\noptional arguments:"
    echo -e "\t-h, --help           Display the help content."
    echo -e "\t-p, --python         Run the python executable provided by Isaac Sim or virtual environment (if active)."
    echo -e "\n" >&2
}

if [ -z "$*" ]; then
    echo "[Error] No arguments provided." >&2
    print_help
    exit 1
fi

case "$1" in
    -p|--python)
        python_exe=$(extract_python_exe)
        echo "[INFO] Using python from: ${python_exe}"
        shift # past argument
        "${python_exe}" "$@"
        ;;
    -h|--help)
        print_help
        exit 1
        ;;
    *)
        echo "[Error] Invalid argument provided: $1"
        print_help
        exit 1
        ;;
esac
