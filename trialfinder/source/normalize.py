"""Raw API v2 study JSON -> StudyFacts and tidy pandas tables.

This is the ONLY module that knows the API's JSON shape. Every accessor tolerates a missing
module, a null, a wrong type or an unknown enum value: the field becomes empty / NA and the
study is still kept.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from .facts import ArmGroup, Intervention, StudyFacts

Json = dict[str, Any]

STUDY_URL = "https://clinicaltrials.gov/study/{}"
#: an NCT id: ASCII digits only (``\d`` would take Arabic-Indic or full-width ones) and nothing after
#: (``$`` would allow a trailing newline); use with ``match``
NCT_RE = re.compile(r"\ANCT[0-9]{8}\Z")


# --- safe accessors ---------------------------------------------------------------------------

def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


_EMPTY: Json = {}  # read-only stand-in for a missing or malformed module


def _dict(value: Any) -> Json:
    """``value`` if it is a dict, else an empty one (so ``.get`` reads None, as :func:`_get` would)."""
    return value if isinstance(value, dict) else _EMPTY


def _str(value: Any) -> str:
    if value.__class__ is str:  # the usual case, first
        return value.strip()
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value).strip()


def _strs(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return ()
    if not value:
        return ()
    out = [v.strip() if v.__class__ is str else _str(v) for v in value]
    return tuple(s for s in out if s) if "" in out else tuple(out)


def _dicts(value: Any) -> list[Json]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if f == f and abs(f) != float("inf") else None


def protocol(record: Json) -> Json:
    ps = _get(record, "protocolSection")
    return ps if isinstance(ps, dict) else {}


def nct_id(record: Json) -> str:
    return _str(_get(protocol(record), "identificationModule", "nctId"))


def valid_nct_id(record: Json) -> str | None:
    """The record's NCT id exactly as sent if it is a valid one (no stripping: ``"NCT…\\n"`` is not
    ``"NCT…"``), else None."""
    value = _get(protocol(record), "identificationModule", "nctId")
    return value if isinstance(value, str) and NCT_RE.match(value) else None


# --- StudyFacts for the classifiers ----------------------------------------------------------

def study_facts(record: Json) -> StudyFacts:
    ps = protocol(record)
    ident = _dict(ps.get("identificationModule"))
    desc = _dict(ps.get("descriptionModule"))
    cond = _dict(ps.get("conditionsModule"))
    design = _dict(ps.get("designModule"))
    arms = _dict(ps.get("armsInterventionsModule"))
    return StudyFacts(
        nct_id=_str(ident.get("nctId")),
        title=_str(ident.get("briefTitle")),
        official_title=_str(ident.get("officialTitle")),
        acronym=_str(ident.get("acronym")),
        brief_summary=_str(desc.get("briefSummary")),
        detailed_description=_str(desc.get("detailedDescription")),
        conditions=_strs(cond.get("conditions")),
        keywords=_strs(cond.get("keywords")),
        study_type=_str(design.get("studyType")),
        primary_purpose=_str(_dict(design.get("designInfo")).get("primaryPurpose")),
        phases=_strs(design.get("phases")),
        eligibility=_str(_dict(ps.get("eligibilityModule")).get("eligibilityCriteria")),
        interventions=tuple(
            Intervention(
                _str(i.get("type")),
                _str(i.get("name")),
                _strs(i.get("otherNames")),
                _str(i.get("description")),
                _strs(i.get("armGroupLabels")),
            )
            for i in _dicts(arms.get("interventions"))
        ),
        arm_groups=tuple(
            ArmGroup(
                _str(a.get("label")),
                _str(a.get("type")),
                _str(a.get("description")),
                _strs(a.get("interventionNames")),
            )
            for a in _dicts(arms.get("armGroups"))
        ),
    )


# --- rows for the tables ---------------------------------------------------------------------

_AGE_UNITS = {"year": 1.0, "month": 1 / 12, "week": 7 / 365.25, "day": 1 / 365.25, "hour": 1 / 8766,
              "minute": 1 / 525960}
_AGE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+?)s?\s*$", re.I)


def age_years(text: Any) -> float | None:
    """'18 Years' -> 18.0, '6 Months' -> 0.5, 'N/A' / '' / junk -> None."""
    return _age_years(text) if text.__class__ is str else _age_years(_str(text))


@lru_cache(maxsize=1024)  # a few hundred distinct values ("18 Years") recur in every data set
def _age_years(text: str) -> float | None:
    match = _AGE_RE.match(text.strip())
    if not match:
        return None
    unit = _AGE_UNITS.get(match.group(2).lower())
    return round(float(match.group(1)) * unit, 3) if unit is not None else None


def _date(struct: Any) -> str:
    return _str(_get(struct, "date")) if isinstance(struct, dict) else _str(struct)


def study_row(record: Json) -> dict[str, Any]:
    """One study's scalar columns (no classification)."""
    ps = protocol(record)
    ident, status = _dict(ps.get("identificationModule")), _dict(ps.get("statusModule"))
    design, elig = _dict(ps.get("designModule")), _dict(ps.get("eligibilityModule"))
    cond = _dict(ps.get("conditionsModule"))
    sponsor = _dict(_dict(ps.get("sponsorCollaboratorsModule")).get("leadSponsor"))
    nct = _str(ident.get("nctId"))
    brief, official, summary, criteria = row_texts(record)
    return {
        "nct_id": nct,
        "title": brief or official or nct,
        "official_title": official,
        "status": _str(status.get("overallStatus")) or "UNKNOWN",
        "why_stopped": _str(status.get("whyStopped")),
        "phases": _strs(design.get("phases")),
        "study_type": _str(design.get("studyType")),
        "primary_purpose": _str(_dict(design.get("designInfo")).get("primaryPurpose")),
        "conditions": _strs(cond.get("conditions")),
        "keywords": _strs(cond.get("keywords")),
        "sponsor": _str(sponsor.get("name")),
        "sponsor_class": _str(sponsor.get("class")),
        "min_age_years": age_years(elig.get("minimumAge")),
        "max_age_years": age_years(elig.get("maximumAge")),
        "sex": _str(elig.get("sex")) or "ALL",
        "age_groups": _strs(elig.get("stdAges")),
        "healthy_volunteers": elig.get("healthyVolunteers") is True,
        "start_date": _date(status.get("startDateStruct")),
        "completion_date": _date(status.get("completionDateStruct")),
        "first_posted": _date(status.get("studyFirstPostDateStruct")) or _str(status.get("studyFirstSubmitDate")),
        "last_update": _date(status.get("lastUpdatePostDateStruct")) or _str(status.get("lastUpdateSubmitDate")),
        "enrollment": _float(_dict(design.get("enrollmentInfo")).get("count")),
        "brief_summary": summary,
        "eligibility": criteria,
        "central_contacts": _contacts(_dict(ps.get("contactsLocationsModule")).get("centralContacts")),
        "url": STUDY_URL.format(nct),
    }


def row_texts(record: Json) -> tuple[str, str, str, str]:
    """The record's brief title, official title, brief summary and eligibility criteria, as :func:`study_row`
    reads them (the same string objects when nothing was stripped): the long texts a copy of its row can
    share with the record again."""
    ps = protocol(record)
    ident = _dict(ps.get("identificationModule"))
    return (_str(ident.get("briefTitle")), _str(ident.get("officialTitle")),
            _str(_dict(ps.get("descriptionModule")).get("briefSummary")),
            _str(_dict(ps.get("eligibilityModule")).get("eligibilityCriteria")))


def _contacts(value: Any) -> str:
    if not value:
        return ""
    out = []
    for c in _dicts(value):
        parts = [_str(c.get(k)) for k in ("name", "phone", "email")]
        if any(parts):
            out.append(" · ".join(p for p in parts if p))
    return "; ".join(out)


#: the columns of a site, in the order of :func:`site_tuples`
SITE_FIELDS = (
    "nct_id", "facility", "city", "state", "zip", "country", "site_status", "latitude", "longitude", "contacts",
)


#: the texts of a site that recur across studies (a country, a status, a city or a centre for thousands of sites)
_SITE_TEXTS = ("facility", "city", "state", "zip", "country", "status")


def share_site_texts(records: list[Any], seen: dict[str, str]) -> None:
    """Make each text that recurs in the records' sites one string, shared by every site that has it
    (``seen``: the texts met so far, kept by the caller across batches of records). Only which string
    object holds a value changes, never a value: at 50,000 studies (~720,000 sites) the parsed records
    take ~230 MB less, and each distinct text is hashed once."""
    share = seen.setdefault
    for record in records:
        try:
            locations = record["protocolSection"]["contactsLocationsModule"]["locations"]
        except (KeyError, TypeError, IndexError):
            continue
        if locations.__class__ is not list:
            continue
        for location in locations:
            if location.__class__ is dict:
                for key in _SITE_TEXTS:
                    value = location.get(key)
                    if value.__class__ is str:
                        location[key] = share(value, value)


def site_rows(record: Json) -> list[dict[str, Any]]:
    """One row per location; coordinates from the registry's geoPoint when present, else None."""
    return [dict(zip(SITE_FIELDS, site, strict=True)) for site in site_tuples(record)]


def site_tuples(record: Json) -> list[tuple[Any, ...]]:
    """:func:`site_rows` as tuples in SITE_FIELDS order (what the sites table is built from)."""
    ps = protocol(record)
    nct = _str(_dict(ps.get("identificationModule")).get("nctId"))
    locs = _dict(ps.get("contactsLocationsModule")).get("locations")
    if not locs or not isinstance(locs, list):
        return []
    rows = []
    for loc in locs:
        if not isinstance(loc, dict):
            continue
        get = loc.get
        geo = get("geoPoint")
        lat = lon = None
        if geo is not None and isinstance(geo, dict):
            lat, lon = _float(geo.get("lat")), _float(geo.get("lon"))
            if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
                lat = lon = None
        # (inline "v.strip() if str else _str(v)": this runs for every one of thousands of sites)
        f, c, st, z, co, ss = get("facility"), get("city"), get("state"), get("zip"), get("country"), get("status")
        rows.append((
            nct,
            f.strip() if f.__class__ is str else _str(f),
            c.strip() if c.__class__ is str else _str(c),
            st.strip() if st.__class__ is str else _str(st),
            z.strip() if z.__class__ is str else _str(z),
            co.strip() if co.__class__ is str else _str(co),
            ss.strip() if ss.__class__ is str else _str(ss),
            lat,
            lon,
            _contacts(ct) if (ct := get("contacts")) else "",
        ))
    return rows
