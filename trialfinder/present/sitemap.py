"""The sites map: zoomed to the search area, drawn over packaged outlines, with a text alternative.

No map tiles are fetched: the page draws country, coast and US state lines from package data
(``data/outlines.json.gz``, rebuilt by ``scripts/build_outlines.py``; Natural Earth and Census
boundaries, see ``data/PROVENANCE.md``) under the sites, so the map reads the same offline. With a
place and a radius the view centres on the place and fits the radius, which is drawn as a ring; without
one it fits the sites. The legend does not rely on colour: the user's place is labelled "You" on the
map, and :func:`map_summary` says in words what the map shows.
"""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from ..find import places
from ..labels import distance_label

SITE_COLOUR = [31, 119, 180]  # the trials' sites
YOU_COLOUR = [214, 39, 40]  # the user's place (also labelled "You": not colour alone)
LINE_COLOURS = {"country": [90, 90, 90], "state": [160, 160, 160]}
EARTH_M = 40_075_016.686  # the equator, metres
MAP_HEIGHT = 420  # pixels (the app's map)
NO_BASE_MAP = "__MAP_STYLE__"  # the mapStyle value for which Streamlit's chart adds no tile base map


@dataclass(frozen=True)
class View:
    latitude: float
    longitude: float
    zoom: float

    def bounds(self, width: int = 900, height: int = MAP_HEIGHT) -> tuple[float, float, float, float]:
        """(west, south, east, north) seen at this view, with a margin (Web Mercator, approximate)."""
        degrees_per_px = 360.0 / (512 * 2**self.zoom)
        half_lon = degrees_per_px * width * 0.75
        half_lat = degrees_per_px * height * 0.75 * math.cos(math.radians(self.latitude))
        return (self.longitude - half_lon, max(self.latitude - half_lat, -85.0),
                self.longitude + half_lon, min(self.latitude + half_lat, 85.0))


@lru_cache(maxsize=1)
def outlines() -> dict[str, list[np.ndarray]]:
    """kind ('country' or 'state') -> lines, each an (n, 2) array of (lon, lat)."""
    raw = resources.files("trialfinder").joinpath("data/outlines.json.gz").read_bytes()
    data = json.loads(gzip.decompress(raw))
    return {kind: [np.asarray(line, dtype=float).reshape(-1, 2) for line in data[kind]] for kind in LINE_COLOURS}


def radius_km(radius: float | None, unit: str) -> float | None:
    if radius is None:
        return None
    return radius * places.KM_PER_MILE if unit == "mi" else radius


def fit_view(points: pd.DataFrame, place: places.Place | None, radius: float | None, unit: str,
             width: int = 700, height: int = MAP_HEIGHT) -> View:
    """The search area: the place and its radius when both are given; else the place and the sites
    nearest it, or the sites (their middle 90 %), or the whole world."""
    km = radius_km(radius, unit)
    if place is not None and km is not None:
        span_m = 2.3 * km * 1000  # the radius's diameter and a margin, across the map's height
        zoom = math.log2(EARTH_M * math.cos(math.radians(place.lat)) * height / (512 * span_m))
        return View(place.lat, place.lon, _clamp(zoom))
    if points.empty:
        return View(place.lat, place.lon, 3.0) if place is not None else View(20.0, 0.0, 0.5)
    lat, lon = points["latitude"], points["longitude"]
    south, north = lat.quantile(0.05), lat.quantile(0.95)
    west, east = lon.quantile(0.05), lon.quantile(0.95)
    centre_lat, centre_lon = (place.lat, place.lon) if place is not None else ((south + north) / 2, (west + east) / 2)
    if place is not None:  # keep the place in the middle: the span is twice the furthest of the middle 90 %
        west, east = min(west, 2 * centre_lon - east), max(east, 2 * centre_lon - west)
        south, north = min(south, 2 * centre_lat - north), max(north, 2 * centre_lat - south)
    lon_span = max(east - west, 0.5) * 1.2
    lat_span = max(north - south, 0.5) * 1.2
    zoom = min(math.log2(360 * width / (512 * lon_span)),
               math.log2(180 * height / (512 * lat_span * 1.4)))
    return View(float(centre_lat), float(centre_lon), _clamp(zoom))


def _clamp(zoom: float) -> float:
    return round(min(max(zoom, 0.5), 12.0), 2)


@lru_cache(maxsize=64)  # a view's lines are the same on every rerun; read only by pydeck
def outline_paths(view: View) -> list[dict[str, Any]]:
    """The outline lines crossing the view, thinned when zoomed out (a world view needs less detail:
    every n-th point, coarser rounding, no islands smaller than a pixel or two)."""
    west, south, east, north = view.bounds()
    step, digits, smallest = (1, 2, 0.0) if view.zoom >= 4 else (3, 2, 0.05) if view.zoom >= 2 else (8, 1, 1.0)
    paths = []
    for kind, lines in outlines().items():
        if kind == "state" and view.zoom < 2.5:
            continue
        for line in lines:
            lon, lat = line[:, 0], line[:, 1]
            if lon.max() < west or lon.min() > east or lat.max() < south or lat.min() > north:
                continue
            if max(lon.max() - lon.min(), lat.max() - lat.min()) < smallest:
                continue
            kept = line[::step] if len(line) > 2 * step else line
            if len(line) > 2 * step and not np.array_equal(kept[-1], line[-1]):
                kept = np.vstack([kept, line[-1:]])
            paths.append({"path": kept.round(digits).tolist(), "kind": kind, "color": LINE_COLOURS[kind]})
    return paths


def site_points(sites: pd.DataFrame, nct_ids: pd.Index) -> pd.DataFrame:
    """Located sites of the given trials, one row per place (latitude, longitude, trials there)."""
    located = sites[sites["nct_id"].isin(nct_ids) & sites["latitude"].notna() & sites["longitude"].notna()]
    grouped = located.groupby(["latitude", "longitude"], sort=False)["nct_id"].nunique()
    return grouped.rename("trials").reset_index()


def site_map(points: pd.DataFrame, place: places.Place | None, radius: float | None, unit: str) -> Any:
    """A pydeck Deck: outlines, the radius ring, the sites and "You" (no base map: it reads offline)."""
    import pydeck as pdk

    view = fit_view(points, place, radius, unit)
    layers = [pdk.Layer("PathLayer", outline_paths(view), get_path="path", get_color="color",
                        get_width=1, width_min_pixels=1, width_max_pixels=1, id="outlines")]
    km = radius_km(radius, unit)
    if place is not None and km is not None:
        layers.append(pdk.Layer("ScatterplotLayer", [{"position": [place.lon, place.lat]}], get_position="position",
                                get_radius=km * 1000, stroked=True, filled=False, get_line_color=YOU_COLOUR,
                                line_width_min_pixels=1, id="radius"))
    layers.append(pdk.Layer("ScatterplotLayer", points.assign(position=list(zip(points["longitude"], points["latitude"],
                                                                               strict=True))),
                            get_position="position", get_fill_color=SITE_COLOUR + [200], get_line_color=[255, 255, 255],
                            stroked=True, line_width_min_pixels=1, radius_min_pixels=4, radius_max_pixels=9,
                            get_radius=2000, pickable=True, id="sites"))
    if place is not None:
        you = [{"position": [place.lon, place.lat], "label": "You"}]
        layers.append(pdk.Layer("ScatterplotLayer", you, get_position="position", get_fill_color=YOU_COLOUR,
                                get_line_color=[255, 255, 255], stroked=True, line_width_min_pixels=2,
                                radius_min_pixels=7, radius_max_pixels=7, get_radius=1, id="you"))
        layers.append(pdk.Layer("TextLayer", you, get_position="position", get_text="label", get_size=15,
                                get_color=[0, 0, 0], get_pixel_offset=[0, -18], font_weight=700,
                                outline_width=3, outline_color=[255, 255, 255, 255], font_settings={"sdf": True},
                                id="you-label"))
    deck = _compact_deck()(layers=layers, map_provider=None, map_style=None,
                    initial_view_state=pdk.ViewState(latitude=view.latitude, longitude=view.longitude, zoom=view.zoom),
                    tooltip={"text": "{trials} trial(s) at this site"})
    # pydeck's own "no style" marker: Streamlit then loads no base map (no tiles from the network)
    deck.map_style = NO_BASE_MAP
    return deck


@lru_cache(maxsize=1)
def _compact_deck() -> Any:
    """pydeck's Deck whose JSON (what Streamlit sends on every run) has no indentation: a third of the size."""
    import pydeck as pdk
    from pydeck.bindings.json_tools import default_serialize

    class CompactDeck(pdk.Deck):  # type: ignore[misc]
        def to_json(self) -> str:
            return json.dumps(self, sort_keys=True, default=default_serialize, separators=(",", ":"))

    return CompactDeck


def map_summary(points: pd.DataFrame, studies: pd.DataFrame, place: places.Place | None, radius: float | None,
                unit: str, distance_column: str) -> str:
    """The map in words (its text alternative and legend)."""
    if points.empty:
        return "No located sites to show."
    trials = f"{len(studies)} trial{'s' if len(studies) != 1 else ''}"
    text = (f"Map of the {len(points)} located site{'s' if len(points) != 1 else ''} of the {trials} found "
            "(blue dots, white edge); grey lines are country, coast and US state borders.")
    if place is None:
        return text
    text += f" “You” marks {place.label}"
    text += f"; the red ring is the {radius:g} {unit} radius." if radius is not None else "."
    if distance_column in studies and studies[distance_column].notna().any():
        nearest = studies[distance_column].min()
        text += f" The nearest site is {distance_label(nearest, unit)} away."
    return text
