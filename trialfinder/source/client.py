"""The ClinicalTrials.gov API v2 client: every page of /studies, /studies/{id} and /version.

It receives its session (see :mod:`trialfinder.session`); it never builds one. Transport
failures become the exception tree of :mod:`trialfinder.errors`; an answer we cannot trust is
removed from the HTTP cache so that it is not served again.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import requests

from ..errors import ApiError, ApiUnreachable, InvalidResponse, RateLimited
from .normalize import NCT_RE, nct_id
from .query import SearchQuery, to_params
from .session import polite_adapter
from .settings import Settings

Progress = Callable[[int, "int | None"], None]

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
        self.base = settings.api_url.rstrip("/")
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
            body = " ".join(response.text[:120].split())
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
        data = self._json(self._get("/version", refresh=refresh))
        if not isinstance(data.get("dataTimestamp", ""), str):
            raise InvalidResponse("ClinicalTrials.gov /version has no usable dataTimestamp")
        return data

    def study(self, nct: str, refresh: bool = False) -> dict[str, Any]:
        if not NCT_RE.match(nct):
            from ..errors import InvalidInput

            raise InvalidInput(f"{nct!r} is not an NCT number; use the form NCT01234567")
        return self._json(self._get(f"/studies/{nct}", refresh=refresh))

    def fetch_all(
        self,
        query: SearchQuery,
        *,
        refresh: bool = False,
        progress: Progress | None = None,
        record_dir: Path | None = None,
    ) -> FetchResult:
        """Download every page of ``query``. Raises unless the result is complete and consistent.

        A download that mixes fresh pages with cached ones (cache entries expiring between pages)
        is repeated once from the network, so a data set is never a mix of two moments.
        """
        sent_before = self._sent()
        try:
            result = self._fetch(query, refresh, progress, record_dir)
        except _MixedListing:  # cached pages from two moments: ask the network for all of them
            result = self._fetch(query, True, progress, record_dir)
        if result.mixed and not refresh:
            result = self._fetch(query, True, progress, record_dir)
        result.requests_sent = self._sent() - sent_before
        return result

    def _read_version(self, result: FetchResult, refresh: bool, record_dir: Path | None) -> None:
        """Fill ``data_timestamp``; a failing /version only costs the timestamp, not the data."""
        try:
            version = self._json(self._get("/version", refresh=refresh))
        except ApiError as exc:
            result.warnings.append(f"/version failed ({exc}); the data timestamp is unknown")
            return
        result.data_timestamp = str(version.get("dataTimestamp") or "") or None
        result.api_version = str(version.get("apiVersion") or "") or None
        _record(record_dir, "version.json", version)

    def _fetch(self, query: SearchQuery, refresh: bool, progress: Progress | None,
               record_dir: Path | None) -> FetchResult:
        pages: list[requests.Response] = []
        try:
            return self._fetch_pages(query, refresh, progress, record_dir, pages)
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

        if result.total_count is not None and len(by_id) < result.total_count:
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


def _collect(result: FetchResult, studies: list[Any], by_id: dict[str, dict[str, Any]]) -> None:
    """Add a page's studies by NCT id (a repeat is merged and counted; a record without an id skipped)."""
    for study in studies:
        key = nct_id(study) if isinstance(study, dict) else ""
        if not NCT_RE.match(key):
            result.warnings.append("a record without a valid NCT id was skipped")
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
    if record_dir is None:
        return
    record_dir.mkdir(parents=True, exist_ok=True)
    (record_dir / name).write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
