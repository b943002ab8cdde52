"""The shared HTTP cache: requests-cache's Redis backend, when ``TRIALFINDER_CACHE_URL=redis://…``.

Every app replica and every refresher on one Redis share one HTTP cache, instead of each keeping
its own SQLite file. The cache only saves requests, so Redis going away must never cost a refresh:

* **unreachable when the session is built** (refused, a wrong host, a time-out, a wrong password):
  :func:`redis_cache` returns None with one warning line, and the caller uses a cache that lives
  only in the process (the refresh runs uncached);
* **lost during a refresh**: :class:`TolerantRedisCache` turns the first Redis error into one warning
  line, then answers "not cached" and stores nothing for the rest of the session.

Expiry: an answer is fresh for ``settings.cache_expire_seconds``, as with SQLite; Redis deletes it
``STALE_KEEP`` seconds after that (native TTL), so that stale-if-error still has a copy to serve
in between (requests-cache's docs: reusing expired answers needs a longer TTL, ``ttl_offset``).
Keys live under the namespace ``trialfinder:http`` (``NAMESPACE``), so a Redis shared with other
programs is not disturbed. A password in the URL is never printed.
"""

from __future__ import annotations

import logging
from typing import Any

from requests_cache import CachedResponse
from requests_cache.backends.redis import RedisCache

from ..sanitize import one_line
from .settings import ENV, Settings, without_credentials

#: the key prefix of every cached answer (``trialfinder:http:<key>``, redirects in ``trialfinder:http-redirects``)
NAMESPACE = "trialfinder:http"
#: how long Redis keeps an answer after it went stale (for stale-if-error): a week
STALE_KEEP = 7 * 24 * 3600
#: seconds to open a connection to Redis, and to wait for one answer: a Redis that is down or
#: unreachable costs a refresh at most this once, then the session stops asking it
CONNECT_TIMEOUT = 2.0
SOCKET_TIMEOUT = 5.0

logger = logging.getLogger(__name__)


def cache_label(settings: Settings) -> str:
    """Where the HTTP cache is, for messages: ``redis://host:port/0`` (no password) or the SQLite path."""
    if settings.cache_url:
        return without_credentials(settings.cache_url)
    return str(settings.http_cache_path)


def _unreachable(settings: Settings, exc: BaseException) -> str:
    reason = one_line(str(exc))[:160] or type(exc).__name__
    return (f"the shared HTTP cache {cache_label(settings)} ({ENV['cache_url']}) cannot be used ({reason}); "
            "this refresh runs uncached — check that Redis is running")


class TolerantRedisCache(RedisCache):
    """RedisCache whose every operation survives Redis going away: the first error becomes one line
    in ``notes`` and the cache is switched off (a miss on read, nothing stored) for the session's life."""

    def __init__(self, settings: Settings, notes: list[str], **kw: Any):
        super().__init__(namespace=NAMESPACE, ttl=True, ttl_offset=STALE_KEEP, **kw)
        self.settings = settings
        self.notes = notes
        self.down = False

    def _lost(self, exc: BaseException) -> None:
        if not self.down:
            self.down = True
            self.notes.append(_unreachable(self.settings, exc))

    def get_response(self, key: str, default: Any = None) -> CachedResponse | None:
        if self.down:
            return default
        try:
            return super().get_response(key, default)
        except _redis_errors() as exc:
            self._lost(exc)
            return default

    def save_response(self, response: Any, cache_key: str | None = None, expires: Any = None) -> None:
        if self.down:
            return
        try:
            super().save_response(response, cache_key, expires)
        except _redis_errors() as exc:
            self._lost(exc)

    def delete(self, *keys: str, **kw: Any) -> None:
        if self.down:
            return
        try:
            super().delete(*keys, **kw)
        except _redis_errors() as exc:
            self._lost(exc)

    def close(self) -> None:
        try:
            super().close()
        except _redis_errors():
            pass


def _redis_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import RedisError

    return (RedisError, OSError)


def redis_cache(settings: Settings, notes: list[str]) -> TolerantRedisCache | None:
    """The Redis backend for ``settings.cache_url``, checked with one PING; None (and one line in
    ``notes``) when Redis cannot be used now."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    url = settings.cache_url or ""
    try:  # no retries of its own: a Redis that is down costs one connection attempt, then none
        connection = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT,
                                          socket_timeout=SOCKET_TIMEOUT, retry=Retry(NoBackoff(), 0))
    except (ValueError, redis.exceptions.RedisError) as exc:  # e.g. a port that is not a number
        notes.append(_unreachable(settings, exc))
        return None
    try:
        connection.ping()
    except _redis_errors() as exc:
        connection.close()
        notes.append(_unreachable(settings, exc))
        return None
    return TolerantRedisCache(settings, notes, connection=connection)
