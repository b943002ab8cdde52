"""How a running app notices a new data set written by another process (a scheduled ``trialfinder fetch``,
another replica), cheaply.

The app keys its caches on the data set's version. Asking the store for it on every rerun of every
session would cost a stat (or, on a database, a query) per click; :func:`current_version` asks it at
most once every ``settings.version_check`` seconds (30 by default, at most 60) per process, for all
sessions of that process together. So a replica shows a new data set within that time, and a refresh
made in this process is seen at once (:func:`forget`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

from ..errors import TrialFinderError
from .database import open_store
from .settings import Settings


def dataset_version(settings: Settings) -> Hashable:
    """The store's version of the current data set: it changes whenever a new one is saved (None: none yet)."""
    return open_store(settings).version()


class VersionWatch:
    """A value from ``ask``, asked again only when ``ttl`` seconds have passed since it was last asked
    (thread-safe: one ask at a time, the others wait for its answer). When asking fails (the database
    is down) after a first answer, the last answer stands until the next period (``error`` says why):
    the app keeps showing the data set it has rather than failing every page."""

    def __init__(self, ask: Callable[[], Hashable], ttl: float, clock: Callable[[], float] = time.monotonic):
        self.ask, self.ttl, self.clock = ask, ttl, clock
        self._lock = threading.Lock()
        self._value: Hashable = None
        self._asked_at: float | None = None
        self.error: TrialFinderError | None = None

    def get(self) -> Hashable:
        with self._lock:
            now = self.clock()
            if self._asked_at is None or now - self._asked_at >= self.ttl:
                try:
                    self._value, self.error = self.ask(), None
                except TrialFinderError as exc:
                    if self._asked_at is None:  # (no answer yet: nothing to stand in)
                        raise
                    self.error = exc
                self._asked_at = self.clock()
            return self._value

    def forget(self) -> None:
        """The next :meth:`get` asks again."""
        with self._lock:
            self._asked_at = None


_WATCHES: dict[tuple[str, float], VersionWatch] = {}
_WATCHES_LOCK = threading.Lock()


def _watch(settings: Settings) -> VersionWatch:
    key = (str(settings.dataset_dir), settings.version_check)
    with _WATCHES_LOCK:
        watch = _WATCHES.get(key)
        if watch is None:
            watch = _WATCHES[key] = VersionWatch(lambda: dataset_version(settings), settings.version_check)
        return watch


def current_version(settings: Settings) -> Hashable:
    """The data set's version as this process last saw it, at most ``settings.version_check`` seconds old."""
    return _watch(settings).get()


def forget(settings: Settings) -> None:
    """This process saved a new data set: the next :func:`current_version` asks the store."""
    _watch(settings).forget()
