"""Built tables kept on disk, so a command or an app start does not re-classify and re-geocode
a data set it has already seen.

The key is the data set's checksum plus a fingerprint of the code and rule tables that build
the tables, so a new download or a changed rule rebuilds them. The cache lives in the user's
private cache dir; a damaged or unreadable entry is simply rebuilt.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from ..source.dataset import load_dataset
from ..source.files import read_pickle, write_pickle
from ..source.settings import Settings
from ..source.store import DataStore
from . import places
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


def _path(settings: Settings, sha256: str) -> Path:
    key = hashlib.sha256(f"{sha256}:{code_fingerprint()}".encode()).hexdigest()[:24]
    return settings.cache_dir / f"tables-{key}.pkl"


def _cached(path: Path) -> Tables | None:
    tables = read_pickle(path)
    return tables if isinstance(tables, Tables) else None


def load_tables(settings: Settings) -> Tables:
    """Tables of the current data set (see :func:`trialfinder.source.dataset.load_dataset`).

    Fast path: when tables built from the stored data set's checksum exist, only the data
    file's header is read. Otherwise the data set is loaded (and verified) in full."""
    meta = DataStore(settings.dataset_dir).load_meta("current")
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
        write_pickle(path, tables, "tables")
    return tables
