"""The package and the app pass ruff with the project's own configuration (complexity ≤ 12 included)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_package_and_app_pass_ruff() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed; `pip install -e .[test]` brings it")
    done = subprocess.run([ruff, "check", "--no-cache", "trialfinder", "app.py"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
