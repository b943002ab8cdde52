"""Build the HTTP session: requests-cache on SQLite, retries on the transport, a polite rate limit.

Nothing here connects; the client receives the session (and tests hand it one pointed at the
loopback replay server).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests_cache import CachedSession
from urllib3.exceptions import MaxRetryError, ProtocolError, ResponseError
from urllib3.util.retry import Retry

from .files import private_dir, set_aside
from .settings import Settings

RETRY_STATUSES = (429, 500, 502, 503, 504)


class RateLimiter:
    """At most ``per_minute`` requests in any 60-second window (sliding window, thread-safe).

    Only requests that really leave the machine pass through it: cache hits never reach the
    transport adapter.
    """

    def __init__(self, per_minute: float, clock=time.monotonic, sleep=time.sleep):
        self.per_minute = per_minute
        self._clock, self._sleep = clock, sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()
        self.count = 0

    def acquire(self) -> float:
        """Wait until one more request is allowed; return the seconds waited."""
        waited = 0.0
        limit = max(1, int(self.per_minute))
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and now - self._sent[0] >= 60.0:
                    self._sent.popleft()
                if len(self._sent) < limit:
                    self._sent.append(now)
                    self.count += 1
                    return waited
                delay = 60.0 - (now - self._sent[0])
            self._sleep(delay)
            waited += delay


#: a host that cannot be resolved or connected is retried this often, and a connection may take this
#: long to open, so that refresh with no network fails within 5 s (issue 19); 429 and 5xx keep their
#: retries with backoff
CONNECT_RETRIES = 1
CONNECT_TIMEOUT = 2.0


class BoundedRetry(Retry):
    """urllib3 Retry that honours Retry-After but never waits longer than ``max_retry_after``:
    a longer wait is handed back to the caller (which reports a rate limit) instead of sleeping.
    Each retry passes through the rate limiter too."""

    def __init__(self, *args: Any, max_retry_after: float = 120.0, limiter: RateLimiter | None = None, **kw: Any):
        super().__init__(*args, **kw)
        self.max_retry_after = max_retry_after
        self.limiter = limiter

    def new(self, **kw: Any) -> "BoundedRetry":
        kw.setdefault("max_retry_after", self.max_retry_after)
        kw.setdefault("limiter", self.limiter)
        return super().new(**kw)  # type: ignore[return-value]

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):  # type: ignore[override]
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        if response is not None:
            wait = new.get_retry_after(response)
            if wait is not None and wait > self.max_retry_after:
                raise MaxRetryError(_pool, url, ResponseError(f"Retry-After {wait:.0f}s is too long"))  # type: ignore[arg-type]
        if self.limiter is not None:
            self.limiter.acquire()
        return new


class PoliteAdapter(HTTPAdapter):
    """HTTPAdapter whose first attempt of every request waits for the rate limiter, and which
    reads the body itself so that a connection broken mid-body is retried like any other
    connection error (urllib3's Retry only covers the request and the headers)."""

    def __init__(self, limiter: RateLimiter, **kw: Any):
        self.limiter = limiter  # its ``count``: the requests that really left the machine
        self.notes: list[str] = []  # what happened to the transport itself (a damaged cache set aside)
        super().__init__(**kw)

    def send(self, request, stream=False, **kw: Any):  # type: ignore[override]
        self.limiter.acquire()
        retry = self.max_retries
        timeout = kw.get("timeout")
        if isinstance(timeout, (int, float)):  # (connect, read): opening a connection is quick or fails
            kw["timeout"] = (min(CONNECT_TIMEOUT, float(timeout)), timeout)
        while True:
            try:
                response = super().send(request, stream=stream, **kw)
            except requests.exceptions.ConnectTimeout as exc:  # not reached at all: the same line as refused
                raise requests.exceptions.ConnectionError(exc, request=request) from exc
            if stream:
                return response
            try:
                response.content  # noqa: B018  (read the whole body now)
                return response
            except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError) as exc:
                response.close()
                try:  # counts as a read error; also waits for the rate limiter
                    retry = retry.increment(request.method, request.url, error=ProtocolError(str(exc)))
                except MaxRetryError:
                    raise exc from None
                retry.sleep()


def make_retry(settings: Settings, limiter: RateLimiter | None) -> BoundedRetry:
    return BoundedRetry(
        total=settings.max_retries,
        connect=min(settings.max_retries, CONNECT_RETRIES),
        read=settings.max_retries,
        status=settings.max_retries,
        backoff_factor=settings.backoff_factor,
        backoff_max=settings.backoff_max,
        backoff_jitter=settings.backoff_factor / 2,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "HEAD"}),
        respect_retry_after_header=True,
        raise_on_status=False,
        max_retry_after=settings.max_retry_after,
        limiter=limiter,
    )


def build_session(settings: Settings) -> CachedSession:
    """A CachedSession (SQLite in ``settings.cache_dir``) with retries, rate limit, User-Agent.

    A damaged cache database is moved aside (``http_cache.sqlite.corrupt-<time>``) and a new one
    started; :func:`notes` says so. The cache only speeds things up: nothing is lost.
    """
    private_dir(settings.cache_dir)
    note = None
    try:
        session = _cached_session(settings)
    except sqlite3.DatabaseError as exc:
        moved = set_aside_cache(settings)
        note = f"the HTTP cache was damaged ({exc}); moved aside to {moved} and started afresh"
        session = _cached_session(settings)
    try:
        os.chmod(settings.http_cache_path, 0o600)
    except OSError:
        pass
    adapter = _equip(session, settings)
    if note:
        adapter.notes.append(note)
    return session


def _cached_session(settings: Settings) -> CachedSession:
    session = CachedSession(
        cache_name=str(settings.http_cache_path),
        backend="sqlite",
        expire_after=settings.cache_expire_seconds,
        stale_if_error=True,
        allowable_codes=(200,),
        allowable_methods=("GET",),
        match_headers=False,
    )
    try:  # reading one row proves the database opens and is an SQLite file
        len(session.cache.responses)
    except sqlite3.DatabaseError:
        session.close()
        raise
    return session


def set_aside_cache(settings: Settings) -> Path | None:
    """Move a damaged HTTP cache database (and its SQLite journal files) aside."""
    return set_aside(settings.http_cache_path, companions=("-wal", "-shm"))


def polite_adapter(session: requests.Session, url: str) -> PoliteAdapter | None:
    """The retrying, rate-limited adapter :func:`build_session` mounted for ``url`` (None on a session
    built elsewhere: its requests are then counted by the client itself)."""
    try:
        adapter = session.get_adapter(url)
    except requests.exceptions.InvalidSchema:
        return None
    return adapter if isinstance(adapter, PoliteAdapter) else None


def notes(session: requests.Session, url: str) -> list[str]:
    """What happened to the session's transport (e.g. a damaged cache set aside): warnings for the user."""
    adapter = polite_adapter(session, url)
    return adapter.notes if adapter is not None else []


def _equip(session: requests.Session, settings: Settings) -> PoliteAdapter:
    """Mount the retrying, rate-limited adapter and set the identifying headers."""
    limiter = RateLimiter(settings.max_requests_per_minute)
    adapter = PoliteAdapter(limiter, max_retries=make_retry(settings, limiter))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = settings.user_agent
    session.headers["Accept"] = "application/json"
    return adapter
