#!/usr/bin/env bash
# Creates (once) python/.venv, the build-and-test environment of the Python package: maturin
# (builds the `ocpagg` wheel) and pytest, from PyPI. Prints the venv's path. Idempotent: an
# existing venv with both tools is reused as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=python/.venv
if [ ! -x "$VENV/bin/maturin" ] || [ ! -x "$VENV/bin/pytest" ]; then
  echo "Installing maturin and pytest into $VENV ..." >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'maturin>=1.8,<2' 'pytest>=8' >&2
fi
echo "$VENV"
