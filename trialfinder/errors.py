"""The exception tree of TrialFinder.

::

    TrialFinderError                 anything TrialFinder itself refuses or cannot do
    ├── ApiError(url, status)        ClinicalTrials.gov did not give us a usable answer
    │   ├── RateLimited              HTTP 429 that outlasted our retries
    │   ├── ApiUnreachable           no connection, DNS failure, time-out, the refresh deadline passed
    │   └── InvalidResponse          an answer we cannot trust (not JSON, truncated, HTML, bad paging,
    │                                too large, a redirect to another host, implausibly small)
    ├── DataError                    the local data set is missing, unreadable or corrupt
    │   └── StoreUnavailable         the data-set database cannot be used now (unreachable, cannot be
    │                                opened, read-only for us, the connection dropped): nothing is lost
    └── InvalidInput                 a user's input we cannot use (bad ZIP, unknown category, ...)

Every message says what to do next. The edges (CLI, app) turn these into one line of text;
nothing below them prints.
"""

from __future__ import annotations


class TrialFinderError(Exception):
    """Base class: every error TrialFinder raises on purpose."""


class ApiError(TrialFinderError):
    def __init__(self, message: str, url: str | None = None, status: int | None = None):
        super().__init__(message)
        self.url = url
        self.status = status


class RateLimited(ApiError):
    def __init__(self, message: str, url: str | None = None, retry_after: float | None = None):
        super().__init__(message, url=url, status=429)
        self.retry_after = retry_after


class ApiUnreachable(ApiError):
    pass


class InvalidResponse(ApiError):
    pass


class DataError(TrialFinderError):
    pass


class StoreUnavailable(DataError):
    """The database holding the data sets cannot be used now; what it holds is unchanged."""


class InvalidInput(TrialFinderError, ValueError):
    """A value given by a user that TrialFinder cannot use. The message says what is accepted."""
