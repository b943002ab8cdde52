"""The package stands alone: the wheel carries everything it reads, and an installed copy searches
offline from any folder, with nothing of the repository on its path.

The wheel is built offline (``--no-build-isolation``, with the test environment's setuptools) from a
copy of the package, and installed into a fresh virtual environment; the dependencies (pandas, click, …)
come from this test environment's site-packages through a one-line ``.pth`` (as
``--system-site-packages`` would), so the test needs no network and takes a few seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from paths import ROOT

pytestmark = pytest.mark.timeout(600)


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)


def test_packaged_snapshot_matches_the_fixtures() -> None:
    done = run([sys.executable, str(ROOT / "scripts" / "build_snapshot.py"), "--check"])
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; returns its bin/ folder."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"  # (a copy: building writes build/ and *.egg-info next to the sources)
    source.mkdir()
    shutil.copytree(ROOT / "trialfinder", source / "trialfinder",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                 "-q", "-w", str(base / "dist"), str(source)])
    assert built.returncode == 0, built.stderr
    wheel = next((base / "dist").glob("trialfinder-*.whl"))
    venv = base / "venv"
    made = run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    # the dependencies, from this environment (a plain path: the .pth files there are not run, so an
    # editable install of trialfinder in it stays out of the way)
    Path(purelib, "_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                "-q", str(wheel)])
    assert done.returncode == 0, done.stderr
    names = zipfile.ZipFile(wheel).namelist()
    assert {"trialfinder/data/snapshot.json.gz", "trialfinder/data/places.npz",
            "trialfinder/data/PROVENANCE.md"} <= set(names)
    assert any(n.startswith("trialfinder/classify/rules/") and n.endswith(".csv") for n in names)
    return venv / "bin"


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIALFINDER_", "PYTHON"))}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), TRIALFINDER_OFFLINE="1",
               TRIALFINDER_API_URL="http://127.0.0.1:9/api/v2")  # (nothing listens there: no network)
    return env


def test_installed_package_imports_from_its_venv(installed: Path, tmp_path: Path) -> None:
    done = run([str(installed / "python"), "-c", "import trialfinder; print(trialfinder.__file__)"],
               cwd=tmp_path, env=clean_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(installed.parent)
    assert not Path(done.stdout.strip()).is_relative_to(ROOT)


def test_installed_cli_searches_offline_from_a_temporary_folder(installed: Path, tmp_path: Path) -> None:
    done = run([str(installed / "trialfinder"), "search", "--format", "csv", "--status", "all",
                "--near", "85719", "--radius", "500"], cwd=tmp_path, env=clean_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "data: bundled snapshot · data as of 2025-03" in done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("NCT")]
    assert rows, done.stdout[:500]
    assert "within 500 mi of" in done.stderr
    assert (tmp_path / ".cache" / "trialfinder").is_dir()  # the user's cache, not the package folder
