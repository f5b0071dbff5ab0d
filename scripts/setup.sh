#!/usr/bin/env bash
# Set up .venv in the repository root: pinned torch, then percomp with its test extras; and Debian's
# chromium for the app's browser tests (PERCOMP_SKIP_SYSTEM=1 skips system packages).
# Idempotent: a stamp keyed on this script and pyproject.toml skips pip when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Playwright tests drive the system's Chromium (tests/browser.py); `playwright install` would
# download a browser at run time, which this project never does.
if [ "${PERCOMP_SKIP_SYSTEM:-0}" != 1 ] && [ ! -x /usr/bin/chromium ]; then
    echo "setup: installing Debian chromium for the browser tests (PERCOMP_SKIP_SYSTEM=1 skips)" >&2
    as_root=()
    [ "$(id -u)" -eq 0 ] || as_root=(sudo)
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

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
