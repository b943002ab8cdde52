"""The command line starts light: --help, --version, usage errors and `fetch` import neither pandas
(nor numpy, pyarrow) nor streamlit. Each case runs in a fresh interpreter and reports sys.modules.
(How fast: benchmarks/startup.py, side by side with `python -c "import click"`.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from apiserver import ApiServer
from paths import ROOT

HEAVY = ("pandas", "numpy", "pyarrow", "streamlit")
#: also reported: what a search needs only where a database exists
WATCHED = (*HEAVY, "sqlalchemy")
PROBE = """
import json, sys
from trialfinder.cli import cli
try:
    cli(sys.argv[2:], prog_name="trialfinder")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
with open(sys.argv[1], "w") as handle:
    json.dump({"code": code, "loaded": [m for m in %r if m in sys.modules]}, handle)
""" % (WATCHED,)


def probe(args: list[str], tmp_path: Path, **env: str) -> dict:
    report = tmp_path / "modules.json"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TRIALFINDER_")}
    environ.update(PYTHONPATH=str(ROOT), TRIALFINDER_CACHE_DIR=str(tmp_path / "cache"), **env)
    done = subprocess.run([sys.executable, "-c", PROBE, str(report), *args], capture_output=True, text=True,
                          timeout=120, env=environ, cwd=tmp_path)
    assert report.exists(), done.stderr
    result = json.loads(report.read_text())
    return {**result, "heavy": [m for m in result["loaded"] if m in HEAVY], "stderr": done.stderr}


@pytest.mark.parametrize("args, code", [
    (["--help"], 0),
    (["--version"], 0),
    (["search", "--help"], 0),
    (["fetch", "--help"], 0),
    (["show", "--help"], 0),
    (["search", "--no-such-option"], 2),
    (["show"], 2),  # missing NCT_ID
    (["search", "--sort", "nearest"], 2),
    (["search", "--format", "pdf"], 2),
    (["search", "--format", "xlsx"], 2),  # needs --output
    (["show", "12345"], 2),  # not an NCT number
    (["nosuchcommand"], 2),
])
def test_light_paths_import_no_pandas(args: list[str], code: int, tmp_path: Path) -> None:
    result = probe(args, tmp_path)
    assert result["code"] == code, result["stderr"]
    assert result["heavy"] == [], f"{args} imported {result['heavy']}"


def test_fetch_imports_no_pandas(fixture_studies: list[dict], tmp_path: Path) -> None:
    with ApiServer(fixture_studies) as server:
        result = probe(["fetch", "--status", "all"], tmp_path, TRIALFINDER_API_URL=server.url)
    assert result["code"] == 0, result["stderr"]
    assert (tmp_path / "cache" / "trialfinder.sqlite").exists()
    assert result["heavy"] == []


def test_a_search_does_load_pandas(tmp_path: Path) -> None:
    """The probe can tell: a real search imports pandas."""
    result = probe(["search", "--format", "csv"], tmp_path)
    assert result["code"] == 0, result["stderr"]
    assert "pandas" in result["heavy"]


def test_cli_sorts_are_the_filters_sorts() -> None:
    from trialfinder.cli.search import SORTS
    from trialfinder.find.filters import SORTS as FILTER_SORTS

    assert SORTS == FILTER_SORTS


def test_first_search_on_a_new_machine_opens_no_database(tmp_path: Path) -> None:
    """No data set stored yet (an empty cache folder): the bundled snapshot and its packaged tables
    answer, without importing SQLAlchemy or creating the database file (issue 16 item 3)."""
    result = probe(["search", "--near", "85719", "--format", "csv"], tmp_path, TRIALFINDER_OFFLINE="1")
    assert result["code"] == 0, result["stderr"]
    assert "bundled snapshot" in result["stderr"]
    assert "pandas" in result["loaded"] and "sqlalchemy" not in result["loaded"]
    assert not (tmp_path / "cache" / "trialfinder.sqlite").exists()


def test_a_search_with_a_stored_data_set_reads_the_database(fixture_studies: list[dict], tmp_path: Path) -> None:
    """The probe can tell: once `fetch` has stored a data set, a search reads it from the database."""
    with ApiServer(fixture_studies) as server:
        assert probe(["fetch", "--status", "all"], tmp_path, TRIALFINDER_API_URL=server.url)["code"] == 0
    result = probe(["search", "--format", "csv"], tmp_path, TRIALFINDER_OFFLINE="1")
    assert result["code"] == 0, result["stderr"]
    assert "bundled snapshot" not in result["stderr"]
    assert "sqlalchemy" in result["loaded"]
