#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# both cores (pytest-xdist); TEST_WORKERS=0 runs in one process
exec .venv/bin/python -m pytest -q -n "${TEST_WORKERS:-2}" "$@"
