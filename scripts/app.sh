#!/usr/bin/env bash
# Set up (idempotent) and start the app. Offline it serves the last download or the bundled snapshot.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/streamlit run app.py --server.headless true --browser.gatherUsageStats false "$@"
