"""tablecache: built tables are reused for the same data set and code, rebuilt otherwise."""

from __future__ import annotations

import pytest

from trialfinder.find import tablecache
from trialfinder.source.settings import Settings


@pytest.fixture
def cold(tmp_path, monkeypatch):
    settings = Settings(cache_dir=tmp_path / "cache")
    monkeypatch.setattr(tablecache, "PACKAGED_TABLES", tmp_path / "none")  # (no snapshot tables shipped either)
    calls = []
    real = tablecache.build_tables

    def counting(dataset):
        calls.append(dataset.meta.sha256)
        return real(dataset)

    monkeypatch.setattr(tablecache, "build_tables", counting)
    return settings, calls


def test_second_load_reuses_the_built_tables(cold):
    settings, calls = cold
    first = tablecache.load_tables(settings)
    second = tablecache.load_tables(settings)
    assert len(calls) == 1
    assert second.studies.equals(first.studies) and len(second.sites) == len(first.sites)
    assert second.meta.source == "snapshot"
    assert list(settings.cache_dir.glob("tables-*"))[0].stat().st_mode & 0o077 == 0


def test_damaged_cache_entry_is_rebuilt(cold):
    settings, calls = cold
    tablecache.load_tables(settings)
    (entry,) = settings.cache_dir.glob("tables-*")
    entry.write_bytes(b"not a pickle")
    tables = tablecache.load_tables(settings)
    assert len(calls) == 2 and len(tables.studies) == 377


def test_changed_code_or_rules_rebuild(cold, monkeypatch):
    settings, calls = cold
    tablecache.load_tables(settings)
    monkeypatch.setattr(tablecache, "code_fingerprint", lambda: "another version of the rules")
    tablecache.load_tables(settings)
    assert len(calls) == 2
    assert len(list(settings.cache_dir.glob("tables-*"))) == 1  # the old entry is removed


def test_a_seen_download_loads_without_parsing_the_data_file(api, settings, monkeypatch):
    from trialfinder.source.database import DbStore
    from trialfinder.source.dataset import refresh_dataset
    from trialfinder.source.query import SearchQuery
    from trialfinder.source.session import build_session
    from trialfinder.source.store import DataStore

    refresh_dataset(settings, SearchQuery(statuses=()), session=build_session(settings))
    first = tablecache.load_tables(settings)
    assert first.meta.source == "cache" and len(first.studies) > 0

    def no_full_load(self, which="current"):
        raise AssertionError("the data file body should not be parsed again")

    monkeypatch.setattr(DbStore, "load", no_full_load)  # (the store data sets are kept in)
    monkeypatch.setattr(DataStore, "load", no_full_load)  # (the files of earlier versions)
    again = tablecache.load_tables(settings)
    assert again.studies.index.equals(first.studies.index)
    assert again.meta.sha256 == first.meta.sha256


@pytest.mark.parametrize("row_group", [None, 100])
def test_tables_file_round_trips_exactly(cold, monkeypatch, row_group):
    """What is read back is what was built: every frame, dtype, index, tuple and dict — also when the
    frames are written a row group at a time (100 rows: 4 groups of studies, 55 of sites)."""
    import pandas as pd

    from trialfinder.find import tablefile
    from trialfinder.find.tablefile import decode_tables, encode_tables

    if row_group:
        monkeypatch.setattr(tablefile, "ROW_GROUPS", dict.fromkeys(tablefile.FRAMES, row_group))
    settings, _ = cold
    built = tablecache.load_tables(settings)
    again = decode_tables(encode_tables(built))
    for name in ("studies", "sites", "interventions"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(built, name), check_exact=True)
        assert getattr(again, name).index.dtype == getattr(built, name).index.dtype
        for column in getattr(built, name).columns[getattr(built, name).dtypes == object]:
            assert list(map(repr, getattr(again, name)[column])) == list(map(repr, getattr(built, name)[column]))
    assert again.meta == built.meta
    row = again.studies.iloc[0]
    assert type(row["categories"]) is tuple and type(row["evidence"]) is dict


def test_the_tables_of_an_empty_data_set_round_trip():
    """A registry answer with no study is a data set: its (empty) tables are read back as written, every
    column and dtype there (its date column is in seconds, a unit Parquet stores as milliseconds)."""
    import pandas as pd

    from trialfinder.find.tablefile import decode_tables, encode_tables
    from trialfinder.find.tables import build_tables
    from trialfinder.source.store import Dataset, DatasetMeta

    built = build_tables(Dataset(studies=[], meta=DatasetMeta("live", "2026-12-01", None)))
    again = decode_tables(encode_tables(built))
    for name in ("studies", "sites", "interventions"):
        assert len(getattr(built, name)) == 0
        pd.testing.assert_frame_equal(getattr(again, name), getattr(built, name), check_exact=True)


class _Planted:
    """Unpickled, it leaves a file behind: what a hostile cache entry would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        from pathlib import Path

        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("payload", ["pickle", "pickle-in-our-container"])
def test_a_planted_cache_entry_runs_no_code(cold, tmp_path, payload):
    """Someone who can write the cache folder plants an entry (a pickle, or our file header followed by
    a pickle): reading it runs nothing, and the tables are rebuilt."""
    import pickle

    from trialfinder.find.tablefile import MAGIC

    settings, calls = cold
    tablecache.load_tables(settings)
    (entry,) = settings.cache_dir.glob("tables-*")
    marker = tmp_path / "code-ran"
    bomb = pickle.dumps(_Planted(marker))
    if payload == "pickle":
        entry.write_bytes(bomb)
    else:
        entry.write_bytes(MAGIC + len(bomb).to_bytes(8, "little") + bomb)
    tables = tablecache.load_tables(settings)
    assert len(calls) == 2 and len(tables.studies) == 377
    assert not marker.exists()


def test_a_library_upgrade_rebuilds(cold, monkeypatch):
    settings, calls = cold
    tablecache.load_tables(settings)
    monkeypatch.setattr(tablecache, "library_versions", lambda: "pandas=99")
    tablecache.load_tables(settings)
    assert len(calls) == 2
    assert len(list(settings.cache_dir.glob("tables-*"))) == 1


def test_old_pickles_are_removed(cold):
    settings, _ = cold
    settings.cache_dir.mkdir(parents=True)
    for name in ("tables-0123456789abcdef01234567.pkl", "geo-index-0123456789abcdef01234567.pkl"):
        (settings.cache_dir / name).write_bytes(b"an entry of an earlier version")
    tablecache.load_tables(settings)
    assert not list(settings.cache_dir.glob("*.pkl"))


def test_the_records_are_let_go_before_the_tables_file_is_written(cold, fixture_studies, monkeypatch):
    """load_tables has no use for the records once the tables are built: they are released before the
    tables file is encoded (which then reuses their memory); a caller that keeps them says so."""
    import copy

    from trialfinder.source.store import Dataset, DatasetMeta

    settings, _calls = cold
    seen = []
    real_save = tablecache._save

    def save(path, tables):
        seen.append(len(dataset.studies))  # (how many records the data set still holds while encoding)
        real_save(path, tables)

    monkeypatch.setattr(tablecache, "_save", save)
    meta = DatasetMeta(source="cache", data_timestamp="2026-11-20", fetched_at=None, sha256="c" * 64)
    dataset = Dataset(studies=copy.deepcopy(fixture_studies), meta=meta)
    kept = tablecache.tables_of(settings, dataset)
    assert seen == [len(fixture_studies)] and len(dataset.studies) == len(fixture_studies)
    settings.cache_dir.joinpath(f"tables-{'c' * 64}.parquets").unlink(missing_ok=True)
    for old in settings.cache_dir.glob("tables-*"):
        old.unlink()
    released = tablecache.tables_of(settings, dataset, release=True)
    assert seen[-1] == 0 and dataset.studies == []
    assert released.studies.equals(kept.studies) and len(released.sites) == len(kept.sites)
    # load_tables, which loads the data set itself, lets it go
    asked = []
    real_tables_of = tablecache.tables_of
    monkeypatch.setattr(tablecache, "tables_of", lambda s, d, **kw: asked.append(kw) or real_tables_of(s, d, **kw))
    tablecache.load_tables(settings)
    assert asked == [{"release": True}] and seen[-1] == 0
