"""normalize.py: every fixture record normalizes; damaged records (fields missing, null, of the
wrong type, unknown enum values) still normalize — Hypothesis mutates copies of real records."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trialfinder.source.normalize import age_years, share_site_texts, site_rows, study_facts, study_row

ROOT = Path(__file__).resolve().parent.parent
RECORDS = sorted((ROOT / "fixtures" / "aml-studies").glob("NCT*.json"))
OTHER = sorted((ROOT / "fixtures" / "ctgov-v2").rglob("NCT*.json"))


@pytest.mark.parametrize(
    "text,years",
    [("18 Years", 18.0), ("6 Months", 0.5), ("N/A", None), ("", None), (None, None), ("1 Year", 1.0),
     ("30 Days", round(30 / 365.25, 3)), ("2 Weeks", round(14 / 365.25, 3)), ("eighteen", None), (18, None)],
)
def test_age_years(text, years):
    assert age_years(text) == years


def test_every_fixture_record_normalizes():
    for path in RECORDS + OTHER:
        record = json.loads(path.read_text())
        row = study_row(record)
        facts = study_facts(record)
        assert row["nct_id"].startswith("NCT") and row["nct_id"] == facts.nct_id
        assert row["url"] == f"https://clinicaltrials.gov/study/{row['nct_id']}"
        for site in site_rows(record):
            assert site["nct_id"] == row["nct_id"]


def test_the_437_site_record_keeps_every_site_and_geopoints():
    record = json.loads((ROOT / "fixtures/ctgov-v2/mcode-ctms/NCT02513394.json").read_text())
    sites = site_rows(record)
    assert len(sites) == 437
    assert sum(s["latitude"] is not None for s in sites) == 435


def test_fields_are_read_from_the_right_places():
    record = json.loads((ROOT / "fixtures/aml-studies/NCT05722171.json").read_text())
    row = study_row(record)
    assert row["status"] in {"RECRUITING", "NOT_YET_RECRUITING", "ACTIVE_NOT_RECRUITING", "UNKNOWN", "COMPLETED"}
    assert row["last_update"].startswith("2023-02")
    (site,) = site_rows(record)
    assert site["city"] == "Hefei" and site["latitude"] == pytest.approx(31.86389)
    facts = study_facts(record)
    assert facts.interventions[0].other_names == ("UTAA06 injection",)


JUNK = st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20), st.booleans(),
                 st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


def _paths(obj, prefix=()):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield prefix + (key,)
            yield from _paths(value, prefix + (key,))
    elif isinstance(obj, list):
        for i, value in enumerate(obj[:3]):
            yield prefix + (i,)
            yield from _paths(value, prefix + (i,))


SAMPLE = [json.loads(p.read_text()) for p in RECORDS[::25]]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_records_still_normalize(data):
    record = copy.deepcopy(data.draw(st.sampled_from(SAMPLE)))
    paths = list(_paths(record))
    for path in data.draw(st.lists(st.sampled_from(paths), min_size=1, max_size=6)):
        parent = record
        try:
            for key in path[:-1]:
                parent = parent[key]
            if data.draw(st.booleans()):
                if isinstance(parent, dict):
                    parent.pop(path[-1], None)
            else:
                parent[path[-1]] = data.draw(JUNK)
        except (KeyError, IndexError, TypeError):
            continue
    row = study_row(record)
    study_facts(record)
    site_rows(record)
    assert isinstance(row["title"], str) and isinstance(row["phases"], tuple)


@given(st.one_of(st.none(), st.integers(), st.text(), st.lists(st.none()), st.dictionaries(st.text(), st.none())))
def test_anything_at_the_top_level_normalizes(value):
    row = study_row(value)  # type: ignore[arg-type]
    assert row["nct_id"] == "" and site_rows(value) == []  # type: ignore[arg-type]


def test_site_texts_are_shared_not_changed():
    """share_site_texts: every record equal to before, and a text two sites have is one string (the real
    records of fixtures/, copies; and copies damaged in the shapes a registry answer could take)."""
    records = [json.loads(path.read_text()) for path in RECORDS + OTHER]
    before = copy.deepcopy(records)
    damaged = copy.deepcopy([r for r in records if r["protocolSection"].get("contactsLocationsModule")][:4])
    damaged[0]["protocolSection"]["contactsLocationsModule"]["locations"] = {"city": "Tucson"}  # not a list
    damaged[1]["protocolSection"]["contactsLocationsModule"]["locations"] = ["Tucson", None, 3]  # not dicts
    damaged[2]["protocolSection"] = ["not", "an", "object"]
    damaged[3]["protocolSection"]["contactsLocationsModule"] = None
    odd = [*damaged, None, "NCT00000000", [], {}]
    odd_before = copy.deepcopy(odd)
    seen: dict[str, str] = {}
    share_site_texts(records[:100], seen)  # (in two batches, as the store reads them)
    share_site_texts(records[100:] + odd, seen)
    assert records == before and odd == odd_before
    cities = {}
    for record in records:
        for site in record["protocolSection"].get("contactsLocationsModule", {}).get("locations", []):
            if isinstance(site.get("city"), str):
                assert cities.setdefault(site["city"], site["city"]) is site["city"]
    assert len(cities) > 100 and seen["United States"] == "United States"
