"""tablecache: built tables are reused for the same data set and code, rebuilt otherwise."""

from __future__ import annotations

import pytest

from trialfinder.find import tablecache
from trialfinder.source.settings import Settings


@pytest.fixture
def cold(tmp_path, monkeypatch):
    settings = Settings(cache_dir=tmp_path / "cache")
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
    assert list(settings.cache_dir.glob("tables-*.pkl"))[0].stat().st_mode & 0o077 == 0


def test_damaged_cache_entry_is_rebuilt(cold):
    settings, calls = cold
    tablecache.load_tables(settings)
    (entry,) = settings.cache_dir.glob("tables-*.pkl")
    entry.write_bytes(b"not a pickle")
    tables = tablecache.load_tables(settings)
    assert len(calls) == 2 and len(tables.studies) == 377


def test_changed_code_or_rules_rebuild(cold, monkeypatch):
    settings, calls = cold
    tablecache.load_tables(settings)
    monkeypatch.setattr(tablecache, "code_fingerprint", lambda: "another version of the rules")
    tablecache.load_tables(settings)
    assert len(calls) == 2
    assert len(list(settings.cache_dir.glob("tables-*.pkl"))) == 1  # the old entry is removed


def test_a_seen_download_loads_without_parsing_the_data_file(api, settings, monkeypatch):
    from trialfinder.source.dataset import refresh_dataset
    from trialfinder.source.query import SearchQuery
    from trialfinder.source.session import build_session
    from trialfinder.source.store import DataStore

    refresh_dataset(settings, SearchQuery(statuses=()), session=build_session(settings))
    first = tablecache.load_tables(settings)
    assert first.meta.source == "cache" and len(first.studies) > 0

    def no_full_load(self, which="current"):
        raise AssertionError("the data file body should not be parsed again")

    monkeypatch.setattr(DataStore, "load", no_full_load)
    again = tablecache.load_tables(settings)
    assert again.studies.index.equals(first.studies.index)
    assert again.meta.sha256 == first.meta.sha256
