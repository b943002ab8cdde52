"""The ClinicalTrials.gov API v2 client: every page of /studies, /studies/{id} and /version.

It receives its session (see :mod:`trialfinder.session`); it never builds one. Transport
failures become the exception tree of :mod:`trialfinder.errors`; an answer we cannot trust is
removed from the HTTP cache so that it is not served again.

What it refuses besides transport failures (the transport bounds size, time and redirects):
JSON it cannot parse, however valid (nested too deep to read); a listing longer than
``settings.max_pages`` pages (with or without ``totalCount``); a listing shorter than its
``totalCount``; and, when the caller says how many studies are stored for the same query
(``stored_count``), a listing with fewer than half as many. A record whose
NCT id is not exactly ``NCT`` + 8 ASCII digits is skipped with a warning; a ``/version`` timestamp
that is not a plain timestamp is dropped with a warning.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import requests

from ..errors import ApiError, ApiUnreachable, InvalidInput, InvalidResponse, RateLimited
from ..sanitize import one_line
from .files import private_dir, write_private
from .normalize import NCT_RE, valid_nct_id
from .query import SearchQuery, to_params
from .session import polite_adapter, refresh_deadline
from .settings import ENV, Settings

Progress = Callable[[int, "int | None"], None]

#: what a /version dataTimestamp may look like ("2026-11-20T08:00:00", with fractions or a zone)
TIMESTAMP = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?)?"
                       r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?\Z")

STATUS_HINTS = {
    400: "the API refused the request as malformed",
    404: "not found",
    500: "the API had an internal error",
    502: "the API's gateway failed",
    503: "the API is unavailable",
    504: "the API timed out",
}


@dataclass
class FetchResult:
    """One complete download: every study of every page, and how it was obtained."""

    studies: list[dict[str, Any]]
    query: SearchQuery
    pages: int = 0
    requests_sent: int = 0
    from_cache: bool = False
    stale: bool = False
    mixed: bool = False  # some pages fresh, some from the cache
    total_count: int | None = None
    duplicates: int = 0
    skipped: int = 0  # records without a valid NCT id
    data_timestamp: str | None = None
    api_version: str | None = None
    fetched_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        stale = " (stale: the API could not be reached)" if self.stale else ""
        origin = "from cache" + stale if self.from_cache else "live"
        return (
            f"{len(self.studies)} studies, {self.pages} page{'s' if self.pages != 1 else ''}, "
            f"{self.requests_sent} request{'s' if self.requests_sent != 1 else ''} sent, {origin}, "
            f"data timestamp {self.data_timestamp or 'unknown'}"
        )


class CtGovClient:
    def __init__(self, session: requests.Session, settings: Settings):
        self.session = session
        self.settings = settings
        self.base = settings.api_base.rstrip("/")  # (credentials, if any, travel in the session's auth)
        # The adapter of build_session counts every request that leaves the machine (retries too);
        # on any other session the client counts the answers not served from a cache itself.
        self._adapter = polite_adapter(session, self.base)
        self._counted = 0

    # -- low level -------------------------------------------------------------------------

    def _sent(self) -> int:
        return self._adapter.limiter.count if self._adapter is not None else self._counted

    def _get(self, path: str, params: dict[str, str] | None = None, refresh: bool = False) -> requests.Response:
        url = self.base + path
        kwargs: dict[str, Any] = {"params": params, "timeout": self.settings.timeout}
        if refresh and hasattr(self.session, "cache"):
            kwargs["force_refresh"] = True
        try:
            response = self.session.get(url, **kwargs)
            if not getattr(response, "from_cache", False):  # (requests-cache marks what it served)
                self._counted += 1
        except requests.exceptions.TooManyRedirects as exc:
            raise InvalidResponse(
                "ClinicalTrials.gov redirected us in a loop; check the API URL (--api-url / TRIALFINDER_API_URL) "
                "or try again later (the last data set is kept)", url=url) from exc
        except requests.exceptions.RetryError as exc:
            raise RateLimited(
                "ClinicalTrials.gov asked us to wait longer than "
                f"{self.settings.max_retry_after:.0f} s (rate limit); try again later",
                url=url,
            ) from exc
        except requests.exceptions.Timeout as exc:
            raise ApiUnreachable(
                f"ClinicalTrials.gov did not answer within {self.settings.timeout:g} s; "
                "check your connection or try again later (the last data set is kept)",
                url=url,
            ) from exc
        except requests.exceptions.ConnectionError as exc:
            raise ApiUnreachable(
                f"cannot reach ClinicalTrials.gov at {self.base}; check your internet connection "
                "(the last data set is kept and still works offline)",
                url=url,
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise InvalidResponse(
                f"the connection to ClinicalTrials.gov broke mid-answer ({type(exc).__name__}); try again",
                url=url,
            ) from exc
        if response.status_code == 429:
            retry_after = response.headers.get("Retry-After")
            wait = f" in {retry_after} s" if retry_after and retry_after.isdigit() else " later"
            raise RateLimited(
                f"ClinicalTrials.gov is rate-limiting us (HTTP 429) even after retries; try again{wait}",
                url=url,
                retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
            )
        if response.status_code != 200:
            hint = STATUS_HINTS.get(response.status_code, "unexpected answer")
            body = " ".join(one_line(response.text[:120]).split())  # (inert: it is the server's text)
            raise ApiError(
                f"ClinicalTrials.gov answered HTTP {response.status_code} ({hint}) for {path}"
                + (f": {body}" if body and response.status_code < 500 else "")
                + ("" if response.status_code == 404 else "; try again later (the last data set is kept)"),
                url=url,
                status=response.status_code,
            )
        return response

    def _json(self, response: requests.Response) -> dict[str, Any]:
        ctype = response.headers.get("Content-Type", "")
        text_start = response.content[:200].lstrip()[:1]
        problem = None
        if "html" in ctype.lower() or text_start == b"<":
            problem = "sent a web page instead of data (is the API URL right? is a proxy or captive portal in the way?)"
        else:
            try:
                data = json.loads(response.content)
            except ValueError:
                problem = "sent truncated or malformed JSON"
            except RecursionError:
                problem = "sent JSON nested too deeply to read"
            else:
                if isinstance(data, dict):
                    return data
                problem = "sent JSON of an unexpected shape"
        self._forget(response)
        raise InvalidResponse(f"ClinicalTrials.gov {problem}; try again later", url=response.url)

    def _forget(self, response: requests.Response) -> None:
        """Drop a bad answer from the HTTP cache so it is never served again."""
        cache = getattr(self.session, "cache", None)
        key = getattr(response, "cache_key", None)
        if cache is not None and key:
            cache.delete(key)

    # -- endpoints --------------------------------------------------------------------------

    def version(self, refresh: bool = False) -> dict[str, Any]:
        response = self._get("/version", refresh=refresh)
        data = self._json(response)
        stamp = data.get("dataTimestamp", "")
        if not isinstance(stamp, str) or (stamp and not TIMESTAMP.match(stamp)):
            self._forget(response)
            raise InvalidResponse("ClinicalTrials.gov /version has no usable dataTimestamp; try again later")
        return data

    def study(self, nct: str, refresh: bool = False) -> dict[str, Any]:
        if not isinstance(nct, str) or not NCT_RE.match(nct):
            raise InvalidInput(f"{one_line(nct)!r} is not an NCT number; use the form NCT01234567")
        return self._json(self._get(f"/studies/{nct}", refresh=refresh))

    def fetch_all(
        self,
        query: SearchQuery,
        *,
        refresh: bool = False,
        progress: Progress | None = None,
        record_dir: Path | None = None,
        stored_count: int | None = None,
    ) -> FetchResult:
        """Download every page of ``query``. Raises unless the result is complete and consistent,
        and, when ``stored_count`` studies are stored for the same query, has at least half as many
        (None: no such check, e.g. the user accepts a smaller data set).

        A download that mixes fresh pages with cached ones (cache entries expiring between pages)
        is repeated once from the network, so a data set is never a mix of two moments. All of it
        must finish within ``settings.refresh_deadline`` seconds.
        """
        sent_before = self._sent()
        with refresh_deadline(self.session, self.base, self.settings.refresh_deadline):
            try:
                result = self._fetch(query, refresh, progress, record_dir, stored_count)
            except _MixedListing:  # cached pages from two moments: ask the network for all of them
                result = self._fetch(query, True, progress, record_dir, stored_count)
            if result.mixed and not refresh:
                result = self._fetch(query, True, progress, record_dir, stored_count)
        result.requests_sent = self._sent() - sent_before
        return result

    def _read_version(self, result: FetchResult, refresh: bool, record_dir: Path | None) -> None:
        """Fill ``data_timestamp``; a failing /version only costs the timestamp, not the data."""
        try:
            version = self.version(refresh=refresh)
        except ApiError as exc:
            result.warnings.append(f"/version failed ({exc}); the data timestamp is unknown")
            return
        result.data_timestamp = str(version.get("dataTimestamp") or "") or None
        result.api_version = str(version.get("apiVersion") or "") or None
        _record(record_dir, "version.json", version)

    def _fetch(self, query: SearchQuery, refresh: bool, progress: Progress | None,
               record_dir: Path | None, stored_count: int | None = None) -> FetchResult:
        pages: list[requests.Response] = []
        try:
            result = self._fetch_pages(query, refresh, progress, record_dir, pages)
            _check_size(result, stored_count)
            return result
        except InvalidResponse:
            for response in pages:  # a listing we refused must not be served again by the cache
                self._forget(response)
            raise

    def _fetch_pages(
        self, query: SearchQuery, refresh: bool, progress: Progress | None, record_dir: Path | None,
        pages: list[requests.Response],
    ) -> FetchResult:
        result = FetchResult(studies=[], query=query)
        origins: list[bool] = []
        by_id: dict[str, dict[str, Any]] = {}
        seen_tokens: set[str] = set()
        token: str | None = None
        last_created: datetime | None = None
        while True:
            params = to_params(query, page_size=self.settings.page_size, page_token=token)
            response = self._get("/studies", params, refresh=refresh)
            pages.append(response)
            page = self._json(response)
            studies = page.get("studies")
            if not isinstance(studies, list):
                self._forget(response)
                raise InvalidResponse("ClinicalTrials.gov sent a page without a 'studies' list; try again later")
            result.pages += 1
            last_created = _note_origin(result, response, origins, last_created, refresh)
            _record(record_dir, f"page-{result.pages:04d}.json", page)
            if token is None and isinstance(page.get("totalCount"), int):
                result.total_count = page["totalCount"]
            _collect(result, studies, by_id)
            if progress:
                progress(len(by_id), result.total_count)
            token = self._next_token(result, page, token, seen_tokens, bool(studies))
            if token is None:
                break

        if result.total_count is not None and len(by_id) + result.skipped < result.total_count:
            raise InvalidResponse(
                f"ClinicalTrials.gov ended the listing early ({len(by_id)} of {result.total_count} studies); "
                "the last complete data set is kept — try again later"
            )
        result.studies = list(by_id.values())
        result.from_cache = all(origins)
        result.mixed = any(origins) and not all(origins)
        # the data timestamp of what we just got: fresh pages ask for a fresh /version
        self._read_version(result, refresh or not result.from_cache, record_dir)
        if result.duplicates:
            result.warnings.append(f"{result.duplicates} duplicate records across pages were merged")
        if result.skipped:
            n = result.skipped
            result.warnings.append(f"{n} record{'s' if n != 1 else ''} without a valid NCT id "
                                   f"{'were' if n != 1 else 'was'} skipped")
        return result

    def _next_token(self, result: FetchResult, page: dict[str, Any], token: str | None, seen: set[str],
                    had_studies: bool) -> str | None:
        """The next page's token, None at the end; a repeated token or too many pages is refused."""
        next_token = page.get("nextPageToken")
        if not next_token or not had_studies:
            return None
        if not isinstance(next_token, str) or next_token == token or next_token in seen:
            raise InvalidResponse(
                "ClinicalTrials.gov repeated a page token; stopped to avoid looping; try again later "
                "(the last data set is kept)"
            )
        ceiling = self.settings.max_pages
        if result.total_count is not None and math.ceil(result.total_count / self.settings.page_size) > ceiling:
            raise InvalidResponse(
                f"the search matches {result.total_count} studies, more than {ceiling} pages of "
                f"{self.settings.page_size}; narrow it, or raise {ENV['max_pages']} and try again"
            )
        if result.pages >= ceiling:
            raise InvalidResponse(
                f"ClinicalTrials.gov kept sending pages ({result.pages}, the ceiling is {ceiling}, "
                f"{ENV['max_pages']}); stopped — try again later (the last data set is kept)"
            )
        limit = math.ceil((result.total_count or 0) / self.settings.page_size) + 10
        if result.total_count is not None and result.pages > limit:
            raise InvalidResponse("ClinicalTrials.gov sent more pages than its total count allows; try again later")
        seen.add(next_token)
        return next_token


def _note_origin(result: FetchResult, response: requests.Response, origins: list[bool],
                 last_created: datetime | None, refresh: bool) -> datetime | None:
    """Record whether a page came from the cache, and when it was cached (returned)."""
    origins.append(bool(getattr(response, "from_cache", False)))
    created = getattr(response, "created_at", None)
    if origins[-1] and created is not None:
        # one run caches its pages in page order; an older page after a newer one means an
        # interrupted later run overwrote a prefix of the listing: two moments would mix
        if not refresh and last_created is not None and created < last_created:
            raise _MixedListing
        last_created = created
        result.fetched_at = min(result.fetched_at, _iso(created))
    result.stale = result.stale or bool(getattr(response, "is_expired", False))
    return last_created


def _check_size(result: FetchResult, stored_count: int | None) -> None:
    """Refuse a listing with fewer than half the ``stored_count`` studies stored for the same query."""
    if stored_count is not None and len(result.studies) * 2 < stored_count:
        raise InvalidResponse(
            f"ClinicalTrials.gov returned {len(result.studies)} studies for this search, under half of the "
            f"{stored_count} stored; refused as implausible (the last data set is kept). If the registry really "
            "has fewer now, run `trialfinder fetch --accept-smaller`"
        )


def _collect(result: FetchResult, studies: list[Any], by_id: dict[str, dict[str, Any]]) -> None:
    """Add a page's studies by NCT id (a repeat is merged and counted; a record without a valid id,
    exactly ``NCT`` + 8 ASCII digits, is skipped and counted)."""
    for study in studies:
        key = valid_nct_id(study) if isinstance(study, dict) else None
        if key is None:
            result.skipped += 1
            continue
        if key in by_id:
            result.duplicates += 1
        by_id[key] = study


class _MixedListing(Exception):
    """The cached pages of one listing were stored by different runs (see ``_fetch``)."""


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def _record(record_dir: Path | None, name: str, data: dict[str, Any]) -> None:
    """Save one raw answer (``fetch --record``): a folder and files only the user can read."""
    if record_dir is None:
        return
    private_dir(record_dir)
    write_private(record_dir / name, json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))
