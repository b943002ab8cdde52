"""The sites map (issue 19, item 10): zoomed to the search area, packaged outlines under the dots,
no tile base map, and the map in words."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from trialfinder.find.places import KM_PER_MILE, Place, geocode
from trialfinder.present import sitemap

TUCSON = Place("85719", "Tucson, AZ 85719", 32.24, -110.95, "zip", "US")


def km_to_degrees_lat(km: float) -> float:
    return km / 111.2


def test_the_packaged_outlines_hold_countries_coasts_and_us_states() -> None:
    lines = sitemap.outlines()
    assert len(lines["country"]) > 1000 and len(lines["state"]) > 50
    for kind in ("country", "state"):
        every = np.vstack(lines[kind])
        assert (np.abs(every[:, 0]) <= 180).all() and (np.abs(every[:, 1]) <= 90).all()
    states = np.vstack(lines["state"])  # US state lines lie in the US (Alaska and Hawaii included)
    assert states[:, 0].max() < -60 and states[:, 1].min() > 18


@pytest.mark.parametrize("radius, unit", [(25, "mi"), (250, "mi"), (500, "km"), (2500, "mi")])
def test_the_view_is_centred_on_the_place_and_fits_the_radius(radius: float, unit: str) -> None:
    view = sitemap.fit_view(pd.DataFrame(columns=["latitude", "longitude"]), TUCSON, radius, unit)
    assert (view.latitude, view.longitude) == (TUCSON.lat, TUCSON.lon)
    km = radius * KM_PER_MILE if unit == "mi" else radius
    west, south, east, north = view.bounds(width=700, height=sitemap.MAP_HEIGHT)
    # the ring's north and south edges are inside what the map shows, and not lost in a far wider view
    reach = km_to_degrees_lat(km)
    assert south < TUCSON.lat - reach and TUCSON.lat + reach < north
    assert (north - south) < 8 * reach or view.zoom == 0.5


def test_a_larger_radius_zooms_out() -> None:
    empty = pd.DataFrame(columns=["latitude", "longitude"])
    zooms = [sitemap.fit_view(empty, TUCSON, r, "mi").zoom for r in (25, 50, 100, 250, 500)]
    assert zooms == sorted(zooms, reverse=True) and zooms[0] - zooms[-1] == pytest.approx(math.log2(20), abs=0.02)


def test_without_a_place_the_view_fits_the_sites() -> None:
    points = pd.DataFrame({"latitude": [40.7, 42.4, 39.3, 41.9], "longitude": [-74.0, -71.1, -76.6, -87.6]})
    view = sitemap.fit_view(points, None, None, "mi")
    west, south, east, north = view.bounds()
    assert west < -87.6 and east > -71.1 and south < 39.3 and north > 42.4
    assert view.zoom > 3  # the US north-east, not the world
    assert sitemap.fit_view(points.iloc[:0], None, None, "mi").zoom == 0.5  # nothing located: the world


def test_outlines_are_cut_to_the_view() -> None:
    near = sitemap.outline_paths(sitemap.fit_view(pd.DataFrame(), TUCSON, 250, "mi"))
    world = sitemap.outline_paths(sitemap.View(20.0, 0.0, 0.5))
    assert {p["kind"] for p in near} == {"country", "state"}  # the Mexican border and Arizona's neighbours
    assert len(near) < len(world) / 5
    assert sum(len(p["path"]) for p in world) < 25_000  # the world view is thinned, not 80,000 points
    assert all(p["kind"] == "country" for p in world)  # no state lines at world scale
    # the US–Mexico border south of Tucson (about 31.33° N, 111° W) is drawn
    assert any(any(abs(lat - 31.33) < 0.05 and abs(lon + 111.0) < 0.3 for lon, lat in p["path"])
               for p in near if p["kind"] == "country")


def test_the_deck_has_no_tile_base_map_and_draws_outlines_under_the_sites() -> None:
    points = pd.DataFrame({"latitude": [32.23, 33.45], "longitude": [-110.95, -112.07], "trials": [2, 1]})
    spec = json.loads(sitemap.site_map(points, TUCSON, 250, "mi").to_json())
    assert "cartocdn" not in json.dumps(spec) and "mapbox" not in json.dumps(spec)
    assert spec["mapStyle"] == sitemap.NO_BASE_MAP and "mapProvider" not in spec
    ids = [layer["id"] for layer in spec["layers"]]
    assert ids == ["outlines", "radius", "sites", "you", "you-label"]  # outlines first: drawn under the dots
    ring = spec["layers"][1]
    assert ring["getRadius"] == pytest.approx(250 * KM_PER_MILE * 1000) and ring["filled"] is False
    assert spec["layers"][-1]["data"][0]["label"] == "You"  # the place is named, not only red
    state = spec["initialViewState"]
    assert (state["latitude"], state["longitude"]) == (TUCSON.lat, TUCSON.lon) and state["zoom"] > 4


def test_the_map_in_words() -> None:
    points = pd.DataFrame({"latitude": [32.23, 33.45], "longitude": [-110.95, -112.07], "trials": [2, 1]})
    studies = pd.DataFrame({"distance_mi": [0.4, 95.0]}, index=["NCT1", "NCT2"])
    text = sitemap.map_summary(points, studies, TUCSON, 250, "mi", "distance_mi")
    assert "2 located sites of the 2 trials" in text and "“You” marks Tucson, AZ 85719" in text
    assert "250 mi radius" in text and "nearest site is ≈ 0 mi away" in text
    assert "You" not in sitemap.map_summary(points, studies, None, None, "mi", "distance_mi")
    assert sitemap.map_summary(points.iloc[:0], studies, TUCSON, 250, "mi", "distance_mi") == "No located sites to show."


def test_a_real_place_in_europe_zooms_there() -> None:
    paris = geocode("Paris, France")
    view = sitemap.fit_view(pd.DataFrame(), paris, 100, "km")
    kinds = {p["kind"] for p in sitemap.outline_paths(view)}
    assert kinds == {"country"}  # no US state lines around Paris
    assert abs(view.latitude - 48.86) < 0.2 and view.zoom > 5


def test_the_deck_json_is_compact() -> None:
    """Streamlit sends the deck's JSON on every run: no indentation, and a world view stays small."""
    points = pd.DataFrame({"latitude": [40.7, 48.9, 35.7], "longitude": [-74.0, 2.35, 139.7], "trials": [1, 1, 1]})
    text = sitemap.site_map(points, None, None, "mi").to_json()
    assert "\n" not in text and len(text) < 300_000
    assert json.loads(text)["layers"][0]["id"] == "outlines"
