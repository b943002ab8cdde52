"""Built tables kept on disk, so a command or an app start does not re-classify and re-geocode
a data set it has already seen.

The key is the data set's checksum, a fingerprint of the code and rule tables that build the
tables, and the versions of the libraries that write and read them, so a new download, a changed
rule or an upgrade rebuilds them. An entry is a data file (Parquet, see :mod:`.tablefile`), never a
pickle: reading one that someone else wrote runs no code. The cache lives in the user's private
cache dir; a damaged, unreadable or foreign entry is simply rebuilt.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import metadata
from pathlib import Path

from ..source.database import open_store
from ..source.dataset import load_dataset
from ..source.files import read_cache, write_cache
from ..source.settings import Settings
from . import places
from .tablefile import FORMAT, Unstorable, decode_tables, encode_tables
from .tables import Tables, build_tables

PACKAGE = Path(__file__).resolve().parent.parent  # all of trialfinder/: code and rule tables


@cache
def code_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix in {".py", ".csv"}:
            digest.update(path.relative_to(PACKAGE).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


@cache
def library_versions() -> str:
    return ";".join(f"{name}={metadata.version(name)}" for name in ("pandas", "numpy", "pyarrow"))


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
        data = encode_tables(tables)
    except Unstorable:  # (a value the format does not keep exactly: rebuilt next time instead)
        return
    write_cache(path, data, "tables")
    for legacy in path.parent.glob("geo-index-*.pkl"):  # (place tables pickled by earlier versions)
        legacy.unlink(missing_ok=True)


def load_tables(settings: Settings) -> Tables:
    """Tables of the current data set (see :func:`trialfinder.source.dataset.load_dataset`).

    Fast path: when tables built from the stored data set's checksum exist, only the data
    set's meta row is read. Otherwise the data set is loaded (and verified) in full."""
    meta = open_store(settings).load_meta("current")
    if meta is not None and meta.sha256:
        tables = _cached(_path(settings, meta.sha256))
        if tables is not None:
            meta.source = "cache"
            tables.meta = meta
            return tables
    dataset = load_dataset(settings)
    path = _path(settings, dataset.meta.sha256)
    if dataset.meta.sha256:
        tables = _cached(path)
        if tables is not None:
            tables.meta = dataset.meta
            return tables
    places.load_index()
    tables = build_tables(dataset)
    if dataset.meta.sha256:
        _save(path, tables)
    return tables
