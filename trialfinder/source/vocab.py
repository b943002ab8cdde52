"""API v2 vocabularies (statuses) as enums with explicit tables, and parsing of a user's status.

What a status or phase is called on screen is in :mod:`trialfinder.labels`.
"""

from __future__ import annotations

from enum import Enum

from ..errors import InvalidInput


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


#: the statuses a patient can act on: what `trialfinder fetch` downloads by default
ACTIONABLE_STATUSES: tuple[str, ...] = (
    "RECRUITING",
    "NOT_YET_RECRUITING",
    "ENROLLING_BY_INVITATION",
    "ACTIVE_NOT_RECRUITING",
)

#: the statuses a patient can enrol in: the default of every search, in the app and the CLI
ENROLLING_STATUSES: tuple[str, ...] = ("RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION")

#: site statuses at which a patient could be enrolled
OPEN_SITE_STATUSES: tuple[str, ...] = ("RECRUITING", "ENROLLING_BY_INVITATION")


def parse_status(value: str) -> str:
    """Accept RECRUITING, recruiting, 'not yet recruiting', not-yet-recruiting, ..."""
    key = value.strip().upper().replace("-", "_").replace(" ", "_").replace(",", "")
    if key in Status.__members__:
        return key
    raise InvalidInput(
        f"unknown status {value!r}; use one of: all, "
        + ", ".join(s.lower() for s in Status.__members__)
    )
