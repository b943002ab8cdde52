"""The app's state outside the page: FilterSpec <-> URL query parameters and widget values.

The edge where the app's input is resolved, once: texts become keys, numbers, dates and a geocoded
place. Pure functions only (no Streamlit import), so they are unit-tested on their own.

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
from collections.abc import Mapping
from functools import partial
from typing import Any, Callable

from ..errors import InvalidInput
from ..find import places
from ..find.filters import (
    APP_DEFAULT,
    SORTS,
    FilterSpec,
    parse_age,
    parse_biomarker,
    parse_category,
    parse_country,
    parse_date,
    parse_disease_setting,
    parse_phase,
    parse_place,
    parse_radius,
    parse_sex,
    parse_state,
    parse_statuses,
    parse_text,
)
from ..find.places import Place
from ..find.profile import Profile, parse_days, parse_ecog, parse_lines, parse_markers, parse_prior
from ..labels import SORT_LABELS

#: the radius choices the app offers (None = any distance)
RADII: tuple[float | None, ...] = (25.0, 50.0, 100.0, 250.0, 500.0, None)
MAX_PARAM_LENGTH = 200
NO_RESTRICTION = {"all", "any"}
ANY_DISTANCE = "any"

#: FilterSpec tuple field -> (URL key, parse one value -> one key or a tuple of keys, write one key)
_LIST_FIELDS: dict[str, tuple[str, Callable[[str], Any], Callable[[str], str]]] = {
    "categories": ("cat", parse_category, str),
    "disease_settings": ("setting", parse_disease_setting, str),
    "phases": ("phase", parse_phase,
               lambda k: k.replace("EARLY_PHASE1", "early1").replace("_PHASE", "/").replace("PHASE", "").lower()),
    "statuses": ("status", lambda v: parse_statuses([v]), str.lower),
    "biomarkers": ("bio", parse_biomarker, str),
    "countries": ("country", parse_country, str),
    "states": ("state", parse_state, str),
}
#: URL key -> FilterSpec field, for the single values
_SCALAR_KEYS = {"near": "place", "radius": "radius", "unit": "unit", "age": "age", "sex": "sex", "q": "text",
                "since": "updated_since", "sort": "sort"}


# --- URL query parameters ---------------------------------------------------------------------

def spec_to_params(spec: FilterSpec, base: FilterSpec = APP_DEFAULT) -> dict[str, str | list[str]]:
    """Only what differs from ``base``; a cleared default becomes ``all``."""
    out: dict[str, str | list[str]] = {}
    for field, (key, _, write) in _LIST_FIELDS.items():
        value, default = getattr(spec, field), getattr(base, field)
        if tuple(value) != tuple(default):
            out[key] = [write(v) for v in value] if value else ["all"]
    if spec.place is not None:
        out["near"] = spec.place.query
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
    out.update(_shared_profile(spec))
    return out


def _shared_profile(spec: FilterSpec) -> dict[str, str]:
    """The patient's details for the link: nothing unless she ticked "include my details in the link"."""
    if not spec.share_profile or spec.profile is None:
        return {}
    return {**profile_to_params(spec.profile), **({"me_hide": "1"} if spec.hide_excluded else {})}


# --- the patient's own details (in a link only when she ticks "include my details in the link") ---

#: URL key -> (Profile field, parse one text value)
_PROFILE_KEYS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "me_age": ("age", parse_age), "me_ecog": ("ecog", parse_ecog), "me_prior": ("prior", parse_prior),
    "me_lines": ("prior_lines", parse_lines), "me_tx": ("prior_transplant", lambda v: _yes_no(v)),
    "me_txdays": ("transplant_days", parse_days), "me_marker": ("markers", parse_markers),
}


def _yes_no(value: str) -> bool:
    key = value.strip().lower()
    if key in {"yes", "y", "1", "true"}:
        return True
    if key in {"no", "n", "0", "false"}:
        return False
    raise InvalidInput("use yes or no")


def profile_to_params(profile: Profile) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, (name, _) in _PROFILE_KEYS.items():
        value = getattr(profile, name)
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "yes" if value else "no"
        elif isinstance(value, tuple):
            out[key] = ",".join(value) or "none"
        else:
            out[key] = f"{value:g}" if isinstance(value, float) else str(value)
    return out


def profile_from_params(params: Mapping[str, Any], problems: list[str]) -> Profile | None:
    """The profile a shared link carries (None if it carries none); bad values become problems."""
    values: dict[str, Any] = {}
    for key, (name, parse) in _PROFILE_KEYS.items():
        if key in params and (value := _checked(key, params[key], parse, problems)) is not _UNSET:
            values[name] = value
    return Profile(**values) if values else None


_UNSET = object()


def _checked(key: str, raw: Any, parse: Callable[[str], Any], problems: list[str]) -> Any:
    """One parameter's parsed value, or ``_UNSET`` when it is empty, too long or refused (the last two
    are said in ``problems``)."""
    text = _scalar(raw)
    if not text:
        return _UNSET
    if len(text) > MAX_PARAM_LENGTH:
        problems.append(f"{key} ignored: longer than {MAX_PARAM_LENGTH} characters")
        return _UNSET
    try:
        return parse(text)
    except InvalidInput as exc:
        problems.append(f"{key}={_short(text)!r} ignored: {exc}")
        return _UNSET


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


Locate = Callable[[str], Place]


def _parse_scalar(field: str, text: str, locate: Locate) -> Any:
    if field == "place":
        if len(text) > places.MAX_QUERY_LENGTH:
            raise InvalidInput(f"place is longer than {places.MAX_QUERY_LENGTH} characters")
        return locate(text)
    if field == "radius":
        return None if text.lower() in NO_RESTRICTION else parse_radius(text)
    if field == "unit":
        return places.parse_unit(text)
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
    params: Mapping[str, Any], base: FilterSpec = APP_DEFAULT, locate: Locate = parse_place
) -> tuple[FilterSpec, list[str]]:
    """URL parameters -> (FilterSpec, problems). Never raises; unknown keys are ignored; ``near`` is
    geocoded by ``locate`` (a place that cannot be found is a problem, like any bad value)."""
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
    for key, field in _SCALAR_KEYS.items():
        if key in keys and (value := _checked(key, params[key], partial(_parse_scalar, field, locate=locate),
                                              problems)) is not _UNSET:
            changes[field] = value
    profile = profile_from_params(params, problems)
    if profile is not None:  # a link with details was shared on purpose: keep sharing them
        changes.update(profile=profile, share_profile=True, hide_excluded=_scalar(params.get("me_hide")) == "1")
    return base.with_(**changes), problems


def same_params(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Equal as query strings (a one-item list equals its single value)."""
    def norm(params: Mapping[str, Any]) -> dict[str, list[str]]:
        return {k: list(v) if isinstance(v, (list, tuple)) else [str(v)] for k, v in params.items()}

    return norm(a) == norm(b)


# --- widget values ----------------------------------------------------------------------------

#: session-state keys of the page's filter widgets
WIDGETS: tuple[str, ...] = ("near", "radius", "unit", "categories", "disease_settings", "phases", "statuses",
                            "age", "sex", "biomarkers", "countries", "states", "text", "updated_since", "sort")
#: session-state keys of the "About me" panel (private: in the link only with ``me_share`` ticked)
PROFILE_WIDGETS = ("me_age", "me_ecog", "me_prior", "me_untreated", "me_lines", "me_transplant", "me_txdays",
                   "me_markers", "me_no_markers", "me_hide", "me_share")
WIDGETS += PROFILE_WIDGETS
TRANSPLANT_CHOICES = ("not said", "no", "yes")


def widget_values(spec: FilterSpec) -> dict[str, Any]:
    """What each widget shows for ``spec`` (keys of WIDGETS)."""
    return {
        "near": spec.place.query if spec.place is not None else "",
        "radius": radius_choice(spec.radius),
        "unit": spec.unit,
        "categories": list(spec.categories),
        "disease_settings": list(spec.disease_settings),
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
        **profile_widget_values(spec),
    }


def profile_widget_values(spec: FilterSpec) -> dict[str, Any]:
    """What each "About me" widget shows for ``spec`` (keys of PROFILE_WIDGETS)."""
    p = spec.profile or Profile()
    return {
        "me_age": p.age, "me_ecog": p.ecog, "me_prior": list(p.prior or ()), "me_untreated": p.prior == (),
        "me_lines": p.prior_lines,
        "me_transplant": TRANSPLANT_CHOICES[0 if p.prior_transplant is None else 1 + int(p.prior_transplant)],
        "me_txdays": p.transplant_days, "me_markers": list(p.markers or ()), "me_no_markers": p.markers == (),
        "me_hide": spec.hide_excluded, "me_share": spec.share_profile,
    }


def profile_from_widgets(values: Mapping[str, Any]) -> Profile | None:
    """The "About me" widgets -> a Profile (None when nothing is given). The widgets only offer valid
    values; anything else is left out."""
    prior = [k for k in values.get("me_prior") or () if isinstance(k, str)]
    markers = [k for k in values.get("me_markers") or () if isinstance(k, str)]
    transplant = values.get("me_transplant")
    number = _whole_or_none
    profile = Profile(
        age=None if values.get("me_age") is None else float(values["me_age"]),
        ecog=number(values.get("me_ecog"), 4),
        prior=parse_prior(prior) if prior else (() if values.get("me_untreated") else None),
        prior_lines=number(values.get("me_lines"), 20),
        prior_transplant=None if transplant not in ("yes", "no") else transplant == "yes",
        transplant_days=number(values.get("me_txdays"), 36_500) if transplant == "yes" else None,
        markers=parse_markers(markers) if markers else (() if values.get("me_no_markers") else None),
    )
    return None if profile.empty else profile


def _whole_or_none(value: Any, high: int) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 <= number <= high else None


def spec_from_widgets(values: Mapping[str, Any], locate: Locate = parse_place
                      ) -> tuple[FilterSpec, list[str], InvalidInput | None]:
    """Widget values -> (FilterSpec, problems, the place's problem): a value that cannot be used is
    left out. The place typed is geocoded here, by ``locate``; if that fails (an unknown or ambiguous
    place, an :class:`~trialfinder.find.places.AmbiguousPlace` with candidates), the search runs without
    distances and the error is returned for the page to explain."""
    problems: list[str] = []
    near = " ".join(str(values.get("near") or "").split())
    text = str(values.get("text") or "")
    try:
        text = parse_text(text)
    except InvalidInput as exc:
        problems.append(str(exc))
        text = ""
    if len(near) > places.MAX_QUERY_LENGTH:
        problems.append(f"the place is longer than {places.MAX_QUERY_LENGTH} characters; shorten it")
        near = ""
    place: Place | None = None
    place_problem: InvalidInput | None = None
    if near:
        try:
            place = locate(near)
        except InvalidInput as exc:
            place_problem = exc
    sex = values.get("sex") or "ALL"
    sort = values.get("sort") or "distance"
    since = values.get("updated_since")
    try:
        radius = radius_value(values.get("radius"))
    except InvalidInput as exc:
        problems.append(str(exc))
        radius = None
    spec = FilterSpec(
        place=place,
        radius=radius,
        unit=values.get("unit") or "mi",
        categories=tuple(values.get("categories") or ()),
        disease_settings=tuple(values.get("disease_settings") or ()),
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
    profile = profile_from_widgets(values)
    spec = spec.with_(profile=profile, hide_excluded=bool(values.get("me_hide")) and profile is not None,
                      share_profile=bool(values.get("me_share")))
    return spec, problems, place_problem


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


def sort_choices(current: Any, has_place: bool) -> tuple[list[str], Callable[[str], str]]:
    """The Sort widget's options and labels. "nearest first" is offered only with a place; without
    one the default sort ("distance", which then orders by update) reads "recently updated", and
    the separate "updated" choice is left out unless it is the current one (two choices, one effect)."""
    if has_place:
        return list(SORT_LABELS), lambda k: SORT_LABELS.get(k, k)
    same = "updated" if current in (None, "distance") else "distance"
    options = [k for k in SORT_LABELS if k != same]
    return options, lambda k: SORT_LABELS["updated"] if k == "distance" else SORT_LABELS.get(k, k)
