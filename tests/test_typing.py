"""The package type-checks with mypy (house style: mypy on the package; settings in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_package_type_checks() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental"], cwd=ROOT, capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, f"mypy found problems (run `.venv/bin/python -m mypy`):\n{proc.stdout}{proc.stderr}"
    assert "Success" in proc.stdout
