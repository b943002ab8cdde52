"""Built tables kept on disk, so a command or an app start does not re-classify and re-geocode
a data set it has already seen.

The key is the data set's checksum, a fingerprint of the code and rule tables that build the
tables, and the versions of the libraries that write and read them, so a new download, a changed
rule or an upgrade rebuilds them; a new data set built by the same code and libraries takes the rows of
the studies whose record did not change from the tables of the one before (:mod:`.incremental`). An
entry is a data file (Parquet, see :mod:`.tablefile`), never a pickle: reading one that someone else
wrote runs no code. The cache lives in the user's private cache dir; a damaged, unreadable or foreign
entry is simply rebuilt. On a new machine the bundled snapshot's tables come with the package
(``PACKAGED_TABLES``), used only if built from that snapshot by this code.

Where tables come from, first found first: this user's cache file of the current data set; the rows
the data-set database holds of them, built by this same code (:mod:`.tablerows`: stored by the
refresher, or by the first process that built them, for every app replica and command); else they are
built (only the changed studies, when an earlier set's tables are at hand) and stored in both places
(in the database only when it is named, ``TRIALFINDER_DATABASE_URL``, to be shared, and this role may
write there; a read-only one just builds them in memory).
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from ..source.dataset import NoDataSetYet, load_dataset, open_reader
from ..source.files import read_cache, write_cache
from ..source.settings import Settings
from ..source.store import Dataset
from . import places
from .incremental import record_digests, update_tables
from .tablefile import FORMAT, Unstorable, decode_tables, encode_parts
from .tables import Tables, build_tables

if TYPE_CHECKING:
    from ..source.database import DbStore

PACKAGE = Path(__file__).resolve().parent.parent  # all of trialfinder/: code and rule tables
#: the bundled snapshot's tables, made when the package is set up (git-ignored: they depend on the code)
PACKAGED_TABLES = PACKAGE / "data" / "snapshot-tables.parquets"


@cache
def code_fingerprint() -> str:
    """The code, the rule tables and the place index that build the tables."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix in {".py", ".csv", ".npz"}:
            digest.update(path.relative_to(PACKAGE).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


@cache
def library_versions() -> str:
    return ";".join(f"{name}={metadata.version(name)}" for name in ("pandas", "numpy", "pyarrow"))


def built_by() -> str:
    """What builds the tables: a table built by anything else is not reused, in whole or in part."""
    return f"{code_fingerprint()}:{library_versions()}:{FORMAT}"


def _path(settings: Settings, sha256: str) -> Path:
    key = hashlib.sha256(f"{sha256}:{code_fingerprint()}:{library_versions()}:{FORMAT}".encode()).hexdigest()
    return settings.cache_dir / f"tables-{key[:24]}.parquets"


def _cached(path: Path) -> Tables | None:
    data = read_cache(path)
    if data is None:
        return None
    try:
        return decode_tables(data)
    except (ValueError, TypeError, KeyError, OverflowError):  # damaged, foreign or of another version
        return None


def _save(path: Path, tables: Tables) -> None:
    try:
        data = encode_parts(tables)
    except Unstorable:  # (a value the format does not keep exactly: rebuilt next time instead)
        return
    write_cache(path, data, "tables")
    for legacy in path.parent.glob("geo-index-*.pkl"):  # (place tables pickled by earlier versions)
        legacy.unlink(missing_ok=True)


def load_tables(settings: Settings) -> Tables:
    """Tables of the current data set (see :func:`trialfinder.source.dataset.load_dataset`).

    Fast path: when tables built from the stored data set's checksum exist, only the data
    set's meta row is read. Next, the tables the database holds of the current set (read in one
    transaction, built by this code). Otherwise the data set is loaded (and verified) in full."""
    store = open_reader(settings)
    meta = store.load_meta("current")
    if meta is not None and meta.sha256:
        tables = _cached(_path(settings, meta.sha256))
        if tables is not None:
            meta.source = "cache"
            tables.meta = meta
            return tables
    if isinstance(store, NoDataSetYet):  # (a new machine: the bundled snapshot, its tables packaged)
        return tables_of(settings, load_dataset(settings), release=True)
    from .tablerows import read_shared  # (SQLAlchemy: imported where a database exists, see open_reader)

    shared, damaged = read_shared(store, built_by())
    if shared is not None:
        if shared.meta.sha256:
            _save(_path(settings, shared.meta.sha256), shared)
        return shared
    dataset = load_dataset(settings)
    tables = tables_of(settings, dataset, release=True)  # (_share reads the meta and the stored id alone)
    _share(settings, store, dataset, tables, replace=damaged)
    return tables


def share_tables(settings: Settings, dataset: Dataset) -> Tables:
    """The tables of ``dataset``, just saved (``trialfinder fetch``), built and stored in the database for
    every other process (unless there already)."""
    from ..source.database import open_store

    tables = tables_of(settings, dataset)
    _share(settings, open_store(settings), dataset, tables)
    return tables


def _share(settings: Settings, store: DbStore, dataset: Dataset, tables: Tables, *, replace: bool = False) -> None:
    """Store the tables in the database when it is one named to be shared (``database_url``); the
    embedded default lives in this user's cache folder, beside the Parquet copy that serves instead."""
    if settings.database_url and dataset.stored_id is not None and tables.meta.sha256 == dataset.meta.sha256:
        from .tablerows import write_shared

        write_shared(store, dataset.stored_id, tables, built_by(), replace=replace)


def tables_of(settings: Settings, dataset: Dataset, *, release: bool = False) -> Tables:
    """The tables of ``dataset``: from this user's cache, else built (and cached). ``release``: the caller has
    no further use for the records, which are let go once the tables are built, before the tables file is
    encoded (at 50,000 studies the records hold ~870 MB, which the encoding then reuses)."""
    path = _path(settings, dataset.meta.sha256)
    if dataset.meta.sha256:
        tables = _cached(path)
        if tables is not None:
            tables.meta = dataset.meta
            return tables
    packaged = _packaged(dataset) if dataset.meta.source == "snapshot" else None
    if packaged is not None:  # (a new machine: the bundled snapshot's tables, built when it was installed)
        write_cache(path, PACKAGED_TABLES.read_bytes(), "tables")  # (the same bytes: no need to encode them)
        return packaged
    places.load_index()
    digests = record_digests(dataset) if dataset.meta.sha256 else None
    previous = (_previous(path) or _stored_previous(settings)) if digests else None
    if previous is not None and digests:
        tables = update_tables(dataset, previous, digests)  # (only the studies whose record changed)
    else:
        tables = build_tables(dataset)
    if release:
        dataset.studies = []
    if dataset.meta.sha256:
        tables.digests, tables.built_by = digests or {}, built_by()
        _save(path, tables)
    return tables


def _packaged(dataset: Dataset) -> Tables | None:
    """The tables of the bundled snapshot shipped beside it (``scripts/build_snapshot.py --tables``
    writes them when the package is set up), if they were built from this very snapshot by this code."""
    tables = _cached(PACKAGED_TABLES)
    if tables is None or tables.meta.sha256 != dataset.meta.sha256 or tables.built_by != built_by():
        return None
    tables.meta = dataset.meta
    return tables


def _stored_previous(settings: Settings) -> Tables | None:
    """The tables the database holds of the set before the current one, built by this code: a refresher
    on a new machine (no earlier tables of its own) still rebuilds only the studies that changed."""
    store = open_reader(settings)
    if isinstance(store, NoDataSetYet):
        return None
    from .tablerows import read_shared

    tables, _damaged = read_shared(store, built_by(), "previous")
    return tables if tables is not None and tables.digests else None


def _previous(path: Path) -> Tables | None:
    """The tables of an earlier data set in the cache, if this code and these libraries built them."""
    for other in sorted(path.parent.glob("tables-*.parquets")):
        if other != path:
            tables = _cached(other)
            if tables is not None and tables.digests and tables.built_by == built_by():
                return tables
    return None
