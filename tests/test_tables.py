"""build_tables: the per-study figures it derives while reading the records agree with what the
finished tables say, and the text columns are plain Python objects."""

from __future__ import annotations

import copy
import re

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialfinder.find import places as geo
from trialfinder.find.tables import build_tables
from trialfinder.source.store import Dataset, DatasetMeta
from trialfinder.source.vocab import OPEN_SITE_STATUSES

META = DatasetMeta(source="snapshot", data_timestamp="2025-03", fetched_at=None)


@pytest.fixture(scope="module")
def tables(fixture_studies: list[dict]):
    return build_tables(Dataset(studies=fixture_studies, meta=META))


def _nct(record: dict) -> str:
    return record["protocolSection"]["identificationModule"]["nctId"]


def test_site_figures_agree_with_the_sites_table(tables) -> None:
    """sites_count, open_sites_count, countries and states, recomputed from the sites table with pandas."""
    studies, sites = tables.studies, tables.sites
    grouped = sites.groupby("nct_id")
    count = grouped.size().reindex(studies.index).fillna(0).astype(int)
    opened = sites[sites.site_status.isin(OPEN_SITE_STATUSES)].groupby("nct_id").size()
    assert (studies.sites_count == count).all() and studies.sites_count.sum() == len(sites) > 5000
    assert (studies.open_sites_count == opened.reindex(studies.index).fillna(0).astype(int)).all()
    for column, field in (("countries", "country"), ("states", "state")):
        expected = grouped[field].agg(lambda c: tuple(sorted({x for x in c if x})))
        assert studies[column].to_dict() == {k: expected.get(k, ()) for k in studies.index}
    assert (sites.study_row == studies.index.get_indexer(sites.nct_id)).all()
    assert (sites.site_open == sites.site_status.isin(OPEN_SITE_STATUSES)).all()


def test_a_study_listed_twice_keeps_its_last_record_and_all_its_sites(fixture_studies: list[dict]) -> None:
    """An edited copy of a real record (new title) listed after the original, and a third study after it."""
    first, second = fixture_studies[10], fixture_studies[11]
    again = copy.deepcopy(first)
    again["protocolSection"]["identificationModule"]["briefTitle"] = "Edited copy of a real record"
    out = build_tables(Dataset(studies=[first, second, again], meta=META)).studies
    assert list(out.index) == [_nct(second), _nct(first)]  # one row each, the repeated one where it last came
    row = out.loc[_nct(first)]
    assert row.title == "Edited copy of a real record"
    single = build_tables(Dataset(studies=[first], meta=META)).studies.loc[_nct(first)]
    assert row.sites_count == 2 * single.sites_count > 0  # the sites table keeps both records' rows
    assert row.countries == single.countries


def test_columns_are_plain_objects_and_dates_parse(tables) -> None:
    studies = tables.studies
    for frame in (studies, tables.sites, tables.interventions):
        text = [c for c in frame.columns if pd.api.types.is_string_dtype(frame[c])]
        assert text and all(frame[c].dtype == object for c in text)
    assert str(studies.last_update_date.dtype).startswith("datetime64")
    dated = studies.last_update != ""
    assert studies.last_update_date[dated].notna().all() and studies.last_update_date[~dated].isna().all()
    assert studies.phase_rank.dtype == "int64" and studies.sites_count.dtype == "int64"


def test_empty_data_set() -> None:
    out = build_tables(Dataset(studies=[], meta=META))
    assert out.studies.empty and out.sites.empty and out.interventions.empty
    assert {"nct_id", "categories", "phase", "last_update_date"} <= set(out.studies.columns)


def _labels_by_regex(facility: str, city: str, state: str) -> str:
    """The site label as first written: the parts joined, runs of ", " collapsed, then trimmed."""
    label = re.sub(r"(?:, )+", ", ", f"{facility}, {city}, {state}")
    return re.sub(r"^, |, $", "", label)


_PART = st.text(alphabet=", ab", max_size=6).map(str.strip)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(_PART, _PART, _PART), min_size=1, max_size=5))
def test_site_labels_match_the_regex_definition(parts: list[tuple[str, str, str]]) -> None:
    frame = pd.DataFrame(parts, columns=["facility", "city", "state"])
    assert geo.site_labels(frame).tolist() == [_labels_by_regex(*p) for p in parts]
