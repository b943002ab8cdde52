"""Every benchmark script answers --help (argparse), without running: a script that crashes on
--help, as benchmarks/naive.py once did, fails here."""

from __future__ import annotations

import subprocess
import sys

import pytest

from paths import ROOT

SCRIPTS = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py") if p.name != "common.py")


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_script_answers_help(script: str) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--help"], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(f"usage: {script}"), done.stdout[:200]


def test_naive_is_among_them() -> None:
    assert "naive.py" in SCRIPTS and "startup.py" in SCRIPTS
