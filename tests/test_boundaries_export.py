"""Exports cell by cell: the Excel "Search" sheet, distances rounded to 0.1, the "other" category,
lists joined, formula characters neutralised (issue 20: the suite never asserted these).

The rows are real records of fixtures/aml-studies, searched with the library; a case that edits a
row of the results table says so.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest
from fixture_tables import fixture_tables

from trialfinder.find import export
from trialfinder.find.filters import FilterSpec, search
from trialfinder.find.places import Place
from trialfinder.labels import DISCLAIMER
from trialfinder.source.store import DatasetMeta

openpyxl = pytest.importorskip("openpyxl")

META = DatasetMeta(source="snapshot", data_timestamp="2025-03", fetched_at=None)
CACHED = DatasetMeta(source="cache", data_timestamp="2026-11-20T08:00:00", fetched_at="2026-11-21T10:00:00+00:00")
TUCSON = Place("85719", "Tucson, AZ 85719", 32.2493, -110.9472, "zip")


@pytest.fixture(scope="module")
def tables():
    return fixture_tables()


@pytest.fixture(scope="module")
def near(tables):
    """Completed phase 2 trials within 1,500 miles of Tucson, nearest first."""
    return search(tables, FilterSpec(place=TUCSON, radius=1500.0, statuses=("COMPLETED",), phases=("PHASE2",)))


def _sheet(book, name: str) -> list[tuple]:
    return list(book[name].iter_rows(values_only=True))


# --- the Excel workbook ------------------------------------------------------------------------------

def test_the_search_sheet_records_the_search(near) -> None:
    book = openpyxl.load_workbook(io.BytesIO(export.to_xlsx(near, CACHED)))
    assert book.sheetnames == ["Trials", "Search"]
    rows = _sheet(book, "Search")
    assert rows[0] == (None, "value")  # a blank key column, then "value"
    assert rows[1:] == [
        ("filters", "completed · phase 2 (includes 1/2, 2/3) · within 1500 mi of Tucson, AZ 85719"),
        ("data source", "from a stored copy · data as of 2026-11-20T08:00:00 · fetched 2026-11-21T10:00:00+00:00"),
        ("data timestamp", "2026-11-20T08:00:00"),
        ("fetched at", "2026-11-21T10:00:00+00:00"),
        ("trials", str(len(near.studies))),
        ("note", DISCLAIMER),
    ]


def test_the_search_sheet_of_a_snapshot_without_a_date(tables) -> None:
    result = search(tables, FilterSpec(text="=HYPERLINK"))
    undated = DatasetMeta(source="snapshot", data_timestamp=None, fetched_at=None)
    rows = dict(_sheet(openpyxl.load_workbook(io.BytesIO(export.to_xlsx(result, undated))), "Search")[1:])
    assert rows["data timestamp"] == "unknown" and rows["fetched at"] is None and rows["trials"] == "0"
    assert rows["filters"] == 'mentions "=HYPERLINK"'
    assert rows["data source"] == "bundled snapshot · data as of unknown"


def test_the_search_sheet_neutralises_what_the_api_sent(tables) -> None:
    """A data timestamp (it comes from the API's /version) that a spreadsheet would run as a formula."""
    hostile = DatasetMeta(source="cache", data_timestamp="=HYPERLINK(1)", fetched_at="+1")
    result = search(tables, FilterSpec(statuses=("COMPLETED",)))
    book = openpyxl.load_workbook(io.BytesIO(export.to_xlsx(result, hostile)))
    rows = dict(_sheet(book, "Search")[1:])
    assert rows["data timestamp"] == "'=HYPERLINK(1)" and rows["fetched at"] == "'+1"
    assert all(c.data_type != "f" for row in book["Search"].iter_rows() for c in row)


def test_the_trials_sheet_is_the_export_frame(near) -> None:
    book = openpyxl.load_workbook(io.BytesIO(export.to_xlsx(near, META)))
    rows = _sheet(book, "Trials")
    frame = export.export_frame(near)
    assert list(rows[0]) == list(frame.columns) == (export.COLUMNS + export.NEAR_COLUMNS + ["distance_mi"]
                                                    + export.NEAR_EXTRA_COLUMNS + export.ELIGIBILITY_COLUMNS)
    assert export.NEAR_EXTRA_COLUMNS == ["nearest_site_contact"] and export.ELIGIBILITY_COLUMNS[-1] == \
        "eligibility_evidence"
    assert len(rows) - 1 == len(frame) == len(near.studies) > 5
    by_name = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert [r["nct_id"] for r in by_name] == list(near.studies.index)
    assert [r["distance_mi"] for r in by_name] == [None if pd.isna(d) else d for d in frame["distance_mi"]]
    assert [r["categories"] for r in by_name] == list(frame["categories"])
    readable = export.export_frame(near, labels=True)  # labels change cells, never the columns or rows
    assert list(readable.columns) == list(frame.columns) and list(readable["nct_id"]) == list(frame["nct_id"])


# --- the cells -----------------------------------------------------------------------------------------

def test_distances_are_rounded_to_a_tenth(near) -> None:
    raw = near.studies["distance_mi"].to_numpy()
    out = export.export_frame(near)["distance_mi"].to_numpy()
    assert np.array_equal(out, np.round(raw, 1), equal_nan=True)
    assert not np.array_equal(out, raw, equal_nan=True) and not np.array_equal(out, np.round(raw, 0), equal_nan=True)
    assert not np.array_equal(out, np.round(raw, 2), equal_nan=True)
    text = [r["distance_mi"] for r in csv.DictReader(io.StringIO(export.to_csv(near)))]
    assert text == ["" if np.isnan(d) else f"{d:.1f}" for d in np.round(raw, 1)]


def test_a_distance_in_km_and_an_unlocated_trial(tables, fixture_studies) -> None:
    result = search(tables, FilterSpec(place=TUCSON, unit="km", statuses=("COMPLETED",)))
    frame = export.export_frame(result)
    assert "distance_km" in frame and "distance_mi" not in frame
    assert frame["distance_km"].isna().sum() == result.unlocated > 0  # no located site: an empty cell
    rows = list(csv.DictReader(io.StringIO(export.to_csv(result))))
    assert sum(r["distance_km"] == "" for r in rows) == result.unlocated
    assert all(r["nearest_site"] == "" for r in rows if r["distance_km"] == "")


def test_categories_other_and_lists_joined(tables, near) -> None:
    frame = export.export_frame(near).set_index("nct_id")
    for nct, row in near.studies.iterrows():
        assert frame.loc[nct, "categories"] == ";".join(row.categories)
        assert frame.loc[nct, "phases"] == ";".join(row.phases)
        assert frame.loc[nct, "setting"] == ";".join(row.disease_setting)
        assert frame.loc[nct, "biomarkers"] == ";".join(row.biomarkers)
    assert any(";" in v for v in frame["categories"]) and any(";" in v for v in frame["setting"])
    observational = search(tables, FilterSpec(categories=("other",)))
    assert set(export.export_frame(observational)["categories"]) == {"other"}


def test_a_trial_the_classifier_left_without_category_exports_other(near) -> None:
    """The results table edited: two rows given no category (an empty tuple, a missing value)."""
    edited = near.studies.copy()
    edited.iloc[0, edited.columns.get_loc("categories")] = ()
    edited.iloc[1, edited.columns.get_loc("categories")] = None
    edited.iloc[2, edited.columns.get_loc("biomarkers")] = None
    result = type(near)(studies=edited, spec=near.spec, counts=near.counts)
    frame = export.export_frame(result)
    assert list(frame["categories"][:2]) == ["other", "other"] and frame["categories"][2] != "other"
    assert frame["biomarkers"][2] == ""


def test_the_json_export(near) -> None:
    payload = json.loads(export.to_json(near, CACHED))
    assert payload["count"] == len(payload["trials"]) == len(near.studies)
    assert payload["search"] == export.search_info(near, CACHED) == {
        "filters": near.describe(), "data_source": CACHED.describe(), "data_timestamp": "2026-11-20T08:00:00",
        "fetched_at": "2026-11-21T10:00:00+00:00", "trials": str(len(near.studies)), "note": DISCLAIMER}
    first = payload["trials"][0]
    assert list(first) == export.COLUMNS + export.NEAR_COLUMNS + ["distance_mi"] + export.NEAR_EXTRA_COLUMNS + [
        "eligibility"]  # the eligibility object in place of the readable eligibility columns
    assert not set(export.ELIGIBILITY_COLUMNS) & set(first)
    assert all(set(t["eligibility"]) == set(export.ELIGIBILITY_COLUMNS[:-1]) | {"evidence"}
               for t in payload["trials"])  # the seven facts, their sentences under "evidence"
    assert first["distance_mi"] == round(float(near.studies["distance_mi"].iloc[0]), 1)
    assert "·" in payload["search"]["filters"]  # not escaped to \u00b7 (ensure_ascii off)
    assert "·" in export.to_json(near, CACHED)


def test_csv_has_the_columns_and_one_row_per_trial(near, tables) -> None:
    text = export.to_csv(near)
    assert "\r" not in text and text.endswith("\n")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["nct_id"] for r in rows] == list(near.studies.index)
    assert rows[0]["setting"] == ";".join(near.studies.iloc[0].disease_setting)
    plain = export.export_frame(search(tables, FilterSpec(statuses=("COMPLETED",))))
    # no place: no nearest-site, distance or contact columns; the eligibility columns come last
    assert list(plain.columns) == export.COLUMNS + export.ELIGIBILITY_COLUMNS
    assert list(rows[0]) == list(export.export_frame(near).columns)


def test_a_column_the_tables_lack_is_exported_empty(near) -> None:
    """The results table edited: its sponsor column dropped."""
    result = type(near)(studies=near.studies.drop(columns=["sponsor"]), spec=near.spec, counts=near.counts)
    assert set(export.export_frame(result)["sponsor"]) == {""}


# --- neutralising formula characters -----------------------------------------------------------------

@pytest.mark.parametrize("value, out", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("1=1", "1=1"), (" =1", " =1"), ("'=1", "'=1"), ("", ""), ("x", "x"), (5, 5), (-1.5, -1.5), (None, None),
])
def test_neutralise(value, out) -> None:
    assert export.neutralise(value) == out


def test_every_text_cell_is_neutralised_and_none_becomes_empty(near) -> None:
    """The results table edited: a title starting with '=' and a sponsor that is None."""
    edited = near.studies.copy()
    edited.iloc[0, edited.columns.get_loc("title")] = "=cmd|' /C calc'!A0"
    edited.iloc[0, edited.columns.get_loc("sponsor")] = None
    result = type(near)(studies=edited, spec=near.spec, counts=near.counts)
    frame = export.export_frame(result)
    assert frame.loc[0, "title"] == "'=cmd|' /C calc'!A0" and frame.loc[0, "sponsor"] == ""
    assert pd.api.types.is_float_dtype(frame["distance_mi"])  # numbers stay numbers


@pytest.mark.parametrize("value, out", [
    (("a", "b"), "a;b"), (["x"], "x"), ((), ""), (None, ""), (float("nan"), ""), ("PHASE2", "PHASE2"), (3, "3"),
    (2.5, "2.5"), (0.0, "0.0"),
])
def test_joined(value, out: str) -> None:
    assert export._joined(value) == out
