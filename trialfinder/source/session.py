"""Build the HTTP session: requests-cache on SQLite (or the shared Redis, :mod:`.sharedcache`), retries
on the transport, a polite rate limit, and the bounds that keep a broken or hostile server from costing
unbounded time or memory.

Nothing here connects; the client receives the session (and tests hand it one pointed at the
loopback replay server).

What the transport refuses, whatever the server sends (each a one-line error from the exception tree):

* **a redirect to another host** (:class:`ApiSession`): only the configured host is contacted. A
  redirect on the same host (same scheme and port, or http → https of that host) is followed, at
  most 5 in a row.
* **an answer larger than** ``settings.max_response_mb``, on the wire or once decompressed: the body
  is read in 64 KiB pieces and counted (:meth:`PoliteAdapter.send`), so a gzip bomb stops at the cap.
* **a refresh that outlasts** ``settings.refresh_deadline`` (:func:`refresh_deadline`): no request or
  retry starts after it, no retry waits past it, and a watchdog shuts the socket of a request still
  running at the deadline, so a server dripping its headers or body a byte at a time is cut off
  however short each read's time-out.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests_cache import CachedSession
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import MaxRetryError, ProtocolError, ResponseError
from urllib3.util.retry import Retry

from ..errors import ApiUnreachable, InvalidResponse
from ..sanitize import one_line
from .files import private_dir, set_aside
from .settings import ENV, Settings

RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_REDIRECTS = 5
CHUNK = 64 * 1024

# requests-cache logs a damaged cache entry ("Unable to deserialize response") and a stale answer
# served on error at WARNING/ERROR; with no logging configured Python would print them on stderr.
# The cache handles both (the entry is fetched again, the stale answer is marked stale).
logging.getLogger("requests_cache").addHandler(logging.NullHandler())


class Deadline(threading.local):
    """The end of the current refresh (``time.monotonic()``), shared by the adapter and its retries;
    None while no refresh is running. Per thread: two threads refreshing through one session each
    have their own."""

    def __init__(self) -> None:
        self.at: float | None = None
        self.seconds = 0.0

    def remaining(self) -> float | None:
        return None if self.at is None else self.at - time.monotonic()

    def expired(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    def error(self, url: str | None = None) -> ApiUnreachable:
        return ApiUnreachable(
            f"ClinicalTrials.gov did not finish answering within the refresh deadline of {self.seconds:g} s "
            f"({ENV['refresh_deadline']}); the server is stalling — try again later (the last data set is kept)",
            url=url,
        )


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

    def __init__(self, *args: Any, max_retry_after: float = 120.0, limiter: RateLimiter | None = None,
                 deadline: Deadline | None = None, **kw: Any):
        super().__init__(*args, **kw)
        self.max_retry_after = max_retry_after
        self.limiter = limiter
        self.deadline = deadline

    def new(self, **kw: Any) -> "BoundedRetry":
        kw.setdefault("max_retry_after", self.max_retry_after)
        kw.setdefault("limiter", self.limiter)
        kw.setdefault("deadline", self.deadline)
        return super().new(**kw)  # type: ignore[return-value]

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):  # type: ignore[override]
        if self.deadline is not None and self.deadline.expired():  # no retry after the deadline
            raise self.deadline.error(url)
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        wait = new.get_retry_after(response) if response is not None else None
        if wait is not None and wait > self.max_retry_after:
            raise MaxRetryError(_pool, url, ResponseError(f"Retry-After {wait:.0f}s is too long"))  # type: ignore[arg-type]
        left = self.deadline.remaining() if self.deadline is not None else None
        if left is not None and (wait if wait is not None else new.get_backoff_time()) >= left:
            raise self.deadline.error(url)  # type: ignore[union-attr]  # (no wait past the deadline)
        if self.limiter is not None:
            self.limiter.acquire()
        return new


# -- the watchdog: which connection each thread's request is using, so that it can be cut ---------

_IN_FLIGHT: dict[int, socket.socket] = {}  # thread id -> the socket its request is using


def _watch(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        _IN_FLIGHT[threading.get_ident()] = sock


class _Watched:
    """Mixin for urllib3 connections: remember the socket a thread's request uses (kept by the socket,
    not the connection: http.client lets go of the connection's ``sock`` when a response will close it)."""

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _watch(self)

    def request(self, *args: Any, **kw: Any) -> None:
        _watch(self)  # (a kept-alive connection; a new one is watched when it connects)
        super().request(*args, **kw)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


def _cut(thread_id: int) -> None:
    """At the deadline: shut the socket the thread is reading from (its read then ends at once)."""
    sock = _IN_FLIGHT.get(thread_id)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class PoliteAdapter(HTTPAdapter):
    """HTTPAdapter whose first attempt of every request waits for the rate limiter, and which
    reads the body itself: so that a connection broken mid-body is retried like any other
    connection error (urllib3's Retry only covers the request and the headers), and so that the
    body is counted against ``max_bytes`` as it arrives. While a refresh runs, ``deadline`` bounds
    it (see :func:`refresh_deadline`)."""

    def __init__(self, limiter: RateLimiter, deadline: Deadline | None = None, max_bytes: int = 50_000_000,
                 **kw: Any):
        self.limiter = limiter  # its ``count``: the requests that really left the machine
        self.deadline = deadline or Deadline()
        self.max_bytes = max_bytes
        self.notes: list[str] = []  # what happened to the transport itself (a damaged cache set aside)
        super().__init__(**kw)

    def init_poolmanager(self, *args: Any, **kw: Any) -> None:
        super().init_poolmanager(*args, **kw)
        self.poolmanager.pool_classes_by_scheme = WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **kw: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kw)
        manager.pool_classes_by_scheme = WATCHED_POOLS
        return manager

    def send(self, request, stream=False, **kw: Any):  # type: ignore[override]
        if self.deadline.expired():
            raise self.deadline.error(request.url)
        self.limiter.acquire()
        if self.deadline.expired():  # (the rate limit made us wait past it)
            raise self.deadline.error(request.url)
        left = self.deadline.remaining()
        watchdog = None
        if left is not None:
            kw["timeout"] = _clamp(kw.get("timeout"), left)
            watchdog = threading.Timer(max(left, 0.0), _cut, args=(threading.get_ident(),))
            watchdog.daemon = True
            watchdog.start()
        try:
            response = self._send(request, **kw)
        finally:
            if watchdog is not None:
                watchdog.cancel()
            _IN_FLIGHT.pop(threading.get_ident(), None)
        if self.deadline.expired():  # cut by the watchdog: http.client may take a cut header block as whole
            response.close()
            raise self.deadline.error(request.url)
        return response

    def _send(self, request: requests.PreparedRequest, **kw: Any) -> requests.Response:
        retry = self.max_retries
        timeout = kw.get("timeout")
        if isinstance(timeout, (int, float)):  # (connect, read): opening a connection is quick or fails
            kw["timeout"] = (min(CONNECT_TIMEOUT, float(timeout)), timeout)
        while True:
            try:
                response = super().send(request, stream=True, **kw)
            except requests.exceptions.ConnectTimeout as exc:  # not reached at all: the same line as refused
                raise requests.exceptions.ConnectionError(exc, request=request) from exc
            try:
                self._read_body(response)
                return response
            except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError) as exc:
                response.close()
                try:  # counts as a read error; also waits for the rate limiter (and minds the deadline)
                    retry = retry.increment(request.method, request.url, error=ProtocolError(str(exc)))
                except MaxRetryError:
                    raise exc from None
                retry.sleep()

    def _read_body(self, response: requests.Response) -> None:
        """Read the whole body now, at most ``max_bytes`` on the wire and decompressed."""
        declared = response.headers.get("Content-Length", "").strip()
        if declared.isdigit() and int(declared) > self.max_bytes:
            response.close()
            raise self._too_big(response)
        body = bytearray()
        for piece in response.iter_content(CHUNK):  # decompressed 64 KiB at a time (urllib3 ≥ 2.6)
            body += piece
            if len(body) > self.max_bytes or response.raw.tell() > self.max_bytes:
                response.close()
                raise self._too_big(response)
        response._content = bytes(body)  # what ``response.content`` would have read, unbounded

    def _too_big(self, response: requests.Response) -> InvalidResponse:
        path = urlsplit(response.url).path
        return InvalidResponse(
            f"ClinicalTrials.gov sent an answer larger than {self.max_bytes / 1e6:g} MB for {one_line(path)[:80]} "
            f"({ENV['max_response_mb']}); refused — check the API URL, or try again later (the last data set is kept)",
            url=response.url,
        )


def _clamp(timeout: Any, most: float) -> Any:
    """A requests time-out (None, seconds, or (connect, read)) no longer than ``most`` seconds."""
    most = max(most, 0.001)
    if isinstance(timeout, tuple):
        return tuple(most if t is None else min(t, most) for t in timeout)
    if timeout is None or isinstance(timeout, (int, float)):
        return most if timeout is None else min(timeout, most)
    return timeout  # (a urllib3 Timeout: the watchdog still bounds it)


@contextmanager
def refresh_deadline(session: requests.Session, url: str, seconds: float) -> Iterator[None]:
    """Bound everything ``session`` sends to ``url`` within the block to ``seconds`` in all (a
    session not built by :func:`build_session` is left as it is)."""
    adapter = polite_adapter(session, url)
    if adapter is None or adapter.deadline.at is not None:  # (an outer refresh already set one)
        yield
        return
    adapter.deadline.seconds, adapter.deadline.at = seconds, time.monotonic() + seconds
    try:
        yield
    finally:
        adapter.deadline.at = None


def _port(parts: Any) -> int | None:
    try:
        return parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:  # a port that is not a number
        return None


def same_host(origin: str, target: str) -> bool:
    """``target`` is on ``origin``'s host: same host name, and same scheme and port, or the
    upgrade of ``http://host`` to ``https://host`` on port 443."""
    a, b = urlsplit(origin), urlsplit(target)
    if not a.hostname or (a.hostname or "").lower() != (b.hostname or "").lower():
        return False
    if a.scheme == b.scheme:
        return _port(a) == _port(b)
    return (a.scheme, b.scheme) == ("http", "https") and _port(b) == 443


class ApiSession(CachedSession):
    """The CachedSession TrialFinder uses: it follows a redirect only on the host that sent it, and at
    most ``MAX_REDIRECTS`` in a row."""

    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        self.max_redirects = MAX_REDIRECTS  # (requests sets 30 on the instance)

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is not None and not same_host(resp.url, urljoin(resp.url, target)):
            where = urlsplit(urljoin(resp.url, target)).netloc or "?"
            raise InvalidResponse(
                f"ClinicalTrials.gov at {urlsplit(resp.url).netloc} redirected to another host "
                f"({one_line(where)[:80]}); refused: only the configured API host is contacted — "
                "check the API URL (--api-url / TRIALFINDER_API_URL); the last data set is kept",
                url=resp.url,
            )
        return target


def make_retry(settings: Settings, limiter: RateLimiter | None, deadline: Deadline | None = None) -> BoundedRetry:
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
        deadline=deadline,
    )


def build_session(settings: Settings) -> CachedSession:
    """A CachedSession (SQLite in ``settings.cache_dir``, or the shared Redis of ``settings.cache_url``)
    with retries, rate limit, User-Agent.

    A damaged cache database is moved aside (``http_cache.sqlite.corrupt-<time>``) and a new one
    started; :func:`notes` says so. The cache only speeds things up: nothing is lost.
    """
    if settings.cache_url:
        return _shared_session(settings)
    private_dir(settings.cache_dir)
    note = None
    path = settings.http_cache_path
    if os.path.lexists(path) and not path.is_file():  # a FIFO would hang SQLite, a device never end
        moved = set_aside_cache(settings)
        note = f"the HTTP cache {path} was not a regular file; moved aside to {moved} and started afresh"
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


def _shared_session(settings: Settings) -> CachedSession:
    """The session on the shared Redis cache (:mod:`.sharedcache`); when Redis cannot be used, one on a
    cache that lives only in this process, with one warning line in :func:`notes`."""
    from .sharedcache import redis_cache

    warnings: list[str] = []
    backend = redis_cache(settings, warnings)
    session = ApiSession(
        backend=backend if backend is not None else "memory",
        **_CACHE_POLICY,
        expire_after=settings.cache_expire_seconds,
    )
    adapter = _equip(session, settings)
    adapter.notes = warnings  # (the same list: Redis lost during a refresh adds its line there)
    return session


#: how answers are cached, whichever the backend
_CACHE_POLICY: dict[str, Any] = {
    "stale_if_error": True,
    "allowable_codes": (200,),
    "allowable_methods": ("GET",),
    "match_headers": False,
}


def _cached_session(settings: Settings) -> CachedSession:
    session = ApiSession(
        cache_name=str(settings.http_cache_path),
        backend="sqlite",
        expire_after=settings.cache_expire_seconds,
        **_CACHE_POLICY,
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
    limiter, deadline = RateLimiter(settings.max_requests_per_minute), Deadline()
    adapter = PoliteAdapter(limiter, deadline, settings.max_response_bytes,
                            max_retries=make_retry(settings, limiter, deadline))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = settings.user_agent
    session.headers["Accept"] = "application/json"
    if settings.api_credentials:  # from user:password@ in the API URL: a header, never in a URL we keep
        session.auth = settings.api_credentials
    return adapter
