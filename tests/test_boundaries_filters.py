"""The search filters at their limits, as tables: exactly at a limit, just below it, just above it.

Issue 20: mutation testing showed these limits pinned by no test (``min_age <= age`` turned into
``<`` went unnoticed, so did ``%Y-%M`` for month-only dates and ``regex=True`` in the text search).
Every case runs on the real records of fixtures/aml-studies; a case that needs an edit says so.
"""

from __future__ import annotations

import datetime as dt
import math
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from fixture_tables import fixture_tables

from trialfinder.cli import cli
from trialfinder.errors import InvalidInput
from trialfinder.find import filters as F
from trialfinder.find.filters import MAX_RADIUS, FilterSpec, search
from trialfinder.find.places import Place, geocode
from trialfinder.find.tables import build_tables
from trialfinder.source.store import Dataset, DatasetMeta

META = DatasetMeta(source="snapshot", data_timestamp="2025-03", fetched_at=None)
AGED = "NCT00002719"  # a real record: "61 Years" to "80 Years", last updated 2012-07-02


@pytest.fixture(scope="module")
def tables():
    return fixture_tables()


def kept(tables, **spec) -> set[str]:
    return set(search(tables, FilterSpec(**spec)).studies.index)


# --- age: min_age <= age <= max_age, both ends inclusive ----------------------------------------

@pytest.mark.parametrize("age, admitted", [
    (60, False), (60.999, False), (61, True), (62, True),  # the lower limit, 61
    (79, True), (80, True), (80.001, False), (81, False),  # the upper limit, 80
])
def test_age_limits_are_inclusive(tables, age: float, admitted: bool) -> None:
    row = tables.studies.loc[AGED]
    assert (row.min_age_years, row.max_age_years) == (61.0, 80.0)  # what the table is about
    assert (AGED in kept(tables, age=age)) is admitted


def test_age_filter_keeps_exactly_the_studies_whose_range_holds_the_age(tables) -> None:
    """The whole data set at age 18, where many limits sit; a missing limit admits every age."""
    studies = tables.studies
    low, high = studies.min_age_years, studies.max_age_years
    expected = set(studies.index[(low.isna() | (low <= 18)) & (high.isna() | (high >= 18))])
    assert {s for s in studies.index if low[s] == 18} <= expected  # a limit exactly at 18 is in
    assert kept(tables, age=18) == expected
    result = search(tables, FilterSpec(age=18))
    assert result.counts == [F.FilterCount("age", "admits age 18", len(expected))]
    no_limits = set(studies.index[low.isna() & high.isna()])
    assert no_limits and no_limits <= kept(tables, age=0) & kept(tables, age=130)


@pytest.mark.parametrize("value, age", [("0", 0.0), ("58", 58.0), (" 58.5 ", 58.5), ("130", 130.0), (61, 61.0)])
def test_parse_age_accepts_0_to_130(value, age: float) -> None:
    assert F.parse_age(value) == age


@pytest.mark.parametrize("value", ["-1", "-0.001", "130.001", "131", "nan", "inf", "fifty", None, ""])
def test_parse_age_refuses_the_rest(value) -> None:
    with pytest.raises(InvalidInput, match="age"):
        F.parse_age(value)


# --- radius: distance <= radius, and 0 < radius <= MAX_RADIUS ----------------------------------

TUCSON = Place("85719", "Tucson, AZ 85719", 32.2493, -110.9472, "zip")


@pytest.fixture(scope="module")
def one_study(fixture_studies: list[dict]):
    """The real record NCT00002805: 38 sites, 36 of them US sites located from their ZIP codes."""
    record = next(s for s in fixture_studies if s["protocolSection"]["identificationModule"]["nctId"] == "NCT00002805")
    return build_tables(Dataset(studies=[record], meta=META))


@pytest.mark.parametrize("unit", ["mi", "km"])
def test_radius_keeps_a_site_exactly_at_it(one_study, unit: str) -> None:
    distance = float(search(one_study, FilterSpec(place=TUCSON, unit=unit)).studies[f"distance_{unit}"].iloc[0])
    assert 400 < distance / (1 if unit == "mi" else 1.609344) < 430  # Tucson to the nearest, in Orange, CA
    cases = [(np.nextafter(distance, 0), False), (distance, True), (np.nextafter(distance, math.inf), True),
             (distance - 1, False), (distance + 1, True)]
    for radius, within in cases:
        result = search(one_study, FilterSpec(place=TUCSON, radius=float(radius), unit=unit))
        assert (len(result.studies) == 1) is within, (radius, distance)
        assert result.counts[-1].left == int(within)


def test_a_trial_with_no_located_site_is_set_apart_and_counted(fixture_studies: list[dict]) -> None:
    """An edited copy of NCT00002805 whose sites have no ZIP, city or country: none can be placed."""
    import copy

    record = copy.deepcopy(next(s for s in fixture_studies
                                if s["protocolSection"]["identificationModule"]["nctId"] == "NCT00002805"))
    for site in record["protocolSection"]["contactsLocationsModule"]["locations"]:
        for key in ("zip", "city", "country", "state", "geoPoint"):
            site.pop(key, None)
    tables = build_tables(Dataset(studies=[record], meta=META))
    result = search(tables, FilterSpec(place=TUCSON, radius=1.0))
    assert len(result.studies) == 0 and result.unlocated == 1
    assert result.unlocated_studies is not None and list(result.unlocated_studies.index) == ["NCT00002805"]
    assert pd.isna(result.unlocated_studies["distance_mi"].iloc[0])
    wide = search(tables, FilterSpec(place=TUCSON, radius=MAX_RADIUS))  # no radius is wide enough to keep it
    assert len(wide.studies) == 0 and wide.unlocated == 1


@pytest.mark.parametrize("value, radius", [
    (str(np.nextafter(0, 1)), float(np.nextafter(0, 1))), ("0.001", 0.001), ("1", 1.0), ("100", 100.0),
    (str(MAX_RADIUS), MAX_RADIUS), (250, 250.0),
])
def test_parse_radius_accepts_more_than_0_up_to_the_maximum(value, radius: float) -> None:
    assert F.parse_radius(value) == radius


@pytest.mark.parametrize("value", ["0", "0.0", "-0.001", "-1", str(np.nextafter(MAX_RADIUS, math.inf)),
                                   str(MAX_RADIUS + 1), "nan", "inf", "far", None])
def test_parse_radius_refuses_the_rest(value) -> None:
    with pytest.raises(InvalidInput, match="radius"):
        F.parse_radius(value)


def test_radius_and_distance_are_described(one_study) -> None:
    assert search(one_study, FilterSpec(place=TUCSON, radius=100.0)).describe() == "within 100 mi of Tucson, AZ 85719"
    assert search(one_study, FilterSpec(place=TUCSON, radius=2.5, unit="km")).describe() == \
        "within 2.5 km of Tucson, AZ 85719"
    assert search(one_study, FilterSpec(place=TUCSON)).describe() == "distance from Tucson, AZ 85719"


# --- updated since: YYYY-MM-DD, YYYY-MM and YYYY --------------------------------------------------

@pytest.mark.parametrize("value, date", [
    ("2024-03-15", dt.date(2024, 3, 15)), ("2024-03", dt.date(2024, 3, 1)), ("2024-12", dt.date(2024, 12, 1)),
    ("2024", dt.date(2024, 1, 1)), (" 2024-03 ", dt.date(2024, 3, 1)), (dt.date(2024, 3, 9), dt.date(2024, 3, 9)),
])
def test_parse_date_reads_day_month_and_year_only_dates(value, date: dt.date) -> None:
    assert F.parse_date(value) == date


@pytest.mark.parametrize("value", ["2024-13", "2024-00", "2024-02-30", "March 2024", "", "2024/03"])
def test_parse_date_refuses_the_rest(value: str) -> None:
    with pytest.raises(InvalidInput, match="YYYY-MM-DD"):
        F.parse_date(value)


@pytest.mark.parametrize("since, kept_it", [
    ("2012-07-01", True), ("2012-07-02", True), ("2012-07-03", False),  # the day it was updated
    ("2012-06", True), ("2012-07", True), ("2012-08", False),  # month only: the 1st of the month
    ("2011", True), ("2012", True), ("2013", False),  # year only: 1 January
])
def test_updated_since_is_inclusive_for_every_date_form(tables, since: str, kept_it: bool) -> None:
    assert tables.studies.loc[AGED, "last_update_date"] == pd.Timestamp("2012-07-02")
    result = search(tables, FilterSpec(updated_since=F.parse_date(since)))
    assert (AGED in set(result.studies.index)) is kept_it
    assert result.describe() == f"updated since {F.parse_date(since)}"


def test_updated_since_a_month_on_the_command_line(tmp_path, tables) -> None:
    """`trialfinder search --updated-since 2018-07` lists the trials updated on or after 1 July 2018."""
    dates = tables.studies.last_update_date
    expected = sorted(tables.studies.index[dates >= pd.Timestamp("2018-07-01")])
    assert expected and (dates >= pd.Timestamp("2018-01-01")).sum() > len(expected)  # January to June would add some
    env = {"TRIALFINDER_CACHE_DIR": str(tmp_path), "TRIALFINDER_API_URL": None, "TRIALFINDER_SNAPSHOT_DIR": None,
           "TRIALFINDER_OFFLINE": None}
    result = CliRunner().invoke(cli, ["search", "--status", "all", "--updated-since", "2018-07", "--format", "json"],
                                env=env)
    assert result.exit_code == 0, result.output
    import json

    payload = json.loads(result.stdout)
    assert sorted(t["nct_id"] for t in payload["trials"]) == expected
    assert "updated since 2018-07-01" in payload["search"]["filters"]


# --- text: every character literal, case ignored, a comma separates alternatives ----------------

def _literal(tables, *needles: str) -> set[str]:
    text = tables.studies.search_text
    return {nct for nct, hay in text.items() if any(n.lower() in hay for n in needles)}


def _as_regex(tables, needle: str) -> set[str] | None:
    try:
        pattern = re.compile(needle.lower())
    except re.error:
        return None  # as a regular expression it would not even run
    return {nct for nct, hay in tables.studies.search_text.items() if pattern.search(hay)}


@pytest.mark.parametrize("needle", ["7+3", "hu1d10*in", "c.r", "(", "+", "*", "HU1D10*IN", "[", "a|z"])
def test_text_search_takes_regex_characters_literally(tables, needle: str) -> None:
    expected = _literal(tables, needle)
    assert _as_regex(tables, needle) != expected  # the case tells literal from regular-expression search
    assert kept(tables, text=needle) == expected


def test_text_search_case_and_alternatives(tables) -> None:
    assert kept(tables, text="7+3") == _literal(tables, "7+3") and len(_literal(tables, "7+3")) == 2
    both = kept(tables, text=" 7+3 , HU1D10*in ,")
    assert both == _literal(tables, "7+3", "hu1d10*in") and len(both) == 3
    assert kept(tables, text="FLT3") == _literal(tables, "flt3") != set()
    assert search(tables, FilterSpec(text="7+3, menin")).describe() == 'mentions "7+3" or "menin"'
    assert kept(tables, text=" , ") == set(tables.studies.index)  # nothing to look for: no restriction


@pytest.mark.parametrize("length, ok", [(199, True), (200, True), (201, False)])
def test_search_text_length_limit(length: int, ok: bool) -> None:
    text = ("7+3 " * 100)[:length].rstrip() + "x" * (length - len(("7+3 " * 100)[:length].rstrip()))
    assert len(text) == length
    if ok:
        assert F.parse_text(text) == text
    else:
        with pytest.raises(InvalidInput, match="200"):
            F.parse_text(text)
    assert F.parse_text("  menin \n  FLT3 ") == "menin FLT3"


# --- the other filters: each keeps exactly what it says -----------------------------------------

def test_sex_filter_keeps_all_and_the_chosen_sex(tables) -> None:
    sex = tables.studies.sex
    for chosen in ("FEMALE", "MALE"):
        assert kept(tables, sex=chosen) == set(sex.index[sex.isin(["ALL", chosen])])
        assert search(tables, FilterSpec(sex=chosen)).describe() == f"open to {chosen.lower()} patients"
    assert kept(tables, sex="ALL") == set(sex.index)  # "ALL" is no restriction
    assert search(tables, FilterSpec(sex="ALL")).counts == []


def test_list_filters_keep_any_match_and_describe_themselves(tables) -> None:
    studies = tables.studies
    cases = [
        ("statuses", ("RECRUITING", "COMPLETED"), "status", "recruiting or completed"),
        ("phases", ("PHASE1",), "phases", "phase 1 (includes 1/2)"),
        ("categories", ("other",), "categories", "other"),
        ("countries", ("Belgium", "France"), "countries", "sites in Belgium or France"),
        ("states", ("Texas",), "states", "sites in Texas"),
    ]
    for name, wanted, column, description in cases:
        values = studies[column]
        expected = {s for s, v in values.items() if (v in wanted if isinstance(v, str) else set(v) & set(wanted))}
        got = search(tables, FilterSpec(**{name: wanted}))
        assert set(got.studies.index) == expected and 0 < len(expected) < len(studies), name
        assert got.describe().lower() == description.lower(), name
        assert got.left_after() == {got.counts[0].name: len(expected)}


def test_counts_follow_each_filter_in_order(tables) -> None:
    spec = FilterSpec(statuses=("COMPLETED",), age=61, place=TUCSON, radius=1000.0)
    result = search(tables, spec)
    assert [c.name for c in result.counts] == ["status", "age", "distance"]
    left = [c.left for c in result.counts]
    assert left[0] >= left[1] >= left[2] == len(result.studies) > 0
    assert left[1] == len(kept(tables, statuses=("COMPLETED",), age=61))
    assert result.describe() == "completed · admits age 61 · within 1000 mi of Tucson, AZ 85719"
    assert search(tables, FilterSpec()).describe() == "all trials in the data set"


# --- sorting ----------------------------------------------------------------------------------------

def test_default_sorts(tables) -> None:
    by_date = search(tables, FilterSpec()).studies
    dates = by_date.last_update_date.tolist()
    assert dates == sorted(dates, reverse=True)
    same_day = by_date[by_date.last_update_date == pd.Timestamp("2013-12-19")].index.tolist()
    assert len(same_day) == 4 and same_day == sorted(same_day)  # a tie: by NCT number
    near = search(tables, FilterSpec(place=TUCSON)).studies
    distance = near.distance_mi
    located = distance[distance.notna()].tolist()
    assert located == sorted(located) and distance.isna().sum() > 0
    assert distance.iloc[len(located):].isna().all()  # trials with no located site come last
    assert set(near.nearest_is_open.dropna().unique()) <= {True, False}


def test_phase_sort_and_unknown_sort(tables) -> None:
    ranks = search(tables, FilterSpec(sort="phase")).studies.phase_rank.tolist()
    assert ranks == sorted(ranks, reverse=True) and ranks[0] > ranks[-1]
    with pytest.raises(InvalidInput, match="unknown sort 'nearest'; use one of: distance, updated, phase"):
        search(tables, FilterSpec(sort="nearest"))
    dated = search(tables, FilterSpec(place=TUCSON, sort="updated")).studies.last_update_date.tolist()
    assert dated == sorted(dated, reverse=True)


# --- the parsers of the other options ---------------------------------------------------------------

@pytest.mark.parametrize("value, key", [
    ("Targeted", "targeted"), ("supportive care", "supportive"), ("immuno", "immunotherapy"),
    ("chemo", "chemotherapy"), ("stem-cell transplant", "transplant"), ("transplantation", "transplant"),
    ("other", "other"),
])
def test_parse_category(value: str, key: str) -> None:
    assert F.parse_category(value) == key


@pytest.mark.parametrize("value, key", [
    ("rr", "relapsed_refractory"), ("Relapsed", "relapsed_refractory"), ("refractory", "relapsed_refractory"),
    ("new", "newly_diagnosed"), ("newly", "newly_diagnosed"), ("post-HSCT", "post_transplant"),
    ("relapsed/refractory", "relapsed_refractory"),
])
def test_parse_disease_setting(value: str, key: str) -> None:
    assert F.parse_disease_setting(value) == key


@pytest.mark.parametrize("value, keys", [
    ("1", ("PHASE1",)), ("phase 2", ("PHASE2",)), ("PHASE3", ("PHASE3",)), ("4", ("PHASE4",)),
    ("early1", ("EARLY_PHASE1",)), ("Early Phase 1", ("EARLY_PHASE1",)), ("0", ("EARLY_PHASE1",)),
    ("1/2", ("PHASE1_PHASE2",)), ("2/3", ("PHASE2_PHASE3",)), ("phase 1-2", ("PHASE1_PHASE2",)), ("na", ("NA",)), ("N/A", ("NA",)),
    ("not applicable", ("NA",)),
])
def test_parse_phase(value: str, keys: tuple[str, ...]) -> None:
    assert F.parse_phase(value) == keys


@pytest.mark.parametrize("value, key", [("f", "FEMALE"), ("Woman", "FEMALE"), ("M", "MALE"), ("man", "MALE"),
                                        ("male", "MALE"), ("all", "ALL")])
def test_parse_sex(value: str, key: str) -> None:
    assert F.parse_sex(value) == key


@pytest.mark.parametrize("parse, value", [
    (F.parse_category, "surgery"), (F.parse_disease_setting, "remission"), (F.parse_phase, "5"),
    (F.parse_phase, "1/5"), (F.parse_phase, ""), (F.parse_phase, "2,3"), (F.parse_phase, "1/3"), (F.parse_sex, "other"), (F.parse_biomarker, "XYZ9"),
    (F.parse_state, ""), (F.parse_state, "x" * 80), (F.parse_state, "x" * 81), (F.parse_state, "Xy" * 40),
    (F.parse_state, "Texs"), (F.parse_country, " "), (F.parse_country, "y" * 81),
])
def test_unknown_values_are_refused_with_what_to_use(parse, value: str) -> None:
    with pytest.raises(InvalidInput, match="use|give"):
        parse(value)


def test_parse_state_country_biomarker() -> None:
    assert F.parse_state("tx") == "Texas" and F.parse_state(" AZ ") == "Arizona"
    assert F.parse_state("ile-de-france") == "Ile-De-France" and F.parse_state("Île-de-France") == "Île-de-France"
    assert F.parse_state("ontario") == "Ontario" and F.parse_state("Ontario") == "Ontario"
    with pytest.raises(InvalidInput, match="not a state or region; did you mean 'Ontario'"):
        F.parse_state("Ontaro")
    with pytest.raises(InvalidInput, match="not a state or region"):  # 80 characters: looked up, unknown
        F.parse_state("x" * 80)
    with pytest.raises(InvalidInput, match="is not valid"):  # 81: too long to look up
        F.parse_state("x" * 81)
    assert [F.parse_country(v) for v in ("us", "USA", "U.S.", "uk", " South   Korea ")] == \
        ["United States", "United States", "United States", "United Kingdom", "South Korea"]
    assert F.parse_country("z" * 80) == "z" * 80
    assert F.parse_biomarker("flt3") == "FLT3"
    assert F.parse_biomarker("menin").startswith("KMT2A") and F.parse_biomarker("MLL").startswith("KMT2A")
    assert F.parse_statuses([]) == () and F.parse_statuses(["recruiting"]) == ("RECRUITING",)
    assert F.parse_place("77030") == geocode("77030")


def test_the_filters_names_and_order() -> None:
    """The names key the app's "trials left after each filter"; the order is the order they apply in."""
    assert [f.name for f in F.FILTERS] == ["status", "setting", "category", "phase", "age", "sex", "biomarker",
                                           "country", "state", "text", "updated", "distance", "eligibility"]


def test_setting_category_and_biomarker_filters(tables) -> None:
    studies = tables.studies
    cases = [
        (FilterSpec(disease_settings=("relapsed_refractory", "post_transplant")), "disease_setting",
         {"relapsed_refractory", "post_transplant"}, "relapsed/refractory or post-transplant (or not stated)"),
        (FilterSpec(categories=("targeted", "other")), "categories", {"targeted", "other"},
         "targeted therapy or other"),
        (FilterSpec(biomarkers=("FLT3", "NPM1")), "biomarkers", {"FLT3", "NPM1"}, "biomarker FLT3 or NPM1"),
    ]
    for spec, column, wanted, description in cases:
        # the setting filter also keeps the trials whose setting is not stated (labelled, never hidden)
        expected = {s for s, v in studies[column].items()
                    if set(v) & wanted or (column == "disease_setting" and not len(v))}
        result = search(tables, spec)
        assert set(result.studies.index) == expected and 0 < len(expected) < len(studies), column
        assert result.describe().lower() == description.lower(), result.describe()
        assert result.counts[0].name == {"disease_setting": "setting", "categories": "category",
                                         "biomarkers": "biomarker"}[column]


@pytest.mark.parametrize("value, keys", [("EARLY_PHASE1", ("EARLY_PHASE1",)), ("phase_2", ("PHASE2",)),
                                         ("PHASE1/PHASE2", ("PHASE1_PHASE2",)),
                                         ("PHASE1_PHASE2", ("PHASE1_PHASE2",)), ("PHASE2, PHASE3", None)])
def test_parse_phase_as_the_api_writes_it(value: str, keys: tuple[str, ...] | None) -> None:
    if keys is None:  # a list of phases is not one phase
        with pytest.raises(InvalidInput, match="unknown phase"):
            F.parse_phase(value)
    else:
        assert F.parse_phase(value) == keys


@pytest.mark.parametrize("value, key", [("flt 3", "FLT3"), (" npm1 ", "NPM1"), ("cll-1", "CLL-1"), ("Menin", "KMT2A")])
def test_parse_biomarker_ignores_case_and_spaces(value: str, key: str) -> None:
    assert F.parse_biomarker(value) == key


def test_two_states_and_no_place_means_nothing_unlocated(tables) -> None:
    result = search(tables, FilterSpec(states=("Texas", "California")))
    assert result.describe() == "sites in Texas or California"
    states = tables.studies.states
    assert set(result.studies.index) == {s for s, v in states.items() if {"Texas", "California"} & set(v)}
    assert result.unlocated == 0 and "distance_mi" not in result.studies
    assert search(tables, FilterSpec(place=TUCSON, states=("Texas",))).unlocated == 0  # every Texas site is located


@pytest.mark.parametrize("sort, key", [("distance", "distance_mi"), ("phase", "phase_rank")])
def test_ties_are_broken_by_the_latest_update(tables, sort: str, key: str) -> None:
    """Trials at the same distance (sites at the same ZIP) or of the same phase: the latest updated first."""
    out = search(tables, FilterSpec(place=TUCSON, sort=sort)).studies
    groups = [g.last_update_date.tolist() for _, g in out.groupby(key, sort=False) if len(g) > 1]
    assert len(groups) > 3 and any(len(set(g)) > 1 for g in groups)
    for dates in groups:
        assert [d for d in dates if d == d] == sorted((d for d in dates if d == d), reverse=True)
