"""The data-set store in its database, on both backends (SQLite, the default, and a real PostgreSQL,
tests/pgserver.py): whole sets only, the previous set kept, damage found by checksum and set aside,
readers never seeing a partial set, one refresher at a time, and one-line errors.

Studies are real records from fixtures/aml-studies; where a test damages a stored set it edits the
stored rows (copies of the records), never the fixture files.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from trialfinder.errors import DataError, InvalidInput, StoreUnavailable
from trialfinder.source.database import DbStore, _engine, open_store
from trialfinder.source.dataset import load_dataset
from trialfinder.source.settings import Settings
from trialfinder.source.store import Dataset, DatasetMeta, DataStore


def _meta(**changes) -> DatasetMeta:
    return DatasetMeta(**{"source": "live", "data_timestamp": "2026-11-20T08:00:00",
                          "fetched_at": "2026-11-21T10:00:00+00:00", **changes})


@pytest.fixture
def settings_db(tmp_path: Path, database_url: str) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", database_url=database_url)


@pytest.fixture
def store(settings_db: Settings) -> DbStore:
    return open_store(settings_db)


def _sql(store: DbStore, statement: str, **params) -> list:
    with _engine(store.url).begin() as conn:
        result = conn.execute(text(statement), params)
        return list(result) if result.returns_rows else []


def _file_sha(studies: list[dict]) -> str:
    """The checksum the data-set files of earlier versions carried, computed here independently."""
    return hashlib.sha256(json.dumps(studies, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


def test_round_trip_keeps_every_study_and_field(store: DbStore, fixture_studies) -> None:
    assert store.version() is None and store.load() is None and store.load_meta() is None
    studies = fixture_studies[:40]
    assert any(not json.dumps(s, ensure_ascii=False).isascii() for s in studies)  # non-ASCII text included
    meta = _meta(query="AML · relapsed", note="données réelles", api_url="http://127.0.0.1:1/api/v2",
                 count=99, sha256="stale", warnings=["for now only"])
    saved = store.save(Dataset(studies=studies, meta=meta))
    assert saved.count == 40 and saved.sha256 == _file_sha(studies)  # the files' checksum, so table caches stay valid
    loaded = store.load()
    assert loaded is not None and loaded.studies == studies
    assert loaded.meta == DatasetMeta(**{**meta.__dict__, "warnings": []})  # warnings are never stored
    assert store.load_meta() == loaded.meta and isinstance(store.version(), int)


def test_save_keeps_exactly_the_previous_set(store: DbStore, fixture_studies) -> None:
    sets = [fixture_studies[:3], fixture_studies[3:5], fixture_studies[5:9]]
    versions = []
    for i, studies in enumerate(sets):
        store.save(Dataset(studies=studies, meta=_meta(data_timestamp=f"day {i}")))
        versions.append(store.version())
    assert len(set(versions)) == 3  # the version changes with every save
    assert store.load().studies == sets[2] and store.load("previous").studies == sets[1]
    assert store.load_meta("previous").data_timestamp == "day 1"
    # the first set is gone: two sets stored, and only their studies
    assert _sql(store, "SELECT count(*) FROM datasets")[0][0] == 2
    assert _sql(store, "SELECT count(*) FROM studies")[0][0] == len(sets[1]) + len(sets[2])


def test_an_empty_data_set_is_a_data_set(store: DbStore) -> None:
    store.save(Dataset(studies=[], meta=_meta()))
    assert store.load().studies == [] and store.load_meta().count == 0


@pytest.mark.parametrize("damage, message", [
    ("UPDATE studies SET record = record || ' ' WHERE position = 1", "checksum mismatch in study 2"),
    ("DELETE FROM studies WHERE position = 2", "wrong study count"),
    ("UPDATE datasets SET sha256 = 'f00d'", "checksum mismatch"),
    ("UPDATE datasets SET count = count + 1", "wrong study count"),
])
def test_a_damaged_set_is_refused_then_set_aside_and_the_previous_served(store: DbStore, settings_db: Settings,
                                                                         fixture_studies, damage, message) -> None:
    store.save(Dataset(studies=fixture_studies[:4], meta=_meta(data_timestamp="A")))
    store.save(Dataset(studies=fixture_studies[4:8], meta=_meta(data_timestamp="B")))
    current = store.version()
    _sql(store, damage.replace("WHERE", f"WHERE dataset_id = {current} AND") if "studies" in damage
         else f"{damage} WHERE id = {current}")
    with pytest.raises(DataError, match=message):
        store.load()
    served = load_dataset(settings_db)
    assert served.studies == fixture_studies[:4]  # the previous set, exactly
    assert any(message.split(" in ")[0] in w and "set aside" in w and "fetch" in w for w in served.meta.warnings)
    assert store.load() is None and store.version() is None  # out of the pointer, marked, kept
    assert _sql(store, "SELECT count(*) FROM datasets WHERE damaged_at IS NOT NULL")[0][0] == 1
    store.save(Dataset(studies=fixture_studies[8:9], meta=_meta(data_timestamp="C")))
    assert store.load("previous").studies == fixture_studies[:4]  # the good previous set survives
    assert _sql(store, "SELECT count(*) FROM datasets")[0][0] == 2  # and the damaged one is gone


def _resealed(store: DbStore, position: int, record: str) -> None:
    """Replace one stored record of the current set and recompute every checksum over it, as a writer that
    knew the format would: only the JSON itself is wrong then."""
    current = store.version()
    rows = _sql(store, "SELECT record FROM studies WHERE dataset_id = :d ORDER BY position", d=current)
    texts = [record if k == position else r[0] for k, r in enumerate(rows)]
    _sql(store, "UPDATE studies SET record = :r, sha256 = :s WHERE dataset_id = :d AND position = :p",
         r=record, s=hashlib.sha256(record.encode()).hexdigest(), d=current, p=position)
    whole = hashlib.sha256(("[" + ",".join(texts) + "]").encode()).hexdigest()
    _sql(store, "UPDATE datasets SET sha256 = :s WHERE id = :d", s=whole, d=current)


@pytest.mark.parametrize("batch", [3, 500])
def test_a_load_reads_in_batches_and_checks_every_one(store: DbStore, fixture_studies, monkeypatch, batch) -> None:
    """A load reads and parses the records a batch at a time (not all the text at once): the same studies
    in the same order, and damage in any batch found, with the study it is in."""
    monkeypatch.setattr("trialfinder.source.database.LOAD_BATCH", batch)
    studies = fixture_studies[:10]
    store.save(Dataset(studies=studies, meta=_meta()))
    assert store.load().studies == studies
    _resealed(store, 7, '{"protocolSection": ')  # the eighth record cut short: checksums made to match it
    with pytest.raises(DataError, match="bad JSON"):
        store.load()
    store.save(Dataset(studies=studies, meta=_meta()))
    _resealed(store, 8, "1, 2")  # two values where one study was: the count no longer matches
    with pytest.raises(DataError, match="wrong study count"):
        store.load()
    store.save(Dataset(studies=studies, meta=_meta()))
    _sql(store, "UPDATE studies SET record = record || ' ' WHERE dataset_id = :d AND position = 8", d=store.version())
    with pytest.raises(DataError, match="checksum mismatch in study 9"):
        store.load()


def test_a_save_that_fails_half_way_leaves_the_last_set_and_nothing_else(store: DbStore, fixture_studies,
                                                                         monkeypatch) -> None:
    store.save(Dataset(studies=fixture_studies[:3], meta=_meta()))
    before = store.version()
    real = DbStore._switch

    def fail_after_the_inserts(self, conn, meta, rows):
        real(self, conn, meta, rows)  # everything written, pointer switched, old sets deleted: then a failure
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(DbStore, "_switch", fail_after_the_inserts)
    with pytest.raises(OSError, match="No space"):
        store.save(Dataset(studies=fixture_studies[3:9], meta=_meta()))
    monkeypatch.undo()
    assert store.version() == before and store.load().studies == fixture_studies[:3]
    assert _sql(store, "SELECT count(*) FROM studies")[0][0] == 3


def test_readers_never_see_a_partial_set(store: DbStore, fixture_studies) -> None:
    """A writer replaces the set 12 times (A, B, A, …) while a reader loads without pause."""
    a, b = fixture_studies[:150], fixture_studies[150:300]
    store.save(Dataset(studies=a, meta=_meta()))
    seen: list[str] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            try:
                got = store.load()
                seen.append("A" if got.studies == a else "B" if got.studies == b else "MIX")
            except BaseException as exc:  # noqa: BLE001 (reported below)
                errors.append(exc)
                return

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(12):
            store.save(Dataset(studies=b if i % 2 == 0 else a, meta=_meta()))
    finally:
        done.set()
        thread.join()
    assert errors == [] and "MIX" not in seen and len(seen) >= 3, (errors, seen[:5])


def test_one_refresher_at_a_time(store: DbStore, settings_db: Settings) -> None:
    other = DbStore(settings_db.database, wait=0.3)
    with store.lock():
        with pytest.raises(StoreUnavailable, match="another refresh has held .* for over 0.3 s; try again later"):
            with other.lock():
                pass
    with other.lock():  # free again once given back
        pass


def test_a_refresh_waits_for_the_other_then_goes_on(store: DbStore, settings_db: Settings, fixture_studies) -> None:
    order: list[str] = []
    holder_in = threading.Event()

    def holder() -> None:
        with store.lock():
            holder_in.set()
            order.append("first in")
            threading.Event().wait(0.4)
            store.save(Dataset(studies=fixture_studies[:2], meta=_meta()))
            order.append("first out")

    thread = threading.Thread(target=holder)
    thread.start()
    holder_in.wait(5)
    with DbStore(settings_db.database, wait=10).lock():
        order.append("second in")
    thread.join()
    assert order == ["first in", "first out", "second in"]


def test_files_of_an_earlier_version_are_migrated_once(tmp_path: Path, database_url: str, fixture_studies) -> None:
    settings = Settings(cache_dir=tmp_path / "cache", database_url=database_url)
    files = DataStore(settings.dataset_dir)
    files.save(Dataset(studies=fixture_studies[:5], meta=_meta(data_timestamp="old")))
    files.save(Dataset(studies=fixture_studies[5:7], meta=_meta(data_timestamp="new", query="AML")))
    file_sha = files.load_meta().sha256
    store = open_store(settings)
    assert store.load().studies == fixture_studies[5:7] and store.load("previous").studies == fixture_studies[:5]
    assert store.load_meta().sha256 == file_sha and store.load_meta().query == "AML"
    assert not settings.dataset_dir.exists() and list(settings.cache_dir.glob("dataset.migrated-*"))
    version = store.version()
    open_store(settings)
    assert store.version() == version  # not again


def test_an_unknown_database_url_is_one_line_saying_what_to_give(tmp_path: Path) -> None:
    for url in ("mysql://u:secret@host/db", "not a url", "redis://localhost"):
        with pytest.raises(InvalidInput, match="TRIALFINDER_DATABASE_URL=.* is not a usable database URL; give "
                                               "postgresql://") as caught:
            open_store(Settings(cache_dir=tmp_path, database_url=url))
        assert "secret" not in str(caught.value)
    env = Settings.from_env({"TRIALFINDER_DATABASE_URL": " postgresql://h/db "}, cache_dir=tmp_path)
    assert env.database == "postgresql://h/db"
    assert Settings(cache_dir=tmp_path).database == f"sqlite:///{tmp_path / 'trialfinder.sqlite'}"


def test_an_unreachable_server_is_a_store_error_not_the_snapshot(tmp_path: Path) -> None:
    from conftest import closed_port

    settings = Settings(cache_dir=tmp_path, database_url=f"postgresql://me:secret@127.0.0.1:{closed_port()}/tf")
    for attempt in (lambda: open_store(settings).version(), lambda: load_dataset(settings),
                    lambda: open_store(settings).save(Dataset(studies=[], meta=_meta()))):
        with pytest.raises(StoreUnavailable) as caught:
            attempt()
        message = str(caught.value)
        assert "\n" not in message and "secret" not in message and "me@" not in message
        assert "check TRIALFINDER_DATABASE_URL and that the server is running" in message


def test_sqlite_in_a_folder_that_cannot_be_created(tmp_path: Path, fixture_studies) -> None:
    (tmp_path / "file").write_text("a file, not a folder")
    settings = Settings(cache_dir=tmp_path / "file" / "cache")
    assert open_store(settings).version() is None  # reading creates nothing: no data set yet
    assert load_dataset(settings).meta.source == "snapshot"
    with pytest.raises(StoreUnavailable, match="cannot open the data-set database .*; check that its folder"):
        open_store(settings).save(Dataset(studies=fixture_studies[:1], meta=_meta()))


@pytest.mark.parametrize("damage", ["garbage", "zero_tail", "directory", "fifo"])
def test_a_damaged_sqlite_file_is_moved_aside_and_the_snapshot_served(tmp_path: Path, fixture_studies,
                                                                       damage: str) -> None:
    settings = Settings(cache_dir=tmp_path / "cache")
    store = open_store(settings)
    store.save(Dataset(studies=fixture_studies[:50], meta=_meta()))
    store.save(Dataset(studies=fixture_studies[50:100], meta=_meta()))
    path = tmp_path / "cache" / "trialfinder.sqlite"
    data = path.read_bytes()
    path.unlink()
    if damage == "garbage":
        path.write_bytes(b"this is not an SQLite database\n" * 300)
    elif damage == "zero_tail":
        path.write_bytes(data[:4096] + bytes(len(data) - 4096))
    elif damage == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)
    served = load_dataset(settings)
    assert served.meta.source == "snapshot" and len(served.studies) == 377
    assert any("moved aside to" in w and "trialfinder.sqlite.corrupt-" in w for w in served.meta.warnings)
    assert not os.path.lexists(path)
    store.save(Dataset(studies=fixture_studies[:2], meta=_meta()))  # the next refresh starts a new file
    assert store.load().studies == fixture_studies[:2]


def test_the_sqlite_file_is_private_and_in_wal_mode(tmp_path: Path, fixture_studies) -> None:
    old = os.umask(0)
    try:
        settings = Settings(cache_dir=tmp_path / "cache")
        store = open_store(settings)
        store.save(Dataset(studies=fixture_studies[:2], meta=_meta()))
        with store.lock():
            pass
    finally:
        os.umask(old)
    for path in (settings.cache_dir, *settings.cache_dir.iterdir()):
        assert path.stat().st_mode & 0o077 == 0, path
    assert _sql(store, "PRAGMA journal_mode")[0][0] == "wal"


def test_a_read_only_role_reads_and_cannot_save(pg, fixture_studies) -> None:
    from conftest import pg_schema_url

    url = pg_schema_url(pg, "readonly_case")
    open_store(Settings(database_url=url)).save(Dataset(studies=fixture_studies[:3], meta=_meta()))
    reader = pg.create_readonly_role("trialfinder", "reader_store")
    pg.sql("GRANT USAGE ON SCHEMA readonly_case TO reader_store; "
           "GRANT SELECT ON ALL TABLES IN SCHEMA readonly_case TO reader_store", "trialfinder")
    store = open_store(Settings(database_url=reader + "?options=-csearch_path%3Dreadonly_case"))
    assert store.load().studies == fixture_studies[:3]
    with pytest.raises(StoreUnavailable) as caught:
        store.save(Dataset(studies=fixture_studies[3:5], meta=_meta()))
    message = str(caught.value)
    assert message.startswith(f"the database postgresql://127.0.0.1:{pg.port}/trialfinder refused saving the data set")
    assert "read-only for this role; check TRIALFINDER_DATABASE_URL" in message and "reader" not in message
    assert store.load().studies == fixture_studies[:3]
