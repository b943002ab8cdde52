"""Where the data comes from: refresh from the API, or the last data set, or the bundled snapshot.

``load_dataset`` never touches the network. ``refresh_dataset`` downloads a complete data set
and only then replaces the stored one; any failure leaves the stored one as it was. A download
with under half the studies stored for the same query is refused unless the user accepts it
(``accept_smaller``, ``trialfinder fetch --accept-smaller``). The warnings of a download are
returned with it, never stored: they are not repeated by every later command.
"""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ApiUnreachable, DataError, StoreUnavailable, TrialFinderError
from .settings import Settings
from .store import Dataset, DatasetMeta, DataStore, load_snapshot

if TYPE_CHECKING:  # (imported where used: loading the data set offline needs no HTTP stack, and a new
    # machine's first search no SQLAlchemy, see open_reader)
    import requests

    from .client import FetchResult, Progress
    from .database import DbStore
    from .query import SearchQuery


class NoDataSetYet:
    """The embedded default store before its first save, as a reader sees it: no data set, no version."""

    def version(self) -> None:
        return None

    def load_meta(self, which: str = "current") -> None:
        return None

    def load(self, which: str = "current") -> None:
        return None

    def set_aside(self, which: str = "current") -> None:
        return None


def open_reader(settings: Settings) -> DbStore | NoDataSetYet:
    """The store a reader reads. The embedded default before its first save — no SQLite file, or an empty
    one, which reads as no data set yet (see :mod:`.database`), and no files of an earlier version to
    migrate — is answered without opening it: no SQLAlchemy import, so a new machine's first search
    stays light. Anything else is :func:`.database.open_store`'s."""
    path = settings.sqlite_file
    legacy = DataStore(settings.dataset_dir)
    if path is not None and _empty(path) and not any(map(_exists, (legacy.current, legacy.previous))):
        return NoDataSetYet()
    from .database import open_store

    return open_store(settings)


def _empty(path: Path) -> bool:
    """No file there, or an empty regular one (anything else — a link, a FIFO, a folder, an unreadable
    path — is for the store to open and judge)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_size == 0


def _exists(path: Path) -> bool:
    return path.is_symlink() or path.exists()


def load_dataset(settings: Settings) -> Dataset:
    """The last complete download, else the bundled snapshot. A damaged data set is set aside
    (the reason is in ``meta.warnings``) and the next best one is used. A database that cannot be
    used now (StoreUnavailable) is an error: nothing there is damaged, and an old snapshot is no stand-in."""
    store = open_reader(settings)
    warnings: list[str] = []
    for which in ("current", "previous"):
        try:
            dataset = store.load(which)
        except StoreUnavailable:
            raise
        except DataError as exc:
            try:
                moved = store.set_aside(which)
                where = (f"moved aside to {moved}" if isinstance(moved, Path) else f"set aside: {moved}") \
                    if moved else "it could not be found to move aside"
            except OSError as move_error:
                where = f"it could not be moved aside ({move_error.strerror})"
            except TrialFinderError as move_error:
                where = f"it could not be set aside ({move_error})"
            warnings.append(f"{exc}; {where}. Run `trialfinder fetch` to rebuild it.")
            continue
        if dataset is not None:
            dataset.meta.source = "cache"
            dataset.meta.warnings = warnings + list(dataset.meta.warnings or [])
            return dataset
    dataset = load_snapshot(settings.snapshot_dir)
    dataset.meta.warnings = warnings
    return dataset


def _fresh_cache(session: requests.Session, settings: Settings, exc: Exception) -> requests.Session:
    """Close ``session``, move its damaged cache database aside, and build a new session."""
    from .session import build_session, notes, set_aside_cache

    session.close()
    moved = set_aside_cache(settings)
    fresh = build_session(settings)
    notes(fresh, settings.api_base).insert(
        0, f"the HTTP cache was damaged ({exc}); moved aside to {moved} and started afresh")
    return fresh


def refresh_dataset(
    settings: Settings,
    query: SearchQuery | None = None,
    *,
    session: requests.Session | None = None,
    refresh: bool = False,
    progress: Progress | None = None,
    record_dir: Path | None = None,
    accept_smaller: bool = False,
) -> tuple[Dataset, FetchResult]:
    """Download ``query`` (default: R/R AML, actionable statuses) and make it the current data set.

    Raises InvalidResponse if the download has under half the studies stored for the same query,
    unless ``accept_smaller``."""
    if settings.offline:
        raise ApiUnreachable("offline mode is on (TRIALFINDER_OFFLINE); unset it to download new data")
    from .query import SearchQuery

    if session is None:
        from .session import build_session

        session = build_session(settings)
    from .database import open_store

    query = query or SearchQuery()
    store = open_store(settings)
    with store.lock():  # one refresher at a time, from the stored count it compares with to its save
        return _refresh_locked(settings, store, query, session, refresh=refresh, progress=progress,
                               record_dir=record_dir, accept_smaller=accept_smaller)


def _refresh_locked(settings: Settings, store: DbStore, query: SearchQuery, session: requests.Session, *,
                    refresh: bool, progress: Progress | None, record_dir: Path | None,
                    accept_smaller: bool) -> tuple[Dataset, FetchResult]:
    from .client import CtGovClient
    from .session import notes

    stored = None if accept_smaller else store.load_meta("current")
    stored_count = stored.count if stored is not None and stored.query == query.describe() else None

    def fetch(with_session: requests.Session) -> FetchResult:
        client = CtGovClient(with_session, settings)
        return client.fetch_all(query, refresh=refresh, progress=progress, record_dir=record_dir,
                                stored_count=stored_count)

    try:
        result = fetch(session)
    except sqlite3.OperationalError as exc:  # busy or locked: the cache file itself is fine
        raise DataError(f"the HTTP cache {settings.http_cache_path} is busy ({exc}); try again") from exc
    except sqlite3.DatabaseError as exc:  # damage the open-time check did not see: start a new cache
        session = _fresh_cache(session, settings, exc)
        result = fetch(session)
    result.warnings[:0] = notes(session, settings.api_base)
    meta = DatasetMeta(
        source="cache" if result.from_cache else "live",
        data_timestamp=result.data_timestamp,
        fetched_at=result.fetched_at,
        query=query.describe(),
        api_url=settings.api_base,  # never the credentials
        warnings=list(result.warnings),  # this download's: shown now, not stored (see DbStore.save)
    )
    dataset = Dataset(studies=result.studies, meta=meta)
    store.save(dataset)
    return dataset, result
