#!/usr/bin/env bash
# Create .venv (if missing) and install TrialFinder with its test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"
# the bundled snapshot's built tables (a first search reads them; rebuilt only when the code changed)
.venv/bin/python scripts/build_snapshot.py --tables
