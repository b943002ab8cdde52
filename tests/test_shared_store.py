"""Many processes, one shared store (issue 17): ``trialfinder fetch`` in one process and ``trialfinder
search`` in others, each with its own cache folder (as app replicas have), on one real PostgreSQL
(tests/pgserver.py), against the loopback replay API (tests/apiserver.py)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

from apiserver import ApiServer
from conftest import pg_schema_url

from trialfinder.source.database import open_store
from trialfinder.source.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
EVERY_STUDY = ("--status", "all", "--setting", "all")


def trialfinder(args: list[str], cache: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TRIALFINDER_")}
    environ.update(PYTHONPATH=str(ROOT), TRIALFINDER_CACHE_DIR=str(cache), TRIALFINDER_BACKOFF="0.01", **env)
    return subprocess.run([sys.executable, "-m", "trialfinder", *args], capture_output=True, text=True,
                          env=environ, cwd=ROOT, timeout=240)


def nct_ids(result: subprocess.CompletedProcess[str]) -> list[str]:
    return sorted(row["nct_id"] for row in csv.DictReader(io.StringIO(result.stdout)))


def test_fetch_in_one_process_and_search_in_another_list_the_same_complete_set(pg, fixture_studies,
                                                                                tmp_path: Path) -> None:
    url = pg_schema_url(pg, "shared_cli")
    with ApiServer(fixture_studies) as api:
        fetched = trialfinder(["fetch", "--status", "all", "--all-settings"], tmp_path / "refresher",
                              TRIALFINDER_API_URL=api.url, TRIALFINDER_DATABASE_URL=url)
        assert fetched.returncode == 0, fetched.stderr
    stored = open_store(Settings(database_url=url)).load()
    assert stored is not None and stored.meta.count == int(fetched.stdout.split()[0]) > 300  # the AML search's
    served = sorted(s["protocolSection"]["identificationModule"]["nctId"] for s in stored.studies)
    assert not (tmp_path / "refresher" / "trialfinder.sqlite").exists()  # stored in PostgreSQL only
    # two "replicas": new cache folders, no API (a closed port), only the shared database
    for replica in ("replica-1", "replica-2"):
        listed = trialfinder(["search", "--format", "csv", *EVERY_STUDY], tmp_path / replica,
                             TRIALFINDER_DATABASE_URL=url, TRIALFINDER_OFFLINE="1")
        assert listed.returncode == 0, listed.stderr
        assert nct_ids(listed) == served
        assert "from a stored copy" in listed.stderr and "bundled snapshot" not in listed.stderr
        assert not (tmp_path / replica / "trialfinder.sqlite").exists()  # nothing stored beside the shared one
    # the embedded default in that folder would have been empty: the replicas read the shared store
    assert open_store(Settings(cache_dir=tmp_path / "replica-1")).version() is None


def test_an_unreachable_database_is_one_line_and_exit_1(tmp_path: Path) -> None:
    from conftest import closed_port

    result = trialfinder(["search", "--format", "csv"], tmp_path,
                         TRIALFINDER_DATABASE_URL=f"postgresql://me:secret@127.0.0.1:{closed_port()}/tf")
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr and "secret" not in result.stderr, result.stderr
    assert "cannot use the database postgresql://127.0.0.1:" in lines[0]
    assert "check TRIALFINDER_DATABASE_URL and that the server is running" in lines[0]
