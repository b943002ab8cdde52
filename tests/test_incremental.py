"""Incremental refresh (issue 16 item 5): a new data set rebuilds only the studies whose record changed,
and the tables are exactly those of a full build; changed rules or code rebuild everything.

The "new download" is an edited copy of the 377 real fixture records (fixtures/aml-studies): one
study's status changed, one site added to another, one eligibility text cut short, one study gone, one
new study (a real record under a new NCT id), and one record marked partial."""

from __future__ import annotations

import copy

import pytest
from fixture_tables import assert_same_tables

from trialfinder.find import incremental, tablecache
from trialfinder.find.tablefile import decode_tables, encode_tables
from trialfinder.find.tables import build_tables
from trialfinder.source.store import Dataset, DatasetMeta


def _ps(record: dict) -> dict:
    return record["protocolSection"]


def _nct(record: dict) -> str:
    return _ps(record)["identificationModule"]["nctId"]


def _with_sites(records: list[dict]) -> dict:
    return next(r for r in records if len(_ps(r).get("contactsLocationsModule", {}).get("locations") or []) > 2)


def _with_criteria(records: list[dict]) -> dict:
    return next(r for r in records if len(_ps(r).get("eligibilityModule", {}).get("eligibilityCriteria") or "") > 400)


def edited(records: list[dict]) -> tuple[list[dict], set[str]]:
    """A copy of ``records`` as a later download might give it, and the NCT ids whose record changed."""
    out = copy.deepcopy(records)
    changed = set()
    status = _ps(out[3])["statusModule"]
    status["overallStatus"] = "COMPLETED" if status.get("overallStatus") != "COMPLETED" else "RECRUITING"
    changed.add(_nct(out[3]))
    sited = _with_sites(out[10:])
    locations = _ps(sited)["contactsLocationsModule"]["locations"]
    locations.append({**locations[0], "facility": "A site opened since", "status": "RECRUITING"})
    changed.add(_nct(sited))
    criteria = _with_criteria(out[20:])
    module = _ps(criteria)["eligibilityModule"]
    module["eligibilityCriteria"] = module["eligibilityCriteria"][:300]
    changed.add(_nct(criteria))
    del out[40]
    new = copy.deepcopy(out[50])
    _ps(new)["identificationModule"]["nctId"] = "NCT09999999"
    out.insert(7, new)
    changed.add("NCT09999999")
    return out, changed


META = DatasetMeta(source="cache", data_timestamp="2026-11-20", fetched_at=None, sha256="a" * 64)
NEW_META = DatasetMeta(source="live", data_timestamp="2026-12-01", fetched_at=None, sha256="b" * 64)


@pytest.fixture(scope="module")
def previous(fixture_studies):
    """The fixture records' tables as the cache keeps them (written and read back), with their digests."""
    dataset = Dataset(studies=fixture_studies, meta=META)
    tables = build_tables(dataset)
    tables.digests = incremental.record_digests(dataset) or {}
    return decode_tables(encode_tables(tables))


def test_digests_change_only_with_the_record(fixture_studies):
    records, changed = edited(fixture_studies)
    before = incremental.record_digests(Dataset(studies=fixture_studies, meta=META))
    after = incremental.record_digests(Dataset(studies=records, meta=NEW_META))
    assert before and after
    assert {n for n, d in after.items() if before.get(n) != d} == changed
    marked = incremental.record_digests(Dataset(studies=records, meta=NEW_META, partial=frozenset({_nct(records[0])})))
    assert marked and marked[_nct(records[0])] != after[_nct(records[0])]  # (partial or not shows in the rows)
    twice = [*fixture_studies[:3], fixture_studies[1]]
    assert incremental.record_digests(Dataset(studies=twice, meta=META)) is None  # (a repeated id: built in full)


def test_an_update_equals_a_full_build_and_rebuilds_only_the_changed(fixture_studies, previous, monkeypatch):
    records, changed = edited(fixture_studies)
    partial = frozenset({_nct(records[0]), _nct(records[1])})
    dataset = Dataset(studies=records, meta=NEW_META, partial=partial)
    rebuilt: list[str] = []
    real = incremental.build_tables

    def counting(ds, *args):
        rebuilt.extend(_nct(r) for r in ds.studies)
        return real(ds, *args)

    monkeypatch.setattr(incremental, "build_tables", counting)
    got = incremental.update_tables(dataset, previous, incremental.record_digests(dataset) or {})
    assert set(rebuilt) == changed | partial  # (the first two were full records before)
    assert_same_tables(got, build_tables(dataset))
    assert (got.studies["data_timestamp"] == "2026-12-01").all()
    assert "NCT09999999" in got.sites["nct_id"].tolist()
    assert _nct(fixture_studies[40]) not in got.studies.index


def test_nothing_changed_rebuilds_nothing(fixture_studies, previous, monkeypatch):
    dataset = Dataset(studies=copy.deepcopy(fixture_studies), meta=NEW_META)
    monkeypatch.setattr(incremental, "build_tables", lambda *a: pytest.fail("nothing should be rebuilt"))
    got = incremental.update_tables(dataset, previous, incremental.record_digests(dataset) or {})
    assert_same_tables(got, build_tables(dataset))


@pytest.fixture
def downloads(tmp_path, monkeypatch, fixture_studies):
    """load_tables on a data set of our choosing (the download stands in for the store), counting the
    records each build_tables call is given."""
    from trialfinder.source.settings import Settings

    settings = Settings(cache_dir=tmp_path / "cache")
    current: list[Dataset] = []
    monkeypatch.setattr(tablecache, "load_dataset", lambda s: current[-1])
    built: list[int] = []
    for module in (tablecache, incremental):
        real = module.build_tables
        monkeypatch.setattr(module, "build_tables",
                            lambda ds, *a, real=real: built.append(len(ds.studies)) or real(ds, *a))
    return settings, current, built


def test_load_tables_after_a_new_download_updates(downloads, fixture_studies):
    settings, current, built = downloads
    current.append(Dataset(studies=fixture_studies, meta=copy.copy(META)))
    tablecache.load_tables(settings)
    records, changed = edited(fixture_studies)
    current.append(Dataset(studies=records, meta=copy.copy(NEW_META)))
    got = tablecache.load_tables(settings)
    assert built == [len(fixture_studies), len(changed)]
    assert_same_tables(got, build_tables(Dataset(studies=records, meta=NEW_META)))
    assert len(list(settings.cache_dir.glob("tables-*"))) == 1


def test_changed_rules_rebuild_everything(downloads, fixture_studies, monkeypatch):
    settings, current, built = downloads
    current.append(Dataset(studies=fixture_studies, meta=copy.copy(META)))
    tablecache.load_tables(settings)
    monkeypatch.setattr(tablecache, "code_fingerprint", lambda: "the rule tables were edited")
    records, _ = edited(fixture_studies)
    current.append(Dataset(studies=records, meta=copy.copy(NEW_META)))
    tablecache.load_tables(settings)
    assert built == [len(fixture_studies), len(records)]


def test_the_fingerprint_covers_the_rule_tables_and_the_place_index(tmp_path, monkeypatch):
    import shutil

    package = tmp_path / "trialfinder"
    shutil.copytree(tablecache.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(tablecache, "PACKAGE", package)
    fingerprint = tablecache.code_fingerprint.__wrapped__
    seen = {fingerprint()}
    for changed in (package / "classify" / "rules" / "eligibility.csv", package / "data" / "places.npz",
                    package / "classify" / "categories.py"):
        changed.write_bytes(changed.read_bytes() + b"\n")
        seen.add(fingerprint())
    assert len(seen) == 4


def test_a_new_machine_reads_the_packaged_snapshot_tables(tmp_path, monkeypatch):
    """The bundled snapshot's tables shipped with the package (scripts/build_snapshot.py --tables) are
    used when this code built them from this snapshot, and never otherwise."""
    from trialfinder.source.settings import DEFAULT_SNAPSHOT_DIR, Settings
    from trialfinder.source.store import load_snapshot

    snapshot = load_snapshot(DEFAULT_SNAPSHOT_DIR)
    tables = build_tables(snapshot)
    tables.digests, tables.built_by = incremental.record_digests(snapshot) or {}, tablecache.built_by()
    packaged = tmp_path / "snapshot-tables.parquets"
    packaged.write_bytes(encode_tables(tables))
    monkeypatch.setattr(tablecache, "PACKAGED_TABLES", packaged)
    built: list[int] = []
    real = tablecache.build_tables
    monkeypatch.setattr(tablecache, "build_tables", lambda ds, *a: built.append(len(ds.studies)) or real(ds, *a))

    got = tablecache.load_tables(Settings(cache_dir=tmp_path / "new-machine"))
    assert built == [] and got.meta.source == "snapshot"
    assert_same_tables(got, tables)
    assert list((tmp_path / "new-machine").glob("tables-*"))  # (kept in the user's cache as any other)

    monkeypatch.setattr(tablecache, "code_fingerprint", lambda: "other code")
    tablecache.load_tables(Settings(cache_dir=tmp_path / "another-machine"))
    assert built == [len(snapshot.studies)]
