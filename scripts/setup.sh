#!/usr/bin/env bash
# Set up .venv in the repository root: pinned torch, then percomp with its test extras.
# Idempotent: a stamp keyed on this script and pyproject.toml skips pip when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
# torch 2.14.1 / torchvision 0.29.1 are pinned so pip never resolves a different (multi-GB) build
# from the network. On a machine with an NVIDIA GPU this same pin is a CUDA build; for other CUDA
# versions see README "GPU".
TORCH_PINS=(torch==2.14.1 torchvision==0.29.1)

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv" >&2
    "$PYTHON" -m venv .venv
fi

stamp=.venv/.percomp-setup-stamp
want=$(cat scripts/setup.sh pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi

echo "setup: installing Python packages (first run takes a few minutes)" >&2
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "${TORCH_PINS[@]}"
.venv/bin/python -m pip install --quiet -e ".[test]" "${TORCH_PINS[@]}"
echo "$want" > "$stamp"
echo "setup: done" >&2
