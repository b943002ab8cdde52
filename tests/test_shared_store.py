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
from sqlalchemy import text

from trialfinder.find.tablecache import built_by
from trialfinder.find.tablerows import checksum
from trialfinder.source.database import _engine, built_columns, open_store
from trialfinder.source.schema import study_rows
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
    # the refresher stored the tables it built, once, for the current set
    store = open_store(Settings(database_url=url))
    with _engine(store.url).begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM built WHERE dataset_id = (SELECT current_id FROM pointer)"
                                 )).scalar() == 1


def test_a_replica_reads_the_stored_tables_instead_of_classifying(pg, fixture_studies, tmp_path: Path) -> None:
    """Proof without timing: one study's title is changed in the stored rows only (its checksum made to
    match, as a writer of this code would); a new replica's `search` shows the changed title, which no
    build from the data set could give. Its own cache folder keeps them for the next command."""
    url = pg_schema_url(pg, "shared_tables")
    with ApiServer(fixture_studies) as api:
        fetched = trialfinder(["fetch", "--status", "all", "--all-settings"], tmp_path / "refresher",
                              TRIALFINDER_API_URL=api.url, TRIALFINDER_DATABASE_URL=url)
        assert fetched.returncode == 0, fetched.stderr
    store = open_store(Settings(database_url=url))
    found = store.load_built(built_by())
    assert found is not None and found.meta.count > 300
    names = [c.name for c in built_columns(study_rows)]
    row = found.rows["study_rows"][0]
    nct, title = row[names.index("nct_id")], "MARKED IN THE DATABASE ONLY"
    found.rows["study_rows"][0] = tuple(title if n == "title" else v for n, v in zip(names, row, strict=True))
    with _engine(store.url).begin() as conn:
        conn.execute(text("UPDATE study_rows SET title = :t WHERE row = 0 AND dataset_id = :i"),
                     {"t": title, "i": found.dataset_id})
        conn.execute(text("UPDATE built SET sha256 = :s WHERE dataset_id = :i"),
                     {"s": checksum(found.layout, found.rows), "i": found.dataset_id})
    for replica in ("replica-a", "replica-b"):
        listed = trialfinder(["search", "--format", "csv", *EVERY_STUDY], tmp_path / replica,
                             TRIALFINDER_DATABASE_URL=url, TRIALFINDER_OFFLINE="1")
        assert listed.returncode == 0, listed.stderr
        titles = {r["nct_id"]: r["title"] for r in csv.DictReader(io.StringIO(listed.stdout))}
        assert titles[nct] == title and len(titles) == found.meta.count
        assert list((tmp_path / replica).glob("tables-*.parquets"))  # (its own copy, for the next command)


def test_an_unreachable_database_is_one_line_and_exit_1(tmp_path: Path) -> None:
    from conftest import closed_port

    result = trialfinder(["search", "--format", "csv"], tmp_path,
                         TRIALFINDER_DATABASE_URL=f"postgresql://me:secret@127.0.0.1:{closed_port()}/tf")
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr and "secret" not in result.stderr, result.stderr
    assert "cannot use the database postgresql://127.0.0.1:" in lines[0]
    assert "check TRIALFINDER_DATABASE_URL and that the server is running" in lines[0]
