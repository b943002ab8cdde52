"""Raw API v2 study JSON -> StudyFacts and tidy pandas tables.

This is the ONLY module that knows the API's JSON shape. Every accessor tolerates a missing
module, a null, a wrong type or an unknown enum value: the field becomes empty / NA and the
study is still kept.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from .facts import ArmGroup, Intervention, StudyFacts

Json = dict[str, Any]

STUDY_URL = "https://clinicaltrials.gov/study/{}"
NCT_RE = re.compile(r"^NCT\d{8}$")


# --- safe accessors ---------------------------------------------------------------------------

def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _str(value: Any) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value).strip()


def _strs(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return ()
    return tuple(s for s in (_str(v) for v in value) if s)


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


# --- StudyFacts for the classifiers ----------------------------------------------------------

def study_facts(record: Json) -> StudyFacts:
    ps = protocol(record)
    ident = _get(ps, "identificationModule")
    desc = _get(ps, "descriptionModule")
    cond = _get(ps, "conditionsModule")
    design = _get(ps, "designModule")
    arms = _get(ps, "armsInterventionsModule")
    return StudyFacts(
        nct_id=_str(_get(ident, "nctId")),
        title=_str(_get(ident, "briefTitle")),
        official_title=_str(_get(ident, "officialTitle")),
        acronym=_str(_get(ident, "acronym")),
        brief_summary=_str(_get(desc, "briefSummary")),
        detailed_description=_str(_get(desc, "detailedDescription")),
        conditions=_strs(_get(cond, "conditions")),
        keywords=_strs(_get(cond, "keywords")),
        study_type=_str(_get(design, "studyType")),
        primary_purpose=_str(_get(design, "designInfo", "primaryPurpose")),
        phases=_strs(_get(design, "phases")),
        eligibility=_str(_get(ps, "eligibilityModule", "eligibilityCriteria")),
        interventions=tuple(
            Intervention(
                type=_str(i.get("type")),
                name=_str(i.get("name")),
                other_names=_strs(i.get("otherNames")),
                description=_str(i.get("description")),
                arm_group_labels=_strs(i.get("armGroupLabels")),
            )
            for i in _dicts(_get(arms, "interventions"))
        ),
        arm_groups=tuple(
            ArmGroup(
                label=_str(a.get("label")),
                type=_str(a.get("type")),
                description=_str(a.get("description")),
                intervention_names=_strs(a.get("interventionNames")),
            )
            for a in _dicts(_get(arms, "armGroups"))
        ),
    )


def all_facts(records: Iterable[Json]) -> list[StudyFacts]:
    return [study_facts(r) for r in records]


# --- rows for the tables ---------------------------------------------------------------------

_AGE_UNITS = {"year": 1.0, "month": 1 / 12, "week": 7 / 365.25, "day": 1 / 365.25, "hour": 1 / 8766, "minute": 1 / 525960}
_AGE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+?)s?\s*$", re.I)


def age_years(text: Any) -> float | None:
    """'18 Years' -> 18.0, '6 Months' -> 0.5, 'N/A' / '' / junk -> None."""
    match = _AGE_RE.match(_str(text))
    if not match:
        return None
    unit = _AGE_UNITS.get(match.group(2).lower())
    return round(float(match.group(1)) * unit, 3) if unit is not None else None


def _date(struct: Any) -> str:
    return _str(_get(struct, "date")) if isinstance(struct, dict) else _str(struct)


def study_row(record: Json) -> dict[str, Any]:
    """One study's scalar columns (no classification)."""
    ps = protocol(record)
    ident, status = _get(ps, "identificationModule"), _get(ps, "statusModule")
    design, elig = _get(ps, "designModule"), _get(ps, "eligibilityModule")
    sponsor = _get(ps, "sponsorCollaboratorsModule", "leadSponsor")
    nct = _str(_get(ident, "nctId"))
    return {
        "nct_id": nct,
        "title": _str(_get(ident, "briefTitle")) or _str(_get(ident, "officialTitle")) or nct,
        "official_title": _str(_get(ident, "officialTitle")),
        "status": _str(_get(status, "overallStatus")) or "UNKNOWN",
        "why_stopped": _str(_get(status, "whyStopped")),
        "phases": _strs(_get(design, "phases")),
        "study_type": _str(_get(design, "studyType")),
        "primary_purpose": _str(_get(design, "designInfo", "primaryPurpose")),
        "conditions": _strs(_get(ps, "conditionsModule", "conditions")),
        "keywords": _strs(_get(ps, "conditionsModule", "keywords")),
        "sponsor": _str(_get(sponsor, "name")),
        "sponsor_class": _str(_get(sponsor, "class")),
        "min_age_years": age_years(_get(elig, "minimumAge")),
        "max_age_years": age_years(_get(elig, "maximumAge")),
        "sex": _str(_get(elig, "sex")) or "ALL",
        "age_groups": _strs(_get(elig, "stdAges")),
        "healthy_volunteers": _get(elig, "healthyVolunteers") is True,
        "start_date": _date(_get(status, "startDateStruct")),
        "completion_date": _date(_get(status, "completionDateStruct")),
        "first_posted": _date(_get(status, "studyFirstPostDateStruct")) or _str(_get(status, "studyFirstSubmitDate")),
        "last_update": _date(_get(status, "lastUpdatePostDateStruct")) or _str(_get(status, "lastUpdateSubmitDate")),
        "enrollment": _float(_get(design, "enrollmentInfo", "count")),
        "brief_summary": _str(_get(ps, "descriptionModule", "briefSummary")),
        "eligibility": _str(_get(elig, "eligibilityCriteria")),
        "central_contacts": _contacts(_get(ps, "contactsLocationsModule", "centralContacts")),
        "url": STUDY_URL.format(nct),
    }


def _contacts(value: Any) -> str:
    out = []
    for c in _dicts(value):
        parts = [_str(c.get(k)) for k in ("name", "phone", "email")]
        if any(parts):
            out.append(" · ".join(p for p in parts if p))
    return "; ".join(out)


def site_rows(record: Json) -> list[dict[str, Any]]:
    """One row per location; coordinates from the registry's geoPoint when present, else NaN."""
    nct = nct_id(record)
    rows = []
    for loc in _dicts(_get(protocol(record), "contactsLocationsModule", "locations")):
        lat, lon = _float(_get(loc, "geoPoint", "lat")), _float(_get(loc, "geoPoint", "lon"))
        if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            lat = lon = None
        rows.append(
            {
                "nct_id": nct,
                "facility": _str(loc.get("facility")),
                "city": _str(loc.get("city")),
                "state": _str(loc.get("state")),
                "zip": _str(loc.get("zip")),
                "country": _str(loc.get("country")),
                "site_status": _str(loc.get("status")),
                "latitude": lat,
                "longitude": lon,
                "contacts": _contacts(loc.get("contacts")),
            }
        )
    return rows
