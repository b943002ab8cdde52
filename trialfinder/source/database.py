"""The data sets in a database (SQLAlchemy Core): an SQLite file in the cache folder by default,
PostgreSQL when many app replicas share one store (``TRIALFINDER_DATABASE_URL=postgresql://…``).

:class:`DbStore` has the interface the file store of earlier versions had (``version``, ``lock``,
``save``, ``load_meta``, ``load``, ``set_aside``); :func:`open_store` gives the one the settings name.

- **Whole or not at all.** ``save`` writes the new set and switches the one-row pointer in ONE
  transaction; the set before it stays as "previous" (for "what changed") and older ones are deleted
  in the same transaction. A reader reads the pointer and the rows it names in one transaction (one
  snapshot: REPEATABLE READ on PostgreSQL, a WAL read transaction on SQLite), so it sees the old set or
  the new one, never a part. A writer killed, a server killed or a connection dropped mid-save: the
  transaction never commits, and the last good set is what is stored.
- **Checked when read.** Each study row carries the SHA-256 of its JSON text, and the set the SHA-256 of
  ``"[" + ",".join(records) + "]"`` (the bytes the file store wrote, so the checksum is the same).
- **One refresher at a time.** ``lock`` is held by a refresh around its download and save. PostgreSQL:
  a session-level ``pg_advisory_lock`` on a connection of its own (released by the server if the
  refresher dies). SQLite: ``flock`` on ``<database>.lock`` (released by the kernel if it dies); not a
  ``BEGIN IMMEDIATE``, which would hold SQLite's write lock through a 10-minute download and keep every
  other writer (a damaged set being set aside) waiting. A refresher waits at most ``wait`` seconds.
- **Errors.** A database that cannot be reached or opened, a read-only role or file, a dropped
  connection: :class:`~trialfinder.errors.StoreUnavailable`, one line saying what to do. An SQLite
  file that is not a database, or a set failing its checksums: :class:`~trialfinder.errors.DataError`
  (the caller sets it aside: the file is moved, a set is marked damaged and dropped from the pointer).
- **Built tables.** ``save_built`` stores the rows of the tables built from a stored data set (made
  by :mod:`trialfinder.find.tablerows`) in one transaction, unless they are there already;
  ``load_built`` reads the current set's description and its built rows in one read transaction. They
  are deleted with their data set, in the transaction that drops it (see :mod:`.schema`).
- **Reads create nothing.** A missing SQLite file or missing tables read as "no data set yet", so
  a read-only role (or a read-only cache folder) can read; the tables are created by the first save.
  So does an SQLite file of 0 bytes (``touch``, a copy that crashed, or a first save killed between
  creating the file and writing it — this module's own first step): it holds nothing to keep, so it
  is not set aside (which could also move a first save's file from under it); the next save fills it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from sqlalchemy import Connection, Engine, create_engine, delete, event, func, insert, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from ..errors import DataError, InvalidInput, StoreUnavailable
from .files import gc_paused, private_dir, set_aside
from .normalize import share_site_texts
from .schema import DERIVED, META_FIELDS, built, datasets, metadata, pointer, studies
from .settings import ENV, Settings, without_credentials
from .store import Dataset, DatasetMeta, DataStore

#: pg_advisory_lock keys: one refresher at a time; one creator of the tables at a time
LOCK_KEY = 0x5472_6961_6C46  # "TrialF"
SCHEMA_KEY = LOCK_KEY + 1
#: how long an SQLite statement waits for another connection's write lock (PRAGMA busy_timeout)
BUSY_MS = 30_000
MISSING_TABLE = ("no such table", "does not exist")
#: studies read and parsed at a time by a load (a few MB of record text)
LOAD_BATCH = 500
T = TypeVar("T")


def open_store(settings: Settings) -> DbStore:
    """The store ``settings.database`` names. Data sets kept as files by earlier versions
    (``<cache>/dataset/current.json``, ``previous.json``) are copied in once, then that folder is
    renamed ``dataset.migrated-<time>``."""
    store = DbStore(settings.database, wait=settings.refresh_deadline)
    legacy = DataStore(settings.dataset_dir)
    if os.path.lexists(legacy.current) or os.path.lexists(legacy.previous):
        store.migrate(legacy)
    return store


def _url(text: str) -> URL:
    shown = without_credentials(text)
    try:
        url = make_url(text)
    except sa_exc.ArgumentError:
        url = None
    if url is None or url.get_backend_name() not in ("sqlite", "postgresql"):
        raise InvalidInput(f"{ENV['database_url']}={shown!r} is not a usable database URL; give "
                           "postgresql://user@host:port/database, or sqlite:///path/to/file.sqlite")
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")  # (psycopg 3, not SQLAlchemy's default psycopg2)
    return url


#: one engine (and its connection pool) per database, the least recently used disposed beyond ``KEEP``
_ENGINES: OrderedDict[URL, Engine] = OrderedDict()
_ENGINES_LOCK = threading.Lock()
KEEP = 4


def _engine(url: URL) -> Engine:
    with _ENGINES_LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = _ENGINES[url] = _new_engine(url)
            while len(_ENGINES) > KEEP:
                _ENGINES.popitem(last=False)[1].dispose()
        _ENGINES.move_to_end(url)
        return engine


def _new_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        # a connection per use (NullPool): nothing stays open, a damaged file can be moved aside
        engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": BUSY_MS / 1000})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_size=2, max_overflow=4, pool_pre_ping=True, pool_recycle=3600,
                         connect_args={"connect_timeout": 10, "application_name": "trialfinder"})


def _sqlite_connect(dbapi: Any, record: Any) -> None:
    dbapi.isolation_level = None  # BEGIN is sent by _sqlite_begin (pysqlite would not begin before a SELECT)
    cursor = dbapi.cursor()
    for pragma in (f"busy_timeout = {BUSY_MS}", "journal_mode = WAL", "synchronous = FULL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # a writer takes the write lock at once: two savers queue instead of failing half-way
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("writer") else "BEGIN")


def _dumps(study: Any) -> str:
    return json.dumps(study, ensure_ascii=False, separators=(",", ":"))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _nct(study: Any) -> str | None:
    try:
        value = study["protocolSection"]["identificationModule"]["nctId"]
    except (KeyError, TypeError):
        return None
    return value[:40] if isinstance(value, str) else None


@dataclass
class Built:
    """The rows of the tables built from a stored data set, as read (see :mod:`.schema`)."""

    dataset_id: int
    meta: DatasetMeta
    layout: str
    sha256: str
    #: table name -> its rows (every column after ``dataset_id`` and ``built_by``, in the schema's
    #: order), in key order
    rows: dict[str, list[tuple[Any, ...]]]


def built_columns(table: Any) -> list[Any]:
    """The columns of a table of built rows that hold its values (all but dataset_id and built_by)."""
    return [c for c in table.columns if c.name not in ("dataset_id", "built_by")]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class DbStore:
    """The data sets in the database at ``url`` (see the module's docstring)."""

    def __init__(self, url: str, *, wait: float = 600.0):
        self.url = _url(url)
        #: the URL as messages show it: no user, password or query parameters
        self.where = URL.create(make_url(url).drivername, host=self.url.host, port=self.url.port,
                                database=self.url.database).render_as_string()
        self.wait = wait
        database = self.url.database if self.url.get_backend_name() == "sqlite" else None
        self.path = Path(database) if database and database != ":memory:" else None
        self._file_damaged = False

    @property
    def postgres(self) -> bool:
        return self.url.get_backend_name() == "postgresql"

    # --- the interface ---------------------------------------------------------------------------

    def version(self) -> int | None:
        """The current data set's id: it changes whenever the set is replaced (None: none stored yet).
        One indexed read; cheap enough to poll."""
        try:
            return self._read("reading the data-set version", lambda conn: conn.execute(
                select(pointer.c.current_id).where(pointer.c.id == 1)).scalar())
        except StoreUnavailable:
            raise
        except DataError:
            return None

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Held by a refresh around its download and save: two refreshers never race."""
        if self.postgres:
            with self._advisory_lock():
                yield
        elif self.path is not None:
            with self._file_lock(Path(f"{self.path}.lock")):
                yield
        else:
            yield

    def save(self, dataset: Dataset) -> DatasetMeta:
        """Store ``dataset`` and make it current, in one transaction; the current one becomes the previous."""
        texts = [_dumps(study) for study in dataset.studies]
        meta = dataset.meta
        meta.sha256 = _sha("[" + ",".join(texts) + "]")
        meta.count = len(texts)
        rows = [{"position": i, "nct_id": _nct(study), "record": text, "sha256": _sha(text)}
                for i, (study, text) in enumerate(zip(dataset.studies, texts, strict=True))]
        with self._writing("saving the data set") as conn:
            dataset.stored_id = self._switch(conn, meta, rows)
        return meta

    def load_meta(self, which: str = "current") -> DatasetMeta | None:
        """Only the meta of a stored data set (one row); None when there is none or it is unreadable."""
        try:
            row = self._read("reading the data set's description", lambda conn: self._row(conn, which))
        except StoreUnavailable:
            raise
        except DataError:
            return None
        return None if row is None else _meta(row)

    def load(self, which: str = "current") -> Dataset | None:
        """The stored data set, or None when there is none. Raises DataError if it is damaged."""
        def read(conn: Connection) -> tuple[Any, list[Any]] | None:
            row = self._row(conn, which)
            if row is None:
                return None
            # (read and parsed a batch at a time in the same transaction: the records' text is never all
            # held at once beside the parsed studies — at 50,000 studies that was the peak of a load)
            result = conn.execution_options(yield_per=LOAD_BATCH).execute(
                select(studies.c.position, studies.c.record, studies.c.sha256)
                .where(studies.c.dataset_id == row.id).order_by(studies.c.position))
            return row, self._parsed(row, result.partitions())

        found = self._read("reading the data set", read)
        if found is None:
            return None
        row, parsed = found
        return Dataset(studies=parsed, meta=_meta(row), stored_id=row.id)

    def save_built(self, dataset_id: int, built_by: str, layout: str, sha256: str,
                   rows: dict[str, list[dict[str, Any]]], *, replace: bool = False) -> bool:
        """Store the rows of the tables ``built_by`` built from the stored data set ``dataset_id``, in one
        transaction. False (nothing written) when that set is gone or damaged, or its tables built by
        ``built_by`` are stored already (unless ``replace``: they were found damaged)."""
        with self._writing("saving the built tables") as conn:
            # (two savers of one set: the second waits for the first, then sees its rows)
            found = conn.execute(select(datasets.c.id).where(datasets.c.id == dataset_id,
                                                             datasets.c.damaged_at.is_(None)).with_for_update()).first()
            if found is None:
                return False
            key = {"dataset_id": dataset_id, "built_by": built_by}
            there = conn.execute(select(built.c.sha256).where(built.c.dataset_id == dataset_id,
                                                              built.c.built_by == built_by)).first()
            if there is not None and not replace:
                return False
            for table in (*reversed(DERIVED), built):
                conn.execute(delete(table).where(table.c.dataset_id == dataset_id, table.c.built_by == built_by))
            conn.execute(insert(built).values(**key, created_at=_now(), layout=layout, sha256=sha256))
            for table in DERIVED:
                if rows.get(table.name):
                    conn.execute(insert(table), [{**row, **key} for row in rows[table.name]])
        return True

    def load_built(self, built_by: str, which: str = "current") -> Built | None:
        """The current (or previous) data set's description and the rows of its tables built by
        ``built_by``, read in one transaction; None when there is no such set or no such tables."""
        def read(conn: Connection) -> Built | None:
            row = self._row(conn, which)
            head = None if row is None else conn.execute(
                select(built.c.layout, built.c.sha256).where(built.c.dataset_id == row.id,
                                                             built.c.built_by == built_by)).first()
            if head is None:
                return None
            rows = {table.name: [tuple(r) for r in conn.execute(
                select(*built_columns(table)).where(table.c.dataset_id == row.id, table.c.built_by == built_by)
                .order_by(*table.primary_key.columns))] for table in DERIVED}
            return Built(int(row.id), _meta(row), head.layout, head.sha256, rows)

        return self._read("reading the built tables", read)

    def set_aside(self, which: str = "current") -> Path | str | None:
        """Put a damaged data set out of the way: an SQLite file that is not a database is moved to
        ``<name>.corrupt-<time>``; a set that failed its checks is marked damaged and dropped from the
        pointer (its rows are kept until the next save). Says where it went; None: nothing to move."""
        if self._file_damaged and self.path is not None:
            self._file_damaged = False
            return set_aside(self.path, companions=("-wal", "-shm"))
        column = "current_id" if which == "current" else "previous_id"
        with self._writing("setting a damaged data set aside") as conn:
            found = conn.execute(select(pointer.c[column]).where(pointer.c.id == 1).with_for_update()).scalar()
            if found is None:
                return None
            conn.execute(update(datasets).where(datasets.c.id == found).values(damaged_at=_now()))
            conn.execute(update(pointer).where(pointer.c.id == 1).values({column: None}))
        return f"data set {found} in {self.where}, marked damaged (kept until the next refresh)"

    def migrate(self, legacy: DataStore) -> None:
        """Copy the data-set files of earlier versions in (previous, then current), unless this store
        already holds a set; then rename their folder so it is not read again. Damaged files are skipped."""
        try:
            with self.lock():
                if self.load_meta("current") is None and self.load_meta("previous") is None:
                    for which in ("previous", "current"):
                        try:
                            found = legacy.load(which)
                        except DataError:
                            continue
                        if found is not None:
                            self.save(found)
                os.replace(legacy.dir, legacy.dir.with_name(f"dataset.migrated-{datetime.now():%Y%m%dT%H%M%S%f}"))
        except (OSError, DataError):
            pass  # (tried again next time; until then the database serves what it has)

    # --- reading and writing ---------------------------------------------------------------------

    def _row(self, conn: Connection, which: str) -> Any:
        column = pointer.c.current_id if which == "current" else pointer.c.previous_id
        return conn.execute(select(datasets).join(pointer, datasets.c.id == column)
                            .where(pointer.c.id == 1)).first()

    def _parsed(self, row: Any, batches: Iterable[Sequence[Any]]) -> list[Any]:
        """The studies of data set ``row``, each record checked against its checksum and the whole against
        the set's (``_sha`` of ``[`` + the records joined by ``,`` + ``]``, hashed as it streams)."""
        name = f"data set {row.id} in {self.where}"
        whole = hashlib.sha256(b"[")
        parsed: list[Any] = []
        count = 0
        unparsable: str | None = None  # (said only once the checksums hold, as when all was parsed at once)
        seen: dict[str, str] = {}
        with gc_paused():
            for batch in batches:
                for k, record in enumerate(batch, start=count):
                    data = record.record.encode("utf-8", "surrogatepass")
                    if record.position != k:
                        raise DataError(f"the {name} is damaged (wrong study count)")
                    if hashlib.sha256(data).hexdigest() != record.sha256:
                        raise DataError(f"the {name} is damaged (checksum mismatch in study {k + 1})")
                    whole.update(b"," + data if k else data)
                count += len(batch)
                if unparsable is None:
                    unparsable = self._parse(batch, parsed, seen)
        whole.update(b"]")
        if count != row.count:
            raise DataError(f"the {name} is damaged (wrong study count)")
        if whole.hexdigest() != row.sha256:
            raise DataError(f"the {name} is damaged (checksum mismatch)")
        if unparsable is not None:
            raise DataError(f"the {name} is damaged ({unparsable})")
        return parsed

    @staticmethod
    def _parse(batch: Sequence[Any], parsed: list[Any], seen: dict[str, str]) -> str | None:
        """Parse one batch of study rows onto ``parsed`` (one parse a batch: key strings shared by its
        records, as in one parse of all); what is wrong with it, or None."""
        try:
            chunk = json.loads("[" + ",".join(record.record for record in batch) + "]")
        except (ValueError, RecursionError):
            return "bad JSON"
        if not isinstance(chunk, list) or len(chunk) != len(batch):
            return "wrong study count"
        share_site_texts(chunk, seen)  # (a batch at a time: the next batch reuses what it frees)
        parsed += chunk
        return None

    def _switch(self, conn: Connection, meta: DatasetMeta, rows: list[dict[str, Any]]) -> int:
        # the pointer row is locked first (FOR UPDATE; SQLite's BEGIN IMMEDIATE already serialises)
        found = conn.execute(select(pointer.c.current_id, pointer.c.previous_id)
                             .where(pointer.c.id == 1).with_for_update()).first()
        current, previous = (found.current_id, found.previous_id) if found is not None else (None, None)
        values = {name: getattr(meta, name) or ("" if name in ("query", "api_url", "note") else None)
                  for name in META_FIELDS}
        values.update(source=meta.source or "live", count=meta.count, sha256=meta.sha256)
        new_id = conn.execute(insert(datasets).values(**values, created_at=_now())
                              .returning(datasets.c.id)).scalar_one()
        if rows:
            conn.execute(insert(studies), [{**row, "dataset_id": new_id} for row in rows])
        keep_previous = current if current is not None else previous  # (a current set aside as damaged)
        ids = {"current_id": new_id, "previous_id": keep_previous}
        if found is None:
            conn.execute(insert(pointer).values(id=1, **ids))
        else:
            conn.execute(update(pointer).where(pointer.c.id == 1).values(**ids))
        keep = [i for i in (new_id, keep_previous) if i is not None]
        for table in (*reversed(DERIVED), built):  # (the tables built from the sets dropped go with them)
            conn.execute(delete(table).where(table.c.dataset_id.not_in(keep)))
        conn.execute(delete(studies).where(studies.c.dataset_id.not_in(keep)))
        conn.execute(delete(datasets).where(datasets.c.id.not_in(keep)))
        return int(new_id)

    def _read(self, doing: str, work: Callable[[Connection], T]) -> T | None:
        """``work`` in one read transaction (one snapshot); None when there is no database file or no
        tables yet (nothing stored)."""
        if self.path is not None and not self._usable_file(create=False):
            return None
        with self._translated(doing):
            try:
                with _engine(self.url).connect() as conn:
                    if self.postgres:
                        conn = conn.execution_options(isolation_level="REPEATABLE READ")
                    with conn.begin():
                        return work(conn)
            except sa_exc.DBAPIError as exc:
                if not any(text in str(exc.orig) for text in MISSING_TABLE):
                    raise
                return None

    @contextmanager
    def _writing(self, doing: str) -> Iterator[Connection]:
        """One write transaction, the tables created first if they are missing."""
        if self.path is not None:
            self._usable_file(create=True)
        with self._translated(doing), _engine(self.url).connect() as conn:
            conn = conn.execution_options(writer=True)
            with conn.begin():
                if self.postgres:  # (two first saves at once: one creates the tables, the other waits)
                    conn.execute(select(func.pg_advisory_xact_lock(SCHEMA_KEY)))
                metadata.create_all(conn)
                yield conn

    def _usable_file(self, create: bool) -> bool:
        """Whether the SQLite file exists (created, private, when ``create``); DataError if something
        other than a regular file is in its place (a FIFO would hang SQLite, a device never end)."""
        assert self.path is not None
        try:
            info = self.path.stat()
        except (FileNotFoundError, NotADirectoryError):
            if not create:
                return False
            try:
                private_dir(self.path.parent)
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600))
            except OSError as exc:
                raise self._unopenable(exc.strerror) from exc
            return True
        except OSError as exc:
            raise self._unopenable(exc.strerror) from exc
        if not stat.S_ISREG(info.st_mode):
            self._file_damaged = True
            raise DataError(f"cannot read the data-set database: {self.path} is not a regular file")
        return True

    @contextmanager
    def _translated(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sa_exc.DBAPIError as exc:
            raise self._error(exc, doing) from exc
        except sa_exc.SQLAlchemyError as exc:
            raise StoreUnavailable(f"the database {self.where} failed while {doing} ({_first_line(exc)}); "
                                   "try again (the last data set is kept)") from exc

    def _error(self, exc: sa_exc.DBAPIError, doing: str) -> DataError:
        text = _first_line(exc.orig)
        state = str(getattr(exc.orig, "sqlstate", "") or "")
        kept = "the last data set is kept"
        if isinstance(exc.orig, sqlite3.DatabaseError) and not isinstance(exc.orig, sqlite3.OperationalError):
            self._file_damaged = True  # not a database, or malformed
            return DataError(f"the data-set database {self.where} is damaged ({text})")
        if "readonly" in text or state in ("42501", "25006"):
            return StoreUnavailable(f"the database {self.where} refused {doing} ({text}): it is read-only for this "
                                    f"role; check {ENV['database_url']}: a refresh needs a role with write access "
                                    f"({kept})")
        if "locked" in text or state in ("40001", "40P01", "55P03"):
            return StoreUnavailable(f"the database {self.where} is busy ({text}); try again ({kept})")
        if exc.connection_invalidated or state.startswith("57P"):
            return StoreUnavailable(f"lost the connection to the database {self.where} while {doing} ({text}); "
                                    f"nothing was half-written — try again ({kept})")
        if self.path is not None:
            return self._unopenable(text)
        return StoreUnavailable(f"cannot use the database {self.where} ({text}); check {ENV['database_url']} and "
                                f"that the server is running, then try again ({kept})")

    def _unopenable(self, reason: str | None) -> StoreUnavailable:
        return StoreUnavailable(f"cannot open the data-set database {self.path} ({reason}); check that its folder "
                                f"exists and is writable, or set {ENV['database_url']} (the last data set is kept)")

    # --- locks -----------------------------------------------------------------------------------

    @contextmanager
    def _advisory_lock(self) -> Iterator[None]:
        with self._translated("waiting for the refresh lock"):
            conn = _engine(self.url).connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            with self._translated("waiting for the refresh lock"):
                conn.exec_driver_sql(f"SET lock_timeout = {max(1, int(self.wait * 1000))}")
                conn.execute(select(func.pg_advisory_lock(LOCK_KEY)))
        except StoreUnavailable as exc:
            conn.close()
            if "busy" in str(exc):
                raise StoreUnavailable(f"another refresh has held the data-set lock in {self.where} for over "
                                       f"{self.wait:g} s; try again later (the last data set is kept)") from exc
            raise
        try:
            yield
        finally:
            try:
                conn.execute(select(func.pg_advisory_unlock(LOCK_KEY)))
                conn.exec_driver_sql("RESET lock_timeout")
            except sa_exc.DBAPIError:
                conn.invalidate()  # (the connection is gone, and with it the lock)
            conn.close()

    @contextmanager
    def _file_lock(self, path: Path) -> Iterator[None]:
        try:
            private_dir(path.parent)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create the lock file {path} ({exc.strerror}); check that the folder "
                                   "is writable, or set " + ENV["database_url"]) from exc
        with os.fdopen(fd, "r+b") as handle:
            deadline = time.monotonic() + self.wait
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StoreUnavailable(f"another refresh has held {path} for over {self.wait:g} s; try "
                                               "again later (the last data set is kept)") from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _meta(row: Any) -> DatasetMeta:
    return DatasetMeta(**{name: getattr(row, name) for name in META_FIELDS})


def _first_line(error: object) -> str:
    return " ".join(str(error).split())[:200]
