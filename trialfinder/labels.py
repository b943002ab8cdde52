"""Every user-facing label, in one place: statuses, phases, sex, treatment categories, disease
settings, sort orders, distance units, and the disclaimer.

A leaf module (it imports nothing of TrialFinder's), so every stage may read it, like ``errors``.
Keys are the API's enum values or the classifier's keys; values are what a person reads.
"""

from __future__ import annotations

import math
from typing import Any

STATUS_LABELS: dict[str, str] = {
    "RECRUITING": "Recruiting",
    "NOT_YET_RECRUITING": "Not yet recruiting",
    "ENROLLING_BY_INVITATION": "Enrolling by invitation",
    "ACTIVE_NOT_RECRUITING": "Active, not recruiting",
    "SUSPENDED": "Suspended",
    "TERMINATED": "Terminated",
    "COMPLETED": "Completed",
    "WITHDRAWN": "Withdrawn",
    "AVAILABLE": "Available (expanded access)",
    "NO_LONGER_AVAILABLE": "No longer available",
    "TEMPORARILY_NOT_AVAILABLE": "Temporarily not available",
    "APPROVED_FOR_MARKETING": "Approved for marketing",
    "WITHHELD": "Withheld",
    "UNKNOWN": "Unknown status",
}

PHASE_LABELS: dict[str, str] = {
    "EARLY_PHASE1": "Early phase 1",
    "PHASE1": "Phase 1",
    "PHASE2": "Phase 2",
    "PHASE3": "Phase 3",
    "PHASE4": "Phase 4",
    "NA": "Not applicable",
}

#: the phase choices of the filters: each single phase (which includes the combined phases it is part
#: of: "Phase 1" finds Phase 1/2 trials) and each combined phase on its own ("Phase 1/2" finds only
#: trials registered as phase 1/2)
PHASE_CHOICES: dict[str, str] = {
    "EARLY_PHASE1": "Early phase 1",
    "PHASE1": "Phase 1 (includes 1/2)",
    "PHASE1_PHASE2": "Phase 1/2",
    "PHASE2": "Phase 2 (includes 1/2, 2/3)",
    "PHASE2_PHASE3": "Phase 2/3",
    "PHASE3": "Phase 3 (includes 2/3)",
    "PHASE4": "Phase 4",
    "NA": "Not applicable",
}

#: the statuses a patient can enrol in (the search default); any other status is labelled "not enrolling"
ENROLLING_STATUS_KEYS: tuple[str, ...] = ("RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION")
NOT_ENROLLING = "not enrolling"

#: order of phases (later phase = higher), for sorting and for "Phase 1/2"
PHASE_ORDER: dict[str, int] = {"NA": 0, "EARLY_PHASE1": 1, "PHASE1": 2, "PHASE2": 3, "PHASE3": 4, "PHASE4": 5}

SEX_LABELS: dict[str, str] = {"ALL": "All", "FEMALE": "Female", "MALE": "Male"}

CATEGORY_LABELS: dict[str, str] = {
    "targeted": "Targeted therapy",
    "immunotherapy": "Immunotherapy & biologics",
    "transplant": "Stem cell transplant",
    "experimental": "Experimental modalities",
    "chemotherapy": "Chemotherapy",
    "supportive": "Supportive care",
    "other": "Other / no treatment category",
}
#: the shorter names the terminal table uses where a label would not fit
CATEGORY_SHORT_LABELS: dict[str, str] = {"supportive": "supportive care"}
CATEGORY_DESCRIPTIONS: dict[str, str] = {
    "targeted": "Small molecules against a defined leukemia target, and antibodies or conjugates that kill by "
                "binding a leukemia antigen.",
    "immunotherapy": "Treatments acting through the immune system: CAR/NK/donor cells, T-cell engagers, checkpoint "
                     "antibodies, vaccines, immunomodulators, anti-leukemic cytokines.",
    "transplant": "A stem cell transplant is part of the study treatment, or the study treats patients around one "
                  "(conditioning, GVHD prophylaxis, DLI, post-transplant therapy).",
    "experimental": "Emerging modalities: gene therapy or editing, cytokine and enzyme therapy, oncolytic viruses, "
                    "agents with an undisclosed mechanism.",
    "chemotherapy": "Cytotoxic chemotherapy and hypomethylating agents given against the leukemia (not as transplant "
                    "conditioning).",
    "supportive": "Studies testing care for symptoms, complications or quality of life rather than the leukemia.",
    "other": "No study treatment matched a category: observational, diagnostic, registry or behavioural studies.",
}

#: the disease setting a study enrolls (shown to users as "Disease setting")
DISEASE_SETTING_LABELS: dict[str, str] = {
    "relapsed_refractory": "relapsed/refractory",
    "newly_diagnosed": "newly diagnosed",
    "post_transplant": "post-transplant",
}

#: what a study whose record states no disease setting shows (it is never hidden by the setting filter)
SETTING_NOT_STATED = "setting not stated"

SORT_LABELS: dict[str, str] = {"distance": "nearest first", "updated": "recently updated",
                               "phase": "latest phase first"}

UNITS: dict[str, str] = {"mi": "miles", "km": "km"}

#: what a missing field says: in a partial snapshot record (converted from the website's CSV exports)
#: the registry may have it; in a full registry record the registry does not state it
NOT_IN_SNAPSHOT = "not in this snapshot — refresh for the full record"
NOT_STATED = "not stated in the registry record"
#: a site whose status the record does not give: unknown, never "not recruiting"
SITE_STATUS_UNKNOWN = "status unknown"
AGES_NOT_STATED = "ages not stated"


def gap(partial: Any) -> str:
    """What to show for a field the record lacks: NOT_IN_SNAPSHOT for a partial record, else NOT_STATED."""
    return NOT_IN_SNAPSHOT if partial is True or partial == 1 else NOT_STATED


#: the defaults of every search (app and CLI), as the page and README state them
DEFAULTS_NOTE = (
    "Defaults: trials a patient can enrol in (recruiting, not yet recruiting, enrolling by invitation), "
    "relapsed/refractory setting; trials whose setting is not stated are included and labelled. "
    "Clear a filter to see every status or setting."
)

DISCLAIMER = (
    "Information only, not medical advice. Trial sites confirm eligibility; "
    "check each trial's ClinicalTrials.gov record before acting on it."
)


def phase_display(phases: list[str] | tuple[str, ...]) -> str:
    """["PHASE1", "PHASE2"] -> "Phase 1/2"; [] -> ""."""
    known = sorted((p for p in phases if p in PHASE_ORDER), key=PHASE_ORDER.__getitem__)
    if not known:
        return ""
    if known == ["NA"]:
        return "Not applicable"
    numbers = [PHASE_LABELS[p].replace("Phase ", "") for p in known if p != "NA"]
    if len(numbers) == 1:
        return PHASE_LABELS[known[-1]] if known[-1] != "NA" else "Not applicable"
    return "Phase " + "/".join(numbers)


def status_label(key: Any) -> str:
    """'RECRUITING' -> 'Recruiting'; an unknown code made readable; missing -> ''."""
    return STATUS_LABELS.get(str(key), str(key).replace("_", " ").capitalize()) if key == key and key else ""


def enrolment_label(key: Any) -> str:
    """The status with whether a patient can enrol: 'Recruiting', 'Not yet recruiting',
    'Active, not recruiting (not enrolling)'; missing -> ''."""
    label = status_label(key)
    return f"{label} ({NOT_ENROLLING})" if label and key not in ENROLLING_STATUS_KEYS else label


def setting_short(keys: Any) -> str:
    """('relapsed_refractory', 'post_transplant') -> 'relapsed/refractory, post-transplant'; none ->
    'setting not stated'."""
    keys = tuple(keys) if isinstance(keys, (tuple, list)) else ()
    return ", ".join(DISEASE_SETTING_LABELS.get(k, k) for k in keys) or SETTING_NOT_STATED


def category_labels(keys: Any) -> str:
    """('targeted', 'chemotherapy') -> 'Targeted therapy, Chemotherapy'; none -> the 'other' label."""
    keys = tuple(keys) if isinstance(keys, (tuple, list)) else ()
    return ", ".join(CATEGORY_LABELS.get(k, k) for k in keys) or CATEGORY_LABELS["other"]


def distance_label(distance: Any, unit: str, *, spaced: bool = True, unit_shown: bool = True,
                   missing: str = "not located") -> str:
    """The one distance formatter: 3.2 -> '≈ 3 mi' (``spaced=False``: '≈3 mi'; ``unit_shown=False``:
    '≈ 3'); NaN or None -> ``missing``. Always approximate: city centroids and straight lines."""
    try:
        value = float(distance)
    except (TypeError, ValueError):
        return missing
    if math.isnan(value):
        return missing
    text = f"≈{' ' if spaced else ''}{value:,.0f}"
    return f"{text} {unit}" if unit_shown else text


def age_range(low: Any, high: Any) -> str:
    """(18, 74) -> '18–74'; (18, NaN) -> '18 and over'; (NaN, 74) -> 'up to 74'; neither -> 'any'."""
    def known(v: Any) -> bool:
        return isinstance(v, (int, float)) and v == v

    if known(low) and known(high):
        return f"{low:g}–{high:g}"
    if known(low):
        return f"{low:g} and over"
    return f"up to {high:g}" if known(high) else "any"

#: the verdict of a trial's eligibility facts for the patient's own profile
VERDICT_LABELS: dict[str, str] = {"no_conflict": "no conflict found", "check": "check with the trial team",
                                  "likely_excluded": "likely excluded"}
#: the eligibility facts (ELIGIBILITY.md), as a person reads them
ELIGIBILITY_LABELS: dict[str, str] = {
    "max_ecog": "Worst ECOG performance status allowed",
    "prior_allo_hct": "Prior allogeneic transplant",
    "required_markers": "Markers required",
    "excluded_markers": "Markers that exclude",
    "required_prior_therapies": "Prior treatment required",
    "excluded_prior_therapies": "Prior treatment that excludes",
    "max_prior_lines": "Most prior treatment lines allowed",
}
