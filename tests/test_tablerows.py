"""The tables built from a data set, stored in the data-set database beside it (issue 17: "the studies,
sites, interventions and labels are tables"), on both backends (SQLite, the default, and a real
PostgreSQL, tests/pgserver.py): read back frame for frame equal to ``build_tables``, read by another
process instead of classifying again, rebuilt (never shown) when damaged, built in memory by a role that
may only read, and dropped with their data set.

Studies are the real records of fixtures/aml-studies; where a test damages stored rows it edits those
rows (copies), never the fixture files.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from fixture_tables import fixture_tables
from sqlalchemy import text

from trialfinder.find import tablecache, tablerows
from trialfinder.find.tablecache import built_by, load_tables, share_tables
from trialfinder.find.tables import Tables, build_tables
from trialfinder.source.database import Built, DbStore, _engine, open_store
from trialfinder.source.dataset import load_dataset
from trialfinder.source.settings import Settings
from trialfinder.source.store import Dataset, DatasetMeta

FRAMES = ("studies", "sites", "interventions")
DERIVED = ("built", "study_rows", "sites", "interventions", "labels")


def _meta(**changes) -> DatasetMeta:
    return DatasetMeta(**{"source": "live", "data_timestamp": "2026-11-20T08:00:00",
                          "fetched_at": "2026-11-21T10:00:00+00:00", **changes})


def _sql(store: DbStore, statement: str, **params) -> list:
    with _engine(store.url).begin() as conn:
        result = conn.execute(text(statement), params)
        return list(result) if result.returns_rows else []


def assert_same_tables(got: Tables, expected: Tables) -> None:
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(got, name), getattr(expected, name))  # (dtypes and index included)


@pytest.fixture
def replica(tmp_path: Path, database_url: str):
    """Settings of a new process on the same store (on SQLite, one file named by its URL): a cache folder
    of its own (no tables cache)."""
    made = iter(range(1, 100))
    url = database_url or f"sqlite:///{tmp_path / 'shared' / 'trialfinder.sqlite'}"
    return lambda: Settings(cache_dir=tmp_path / f"replica-{next(made)}", database_url=url,
                            snapshot_dir=tmp_path / "no-snapshot")


@pytest.fixture
def builds(monkeypatch) -> list[int]:
    """Counts every table build (full or incremental) from here on."""
    calls: list[int] = []
    real_build, real_update = tablecache.build_tables, tablecache.update_tables

    def counted_build(*args, **kwargs):
        calls.append(1)
        return real_build(*args, **kwargs)

    def counted_update(*args, **kwargs):
        calls.append(1)
        return real_update(*args, **kwargs)

    monkeypatch.setattr(tablecache, "build_tables", counted_build)
    monkeypatch.setattr(tablecache, "update_tables", counted_update)
    return calls


def _refresh(settings: Settings, studies: list[dict], **meta) -> Dataset:
    """What `trialfinder fetch` does after its download: save the set, build its tables and store them."""
    dataset = Dataset(studies=studies, meta=_meta(**meta))
    open_store(settings).save(dataset)
    share_tables(settings, dataset)
    return dataset


def test_stored_tables_are_read_by_another_process_equal_to_a_build(replica, fixture_studies, builds) -> None:
    refresher = replica()
    dataset = _refresh(refresher, fixture_studies, data_timestamp="2025-03")
    assert len(builds) == 1  # the refresher classified once
    expected = build_tables(Dataset(studies=fixture_studies, meta=dataset.meta))
    for _ in range(2):  # two replicas, new cache folders: neither classifies
        got = load_tables(replica())
        assert_same_tables(got, expected)
        assert got.meta.source == "cache" and got.meta.sha256 == dataset.meta.sha256 and got.meta.count == 377
        assert got.built_by == built_by() and got.digests == tablecache.record_digests(dataset)
    assert len(builds) == 1
    # and such a replica keeps its own copy: the next command there reads neither the rows nor the set
    settings = replica()
    load_tables(settings)
    assert list(settings.cache_dir.glob("tables-*.parquets"))


def test_the_labels_are_a_table_to_query(replica, fixture_studies) -> None:
    settings = replica()
    _refresh(settings, fixture_studies)
    store = open_store(settings)
    listed = _sql(store, "SELECT nct_id FROM labels WHERE category = 'targeted' "
                         "AND dataset_id = (SELECT current_id FROM pointer) ORDER BY nct_id")
    tables = fixture_tables()
    expected = sorted(n for n, cats in zip(tables.studies["nct_id"], tables.studies["categories"], strict=True)
                      if "targeted" in cats)
    assert [r[0] for r in listed] == expected and len(expected) > 20
    evidence = _sql(store, "SELECT evidence FROM labels WHERE nct_id = :n AND category = 'targeted'", n=expected[0])
    assert evidence[0][0] == tables.studies.loc[expected[0], "evidence"]["targeted"]
    # one SQL column a plain value: the sites of a country, the open ones counted
    (open_us,), = _sql(store, "SELECT count(*) FROM sites WHERE country = 'United States' AND site_open "
                              "AND dataset_id = (SELECT current_id FROM pointer)")
    assert open_us == int((tables.sites["country"].eq("United States") & tables.sites["site_open"]).sum()) > 0


@pytest.mark.parametrize("damage", [
    "UPDATE labels SET category = 'targeted' WHERE row = 3 AND rank = 0",  # a label edited
    "DELETE FROM sites WHERE row = 7",  # a site row lost
    "UPDATE study_rows SET phases = '[[[' WHERE row = 0",  # a value that is not JSON
    "UPDATE study_rows SET min_age_years = 99 WHERE row = 1",  # a plain value edited
    "UPDATE built SET layout = '{}'",  # the layout
])
def test_damaged_rows_are_rebuilt_never_shown_and_replaced(replica, fixture_studies, builds, damage) -> None:
    refresher = replica()
    dataset = _refresh(refresher, fixture_studies[:120])
    store = open_store(refresher)
    _sql(store, damage)
    expected = build_tables(Dataset(studies=fixture_studies[:120], meta=dataset.meta))
    before = len(builds)
    assert_same_tables(load_tables(replica()), expected)  # built again, from the verified data set
    assert len(builds) == before + 1
    assert_same_tables(load_tables(replica()), expected)  # and stored whole again for the next replica
    assert len(builds) == before + 1


def test_a_role_that_may_only_read_still_answers(pg, tmp_path: Path, fixture_studies, builds) -> None:
    from conftest import pg_schema_url

    url = pg_schema_url(pg, "readonly_tables")
    writer = Settings(cache_dir=tmp_path / "writer", database_url=url)
    dataset = Dataset(studies=fixture_studies[:60], meta=_meta())
    open_store(writer).save(dataset)  # (a set without stored tables: the reader has to build them)
    role = pg.create_readonly_role("trialfinder", "reader_tables")
    # first without access to the tables of built rows at all, then with read access to every table
    pg.sql("GRANT USAGE ON SCHEMA readonly_tables TO reader_tables; GRANT SELECT ON readonly_tables.datasets, "
           "readonly_tables.studies, readonly_tables.pointer TO reader_tables", "trialfinder")
    reader_url = role + "?options=-csearch_path%3Dreadonly_tables"
    expected = build_tables(Dataset(studies=fixture_studies[:60], meta=dataset.meta))
    before = len(builds)
    assert_same_tables(load_tables(Settings(cache_dir=tmp_path / "r1", database_url=reader_url)), expected)
    pg.sql("GRANT SELECT ON ALL TABLES IN SCHEMA readonly_tables TO reader_tables", "trialfinder")
    assert_same_tables(load_tables(Settings(cache_dir=tmp_path / "r2", database_url=reader_url)), expected)
    assert len(builds) == before + 2  # built in memory each time: nothing could be stored
    assert _sql(open_store(writer), "SELECT count(*) FROM built")[0][0] == 0
    share_tables(writer, dataset)  # the refresher stores them: now the reader reads them
    assert_same_tables(load_tables(Settings(cache_dir=tmp_path / "r3", database_url=reader_url)), expected)
    assert len(builds) == before + 3  # (that one build was the refresher's)


def test_stored_tables_go_with_their_data_set(replica, fixture_studies) -> None:
    settings = replica()
    first = _refresh(settings, fixture_studies[:30], data_timestamp="A")
    second = _refresh(settings, fixture_studies[30:50], data_timestamp="B")
    store = open_store(settings)
    for table in DERIVED:
        assert _sql(store, f"SELECT count(*) FROM {table} WHERE dataset_id = :i", i=first.stored_id)[0][0] > 0, table
    third = _refresh(settings, fixture_studies[50:55], data_timestamp="C")
    for table in DERIVED:  # the first set is gone, and with it its tables; the previous keeps its own
        assert _sql(store, f"SELECT count(*) FROM {table} WHERE dataset_id = :i", i=first.stored_id)[0][0] == 0
        ids = {r[0] for r in _sql(store, f"SELECT DISTINCT dataset_id FROM {table}")}
        assert ids == {second.stored_id, third.stored_id}, table
    assert _sql(store, "SELECT count(*) FROM study_rows WHERE dataset_id = :i", i=third.stored_id)[0][0] == 5


def test_tables_of_a_set_replaced_meanwhile_are_not_stored(replica, fixture_studies) -> None:
    settings = replica()
    old = Dataset(studies=fixture_studies[:10], meta=_meta())
    store = open_store(settings)
    store.save(old)
    tables = build_tables(old)
    for timestamp in ("B", "C"):  # two refreshes later, the old set is deleted
        store.save(Dataset(studies=fixture_studies[10:20], meta=_meta(data_timestamp=timestamp)))
    assert not tablerows.write_shared(store, old.stored_id, tables, built_by())
    assert _sql(store, "SELECT count(*) FROM built")[0][0] == 0


def test_an_empty_data_set_round_trips(replica) -> None:
    settings = replica()
    dataset = _refresh(settings, [])
    assert_same_tables(load_tables(replica()), build_tables(Dataset(studies=[], meta=dataset.meta)))


def test_a_frame_column_the_schema_does_not_know_goes_into_extra() -> None:
    """Code newer than the database's tables: a column without an SQL column is kept, as JSON."""
    base = fixture_tables()
    studies = base.studies.copy()
    studies.insert(3, "new_flag", studies["phase_rank"] > 1)
    studies.insert(5, "new_text", studies["title"].str.upper())

    sites = base.sites.assign(study_row=base.sites["study_row"].astype("float64"))  # a kind the SQL column is not
    tables = replace(base, studies=studies, sites=sites, digests={"NCT1": "ab"})
    layout, sha256, rows = tablerows.to_rows(tables)
    got = tablerows.from_rows(Built(1, replace(base.meta), layout, sha256, rows), "me")
    assert_same_tables(got, tables)
    assert got.digests == {"NCT1": "ab"} and got.built_by == "me"


def test_a_zero_byte_database_file_is_no_data_set_yet_and_the_first_save_works(tmp_path: Path,
                                                                              fixture_studies) -> None:
    """A 0-byte trialfinder.sqlite (``touch``, a copy that crashed, or a first save killed between
    creating the file and its first write): nothing in it to keep, so no data set yet; not set aside."""
    settings = Settings(cache_dir=tmp_path / "cache")
    settings.cache_dir.mkdir()
    path = settings.cache_dir / "trialfinder.sqlite"
    path.touch()
    store = open_store(settings)
    assert store.version() is None and store.load() is None and store.load_meta() is None
    served = load_dataset(settings)
    assert served.meta.source == "snapshot" and served.meta.warnings == []
    assert path.exists() and not list(settings.cache_dir.glob("*.corrupt-*"))
    _refresh(settings, fixture_studies[:3])
    assert store.load().studies == fixture_studies[:3] and path.stat().st_size > 0
    assert len(load_tables(settings).studies) == 3


def test_a_refresher_on_a_new_machine_rebuilds_only_the_changed_studies(replica, fixture_studies,
                                                                        monkeypatch) -> None:
    """The tables stored of the previous set (with their record digests) stand in for the local copy an
    incremental refresh needs: a refresher with an empty cache folder builds only the 5 new studies."""
    _refresh(replica(), fixture_studies[:100], data_timestamp="A")
    updates: list[int] = []
    real_update = tablecache.update_tables

    def full_build(*args, **kwargs):
        raise AssertionError("a full build")

    def counted_update(*args, **kwargs):
        updates.append(1)
        return real_update(*args, **kwargs)

    monkeypatch.setattr(tablecache, "build_tables", full_build)
    monkeypatch.setattr(tablecache, "update_tables", counted_update)
    dataset = _refresh(replica(), fixture_studies[:105], data_timestamp="B")
    assert updates == [1]
    monkeypatch.undo()
    expected = build_tables(Dataset(studies=fixture_studies[:105], meta=dataset.meta))
    assert_same_tables(load_tables(replica()), expected)  # (what the next replica reads: equal to a build)


def test_the_embedded_default_keeps_no_rows_of_tables(tmp_path: Path, fixture_studies) -> None:
    """One user's own SQLite file (no TRIALFINDER_DATABASE_URL) sits beside the Parquet copy, which serves:
    neither fetch nor search writes the tables' rows there."""
    settings = Settings(cache_dir=tmp_path / "cache")
    dataset = _refresh(settings, fixture_studies[:20])
    assert_same_tables(load_tables(settings), build_tables(Dataset(studies=fixture_studies[:20], meta=dataset.meta)))
    assert _sql(open_store(settings), "SELECT count(*) FROM built")[0][0] == 0
    assert list(settings.cache_dir.glob("tables-*.parquets"))
