"""The app's state outside the page: FilterSpec <-> URL query parameters and widget values,
and the small display tables the page shows.

Pure functions only (no Streamlit import), so they are unit-tested on their own.

URL format (every key optional; a missing key means "the app's default")::

    ?near=85719&radius=250&unit=mi&cat=targeted&cat=immunotherapy&setting=relapsed_refractory
     &phase=1&phase=2&status=recruiting&age=58&sex=female&bio=FLT3&country=United+States
     &state=Arizona&q=menin&since=2024-01-01&sort=phase

List keys may repeat or hold comma-separated values; ``all`` means "no restriction" (used when a
filter the app restricts by default, such as status, is cleared). ``spec_from_params`` never
raises: a value it cannot use is ignored and described in the returned ``problems``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np
import pandas as pd

from . import geo
from .categories import CATEGORY_LABELS
from .errors import InvalidInput
from .filters import (
    APP_DEFAULT,
    FILTERS,
    SORTS,
    FilterSpec,
    SearchResult,
    parse_age,
    parse_biomarker,
    parse_category,
    parse_country,
    parse_date,
    parse_phase,
    parse_radius,
    parse_setting,
    parse_sex,
    parse_state,
    parse_statuses,
    parse_text,
)
from .vocab import PHASE_LABELS, STATUS_LABELS

#: the radius choices the app offers (None = any distance)
RADII: tuple[float | None, ...] = (25.0, 50.0, 100.0, 250.0, 500.0, None)
SORT_LABELS = {"distance": "nearest first", "updated": "recently updated", "phase": "latest phase first"}
MAX_PARAM_LENGTH = 200
NO_RESTRICTION = {"all", "any"}
ANY_DISTANCE = "any"

#: FilterSpec tuple field -> (URL key, parse one value -> one key or a tuple of keys, write one key)
_LIST_FIELDS: dict[str, tuple[str, Callable[[str], Any], Callable[[str], str]]] = {
    "categories": ("cat", parse_category, str),
    "settings": ("setting", parse_setting, str),
    "phases": ("phase", parse_phase, lambda k: k.replace("EARLY_PHASE1", "early1").replace("PHASE", "").lower()),
    "statuses": ("status", lambda v: parse_statuses([v]), str.lower),
    "biomarkers": ("bio", parse_biomarker, str),
    "countries": ("country", parse_country, str),
    "states": ("state", parse_state, str),
}
_SCALAR_KEYS = {"near": "near", "radius": "radius", "unit": "unit", "age": "age", "sex": "sex", "text": "q",
                "updated_since": "since", "sort": "sort"}


# --- URL query parameters ---------------------------------------------------------------------

def spec_to_params(spec: FilterSpec, base: FilterSpec = APP_DEFAULT) -> dict[str, str | list[str]]:
    """Only what differs from ``base``; a cleared default becomes ``all``."""
    out: dict[str, str | list[str]] = {}
    for field, (key, _, write) in _LIST_FIELDS.items():
        value, default = getattr(spec, field), getattr(base, field)
        if tuple(value) != tuple(default):
            out[key] = [write(v) for v in value] if value else ["all"]
    if spec.near:
        out["near"] = spec.near
    if spec.radius is not None:
        out["radius"] = f"{spec.radius:g}"
    if spec.unit != base.unit:
        out["unit"] = spec.unit
    if spec.age is not None:
        out["age"] = f"{spec.age:g}"
    if spec.sex not in (None, "ALL"):
        out["sex"] = spec.sex.lower()
    if spec.text:
        out["q"] = spec.text
    if spec.updated_since is not None:
        out["since"] = spec.updated_since.isoformat()
    if spec.sort and spec.sort != base.sort:
        out["sort"] = spec.sort
    return out


def _raw_values(value: Any) -> list[str]:
    items = value if isinstance(value, (list, tuple)) else [value]
    return [part.strip() for item in items if isinstance(item, str) for part in item.split(",") if part.strip()]


def _scalar(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else ""
    return value.strip() if isinstance(value, str) else ""


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def _parse_list(key: str, raw: list[str], parse: Callable[[str], Any], problems: list[str]) -> tuple[str, ...] | None:
    if any(v.lower() in NO_RESTRICTION for v in raw):
        return ()
    keys: list[str] = []
    for value in raw:
        try:
            parsed = parse(value)
        except InvalidInput as exc:
            problems.append(f"{key}={_short(value)!r} ignored: {exc}")
            continue
        keys.extend(parsed if isinstance(parsed, tuple) else [parsed])
    return tuple(dict.fromkeys(keys)) if keys else None


def _parse_scalar(field: str, text: str) -> Any:
    if field == "near":
        if len(text) > geo.MAX_QUERY_LENGTH:
            raise InvalidInput(f"place is longer than {geo.MAX_QUERY_LENGTH} characters")
        return text
    if field == "radius":
        return None if text.lower() in NO_RESTRICTION else parse_radius(text)
    if field == "unit":
        return geo.parse_unit(text)
    if field == "age":
        return parse_age(text)
    if field == "sex":
        sex = parse_sex(text)
        return None if sex == "ALL" else sex
    if field == "text":
        return parse_text(text) or None
    if field == "updated_since":
        return parse_date(text)
    if text not in SORTS:  # sort
        raise InvalidInput(f"unknown sort; use one of: {', '.join(SORTS)}")
    return text


def spec_from_params(
    params: Mapping[str, Any], base: FilterSpec = APP_DEFAULT
) -> tuple[FilterSpec, list[str]]:
    """URL parameters -> (FilterSpec, problems). Never raises; unknown keys are ignored."""
    problems: list[str] = []
    changes: dict[str, Any] = {}
    try:
        keys = set(params.keys())
    except Exception:  # noqa: BLE001 - anything not a mapping is simply "no parameters"
        return base, ["the link's parameters could not be read"]
    for field, (key, parse, _) in _LIST_FIELDS.items():
        if key in keys:
            parsed = _parse_list(key, _raw_values(params[key]), parse, problems)
            if parsed is not None:
                changes[field] = parsed
    for field, key in _SCALAR_KEYS.items():
        if key not in keys:
            continue
        text = _scalar(params[key])
        if not text:
            continue
        if len(text) > MAX_PARAM_LENGTH:
            problems.append(f"{key} ignored: longer than {MAX_PARAM_LENGTH} characters")
            continue
        try:
            changes[field] = _parse_scalar(field, text)
        except InvalidInput as exc:
            problems.append(f"{key}={_short(text)!r} ignored: {exc}")
    return base.with_(**changes), problems


def same_params(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Equal as query strings (a one-item list equals its single value)."""
    def norm(params: Mapping[str, Any]) -> dict[str, list[str]]:
        return {k: list(v) if isinstance(v, (list, tuple)) else [str(v)] for k, v in params.items()}

    return norm(a) == norm(b)


# --- widget values ----------------------------------------------------------------------------

#: session-state keys of the page's filter widgets
WIDGETS = ("near", "radius", "unit", "categories", "settings", "phases", "statuses", "age", "sex",
           "biomarkers", "countries", "states", "text", "updated_since", "sort")


def widget_values(spec: FilterSpec) -> dict[str, Any]:
    """What each widget shows for ``spec`` (keys of WIDGETS)."""
    return {
        "near": spec.near or "",
        "radius": radius_choice(spec.radius),
        "unit": spec.unit,
        "categories": list(spec.categories),
        "settings": list(spec.settings),
        "phases": list(spec.phases),
        "statuses": list(spec.statuses),
        "age": spec.age,
        "sex": spec.sex or "ALL",
        "biomarkers": list(spec.biomarkers),
        "countries": list(spec.countries),
        "states": list(spec.states),
        "text": spec.text or "",
        "updated_since": spec.updated_since,
        "sort": spec.sort or "distance",
    }


def spec_from_widgets(values: Mapping[str, Any]) -> tuple[FilterSpec, list[str]]:
    """Widget values -> (FilterSpec, problems); a value that cannot be used is left out."""
    problems: list[str] = []
    near = " ".join(str(values.get("near") or "").split())
    text = str(values.get("text") or "")
    try:
        text = parse_text(text)
    except InvalidInput as exc:
        problems.append(str(exc))
        text = ""
    if len(near) > geo.MAX_QUERY_LENGTH:
        problems.append(f"the place is longer than {geo.MAX_QUERY_LENGTH} characters; shorten it")
        near = ""
    sex = values.get("sex") or "ALL"
    sort = values.get("sort") or "distance"
    since = values.get("updated_since")
    try:
        radius = radius_value(values.get("radius"))
    except InvalidInput as exc:
        problems.append(str(exc))
        radius = None
    spec = FilterSpec(
        near=near or None,
        radius=radius,
        unit=values.get("unit") or "mi",
        categories=tuple(values.get("categories") or ()),
        settings=tuple(values.get("settings") or ()),
        phases=tuple(values.get("phases") or ()),
        statuses=tuple(values.get("statuses") or ()),
        age=None if values.get("age") is None else float(values["age"]),
        sex=None if sex == "ALL" else sex,
        biomarkers=tuple(values.get("biomarkers") or ()),
        countries=tuple(values.get("countries") or ()),
        states=tuple(values.get("states") or ()),
        text=text or None,
        updated_since=since if isinstance(since, dt.date) else None,
        sort=None if sort == "distance" else sort,
    )
    return spec, problems


def radius_choice(radius: float | None) -> str:
    """100.0 -> '100'; None -> 'any' (the radius selectbox's options are strings)."""
    return ANY_DISTANCE if radius is None else f"{radius:g}"


def radius_value(choice: Any) -> float | None:
    """'100' -> 100.0; 'any' / None -> None; raises InvalidInput for anything else."""
    if choice is None or str(choice).strip().lower() in NO_RESTRICTION:
        return None
    return parse_radius(choice)


def radius_options(current: Any = None) -> list[str]:
    """The radius choices, plus a radius that came from a link and is not one of them."""
    radii = [r for r in RADII if r is not None]
    try:
        extra = radius_value(current)
    except InvalidInput:
        extra = None
    if extra is not None and extra not in radii:
        radii = sorted([*radii, extra])
    return [radius_choice(r) for r in radii] + [ANY_DISTANCE]


def radius_label(choice: str) -> str:
    return "any distance" if choice == ANY_DISTANCE else choice


def counts_by_filter(result: SearchResult) -> dict[str, int]:
    """Filter name ('status', 'category', ..., 'distance') -> trials left after it."""
    names = [f.name for f in FILTERS if f.active(result.spec)]
    if result.place is not None:
        names.append("distance")
    # counts holds one entry per active filter, in FILTERS order, then the distance one
    return {name: count for name, (_, count) in zip(names, result.counts, strict=False)}


# --- display tables ---------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:])")


def escape_markdown(text: str) -> str:
    """Text that Streamlit's markdown shows literally (for user or data text in our messages)."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def category_labels(keys: tuple[str, ...] | Any) -> str:
    keys = tuple(keys) if isinstance(keys, (tuple, list)) else ()
    return ", ".join(CATEGORY_LABELS.get(k, k) for k in keys) or CATEGORY_LABELS["other"]


def distance_label(distance: Any, unit: str) -> str:
    """3.2 -> '≈ 3 mi'; NaN -> 'not located' (always approximate: centroids and straight lines)."""
    try:
        value = float(distance)
    except (TypeError, ValueError):
        return "not located"
    return "not located" if value != value else f"≈ {value:,.0f} {unit}"


def age_range(low: Any, high: Any) -> str:
    """(18, 74) -> '18–74'; (18, NaN) -> '18 and over'; (NaN, 74) -> 'up to 74'; neither -> 'any'."""
    def known(v: Any) -> bool:
        return isinstance(v, (int, float)) and v == v

    if known(low) and known(high):
        return f"{low:g}–{high:g}"
    if known(low):
        return f"{low:g} and over"
    return f"up to {high:g}" if known(high) else "any"


def status_label(key: Any) -> str:
    return STATUS_LABELS.get(str(key), str(key).replace("_", " ").capitalize()) if key == key and key else ""


def results_frame(result: SearchResult) -> pd.DataFrame:
    """The results table: one row per trial, readable labels, in the result's order (distance
    first when there is a location: it is what a patient looks at)."""
    df = result.studies
    out = pd.DataFrame({"url": df["url"]}, index=df.index)
    if result.place is not None:
        out["distance"] = df[result.distance_column].map(lambda d: distance_label(d, result.spec.unit))
    out["title"] = df["title"]
    out["phase"] = df["phase"].replace("", "—")
    out["status"] = df["status"].map(status_label)
    out["categories"] = df["categories"].map(category_labels)
    if result.place is not None:
        near_open = df["nearest_is_open"].astype("boolean").fillna(False).astype(bool)
        site = df["nearest_site"].astype(object).where(df["nearest_site"].notna(), "")
        status = df["nearest_site_status"].map(status_label)
        out["nearest_site"] = site
        out["site_status"] = np.where(
            site == "", "no located site",
            np.where(near_open, status, "no recruiting site; nearest is " + status.replace("", "status not listed")),
        )
    out["last_update"] = df["last_update_date"]
    return out.reset_index(drop=True)


def sites_frame(sites: pd.DataFrame, place: geo.Place | None, unit: str) -> pd.DataFrame:
    """One trial's sites, nearest first; sites without coordinates last, unranked."""
    ordered = geo.sites_by_distance(sites, place, unit=unit)
    return pd.DataFrame(
        {
            "facility": ordered["facility"].replace("", "(not named)"),
            "city": ordered["city"],
            "state": ordered["state"],
            "country": ordered["country"],
            "status": ordered["site_status"].map(status_label).replace("", "not listed"),
            "distance": ordered["distance"].map(lambda d: distance_label(d, unit) if place else ""),
            "contacts": ordered["contacts"],
        }
    ).reset_index(drop=True)


def evidence_frame(row: Mapping[str, Any]) -> pd.DataFrame:
    """Category label -> why the trial is in it."""
    evidence = row.get("evidence")
    if not isinstance(evidence, dict):
        evidence = {}
    cats = tuple(row.get("categories") or ()) or ("other",)
    return pd.DataFrame(
        {"category": [CATEGORY_LABELS.get(k, k) for k in cats], "evidence": [evidence.get(k, "") for k in cats]}
    )


def category_counts(result: SearchResult) -> pd.Series:
    """Trials per treatment category (a trial in two categories counts in both)."""
    labels = result.studies["categories"].map(lambda c: list(c) or ["other"]).explode()
    counts = labels.map(lambda k: CATEGORY_LABELS.get(k, k)).value_counts()
    counts.index.name, counts.name = "category", "trials"
    return counts


def phase_counts(result: SearchResult) -> pd.Series:
    counts = result.studies["phase"].replace("", "not given").value_counts()
    counts.index.name, counts.name = "phase", "trials"
    return counts


def map_points(sites: pd.DataFrame, nct_ids: pd.Index, place: geo.Place | None) -> pd.DataFrame:
    """Located sites of the given trials (blue) and the user's location (red, larger)."""
    located = sites[sites["nct_id"].isin(nct_ids) & sites["latitude"].notna() & sites["longitude"].notna()]
    points = located[["latitude", "longitude"]].drop_duplicates().assign(color="#1f77b4", size=6000.0)
    if place is not None:
        you = pd.DataFrame({"latitude": [place.lat], "longitude": [place.lon], "color": ["#d62728"], "size": [30000.0]})
        points = pd.concat([points, you], ignore_index=True)
    return points.reset_index(drop=True)


PHASE_KEYS = tuple(PHASE_LABELS)
