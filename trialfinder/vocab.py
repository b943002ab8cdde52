"""API v2 vocabularies (statuses, phases, sex) as enums with explicit display tables."""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    RECRUITING = "RECRUITING"
    NOT_YET_RECRUITING = "NOT_YET_RECRUITING"
    ENROLLING_BY_INVITATION = "ENROLLING_BY_INVITATION"
    ACTIVE_NOT_RECRUITING = "ACTIVE_NOT_RECRUITING"
    SUSPENDED = "SUSPENDED"
    TERMINATED = "TERMINATED"
    COMPLETED = "COMPLETED"
    WITHDRAWN = "WITHDRAWN"
    AVAILABLE = "AVAILABLE"
    NO_LONGER_AVAILABLE = "NO_LONGER_AVAILABLE"
    TEMPORARILY_NOT_AVAILABLE = "TEMPORARILY_NOT_AVAILABLE"
    APPROVED_FOR_MARKETING = "APPROVED_FOR_MARKETING"
    WITHHELD = "WITHHELD"
    UNKNOWN = "UNKNOWN"


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

#: the statuses a patient can act on: the default of every search
ACTIONABLE_STATUSES: tuple[str, ...] = (
    "RECRUITING",
    "NOT_YET_RECRUITING",
    "ENROLLING_BY_INVITATION",
    "ACTIVE_NOT_RECRUITING",
)

#: site statuses at which a patient could be enrolled
OPEN_SITE_STATUSES: tuple[str, ...] = ("RECRUITING", "ENROLLING_BY_INVITATION")

PHASE_LABELS: dict[str, str] = {
    "EARLY_PHASE1": "Early phase 1",
    "PHASE1": "Phase 1",
    "PHASE2": "Phase 2",
    "PHASE3": "Phase 3",
    "PHASE4": "Phase 4",
    "NA": "Not applicable",
}

#: order used for sorting by phase (later phase first when descending)
PHASE_ORDER: dict[str, int] = {"NA": 0, "EARLY_PHASE1": 1, "PHASE1": 2, "PHASE2": 3, "PHASE3": 4, "PHASE4": 5}

SEX_LABELS: dict[str, str] = {"ALL": "All", "FEMALE": "Female", "MALE": "Male"}


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


def parse_status(value: str) -> str:
    """Accept RECRUITING, recruiting, 'not yet recruiting', not-yet-recruiting, ..."""
    from .errors import InvalidInput

    key = value.strip().upper().replace("-", "_").replace(" ", "_").replace(",", "")
    if key in Status.__members__:
        return key
    raise InvalidInput(
        f"unknown status {value!r}; use one of: all, "
        + ", ".join(s.lower() for s in Status.__members__)
    )
