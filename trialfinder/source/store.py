"""The current data set on disk: written only whole, replaced atomically, checked when read.

File format (``dataset/current.json``): line 1 is a JSON header (meta, with the SHA-256 and
count of what follows); the rest is the JSON list of raw study records. A new data set is
written to a temporary file in the same folder, flushed to disk, then moved over the old one
with ``os.replace`` — a reader sees the old file or the new one, never a mix, even if the
process is killed. The file before it is kept as ``previous.json`` (for "what changed").
A file that fails its checks is moved aside as ``current.json.corrupt-<time>``.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..errors import DataError
from .files import NotRegularFile, gc_paused, open_regular, private_dir, read_regular, set_aside
from .settings import without_credentials

#: the longest header line read (the meta of a data set is a few kB)
MAX_HEADER = 1 << 20

SOURCES = {"live": "live from ClinicalTrials.gov", "cache": "from a stored copy", "snapshot": "bundled snapshot"}


@dataclass
class DatasetMeta:
    source: str  # live | cache | snapshot
    data_timestamp: str | None
    fetched_at: str | None
    count: int = 0
    query: str = ""
    api_url: str = ""
    sha256: str = ""
    note: str = ""
    #: what the user should hear about this data set now (a download's or a damaged file's); never
    #: stored, so a warning is given once, not by every later command
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def from_header(cls, line: bytes) -> "DatasetMeta":
        """The meta stored in a data file's first line (raises ValueError/TypeError if damaged);
        warnings a file of an older version stored are not read back."""
        fields = json.loads(line)
        if not isinstance(fields, dict):
            raise TypeError("the header is not an object")
        return cls(**{**fields, "warnings": []})

    def describe(self) -> str:
        """"bundled snapshot · data as of 2025-03" / "from a stored copy · data as of …, fetched …"."""
        source = SOURCES.get(self.source, self.source)
        if self.source == "live" and self.api_url and "clinicaltrials.gov" not in self.api_url:
            source = f"live from {without_credentials(self.api_url)}"  # (a data set stored before 0.2 may hold them)
        text = f"{source} · data as of {self.data_timestamp or 'unknown'}"
        if self.fetched_at and self.source != "snapshot":
            text += f" · fetched {self.fetched_at}"
        return text


#: source formats of the bundled snapshot's MANIFEST.csv whose records are partial: converted from the
#: website's CSV exports, they lack eligibility text, numeric ages, site statuses, phases and dates
#: that the registry itself has (fixtures/README.md)
PARTIAL_FORMATS = frozenset({"website-csv"})


@dataclass
class Dataset:
    studies: list[dict[str, Any]]
    meta: DatasetMeta
    #: NCT ids whose record is a partial snapshot record (a field missing there may be in the registry);
    #: every other record is a full registry record, where a missing field is not stated by the registry
    partial: frozenset[str] = field(default_factory=frozenset)
    #: its id in the data-set database (``DbStore``) when it was loaded from there or saved there: what
    #: the tables built from it are stored under
    stored_id: int | None = None


class DataStore:
    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.current = self.dir / "current.json"
        self.previous = self.dir / "previous.json"

    def version(self) -> int | None:
        """A number that changes whenever the current data set is replaced (None: none stored yet)."""
        try:
            return self.current.stat().st_mtime_ns
        except OSError:
            return None

    @contextmanager
    def lock(self) -> Iterator[None]:
        """An exclusive lock for writers (two refreshes at once: each write is whole; last wins)."""
        private_dir(self.dir)
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)  # private, whatever the umask
        with os.fdopen(fd, "r+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def save(self, dataset: Dataset) -> DatasetMeta:
        body = json.dumps(dataset.studies, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        meta = dataset.meta
        meta.sha256 = hashlib.sha256(body).hexdigest()
        meta.count = len(dataset.studies)
        header = json.dumps({**asdict(meta), "warnings": []}, ensure_ascii=False).encode("utf-8")
        with self.lock():
            for orphan in self.dir.glob(".current-*.tmp"):  # left by a writer that was killed
                orphan.unlink(missing_ok=True)  # (safe: writers hold the lock while theirs exists)
            fd, tmp = tempfile.mkstemp(prefix=".current-", suffix=".tmp", dir=self.dir)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(header + b"\n" + body)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(tmp, 0o600)
                if self.current.is_file():  # (not a FIFO or device put in its place)
                    keep = self.dir / ".previous.tmp"
                    if keep.exists():
                        keep.unlink()
                    os.link(self.current, keep)
                    os.replace(keep, self.previous)
                os.replace(tmp, self.current)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
            _fsync_dir(self.dir)
        return meta

    def load_meta(self, which: str = "current") -> DatasetMeta | None:
        """Only the header of a stored data set (cheap); None when absent or unreadable."""
        path = self.current if which == "current" else self.previous
        try:
            with open_regular(path) as handle:
                return DatasetMeta.from_header(handle.readline(MAX_HEADER))
        except (OSError, ValueError, TypeError, RecursionError):
            return None

    def load(self, which: str = "current") -> Dataset | None:
        """The stored data set, or None when there is none. Raises DataError if it is damaged."""
        path = self.current if which == "current" else self.previous
        try:
            raw = read_regular(path)
        except FileNotFoundError:
            return None
        except NotRegularFile as exc:
            raise DataError(f"cannot read the data file: {exc}") from exc
        except OSError as exc:
            raise DataError(f"cannot read the data file {path}: {exc.strerror}") from exc
        cut = raw.find(b"\n")
        header = raw[:cut] if cut >= 0 else raw
        try:
            meta = DatasetMeta.from_header(header)
        except (ValueError, TypeError, RecursionError) as exc:
            raise DataError(f"the data file {path} has a damaged header") from exc
        # The body is read through a view of the file's bytes, not a copy, and decoded before it is
        # parsed, the bytes let go first: the text and the parsed studies are all that is held at the peak.
        with memoryview(raw) as view:
            body = view[cut + 1:] if cut >= 0 else view[:0]
            if hashlib.sha256(body).hexdigest() != meta.sha256:
                raise DataError(f"the data file {path} is damaged (checksum mismatch)")
            try:
                text = str(body, "utf-8", "surrogatepass")  # (what json.loads does with bytes)
            except ValueError as exc:
                raise DataError(f"the data file {path} is damaged (bad JSON)") from exc
            finally:
                body.release()
        del raw
        try:
            with gc_paused():
                studies = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise DataError(f"the data file {path} is damaged (bad JSON)") from exc
        del text
        if not isinstance(studies, list) or len(studies) != meta.count:
            raise DataError(f"the data file {path} is damaged (wrong study count)")
        return Dataset(studies=studies, meta=meta)

    def set_aside(self, which: str = "current") -> Path | None:
        """Move a damaged file out of the way; return where it went."""
        return set_aside(self.current if which == "current" else self.previous)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: the packed snapshot inside a snapshot folder (trialfinder/data/ ships one; scripts/build_snapshot.py
#: writes it from fixtures/aml-studies): gzip'd JSON with "snapshot" (data date, note), "provenance",
#: "manifest" and "studies"
PACKED_SNAPSHOT = "snapshot.json.gz"


def load_snapshot(directory: Path) -> Dataset:
    """The bundled studies: ``directory/snapshot.json.gz`` (the package's own, by default), else one
    ``<NCT>.json`` per study with an optional ``SNAPSHOT.json`` (a folder like ``fixtures/aml-studies``)."""
    directory = Path(directory)
    packed = directory / PACKED_SNAPSHOT
    if packed.is_file():
        return _load_packed(packed)
    files = sorted(directory.glob("NCT*.json"))
    if not files:
        raise DataError(
            f"no bundled snapshot at {directory}; run `trialfinder fetch` with a connection, "
            "or set TRIALFINDER_SNAPSHOT_DIR"
        )
    studies = [json.loads(f.read_text(encoding="utf-8")) for f in files]
    info: dict[str, Any] = {}
    meta_file = directory / "SNAPSHOT.json"
    if meta_file.exists():
        info = json.loads(meta_file.read_text(encoding="utf-8"))
    fingerprint = hashlib.sha256()
    for f in files:
        stat = f.stat()
        fingerprint.update(f"{f.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return Dataset(studies=studies, meta=_snapshot_meta(info, len(studies), fingerprint.hexdigest()),
                   partial=_partial_records(directory / "MANIFEST.csv"))


def _load_packed(path: Path) -> Dataset:
    raw = path.read_bytes()
    try:
        with gc_paused():
            document = json.loads(gzip.decompress(raw))
        studies, info = document["studies"], document.get("snapshot") or {}
        partial = _partial_ids(document.get("manifest") or [])
        if not isinstance(studies, list) or not isinstance(info, dict):
            raise ValueError("not a snapshot")
    except (OSError, EOFError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise DataError(f"the bundled snapshot {path} is damaged ({exc}); reinstall TrialFinder or run "
                        "`trialfinder fetch`") from exc
    return Dataset(studies=studies, meta=_snapshot_meta(info, len(studies), hashlib.sha256(raw).hexdigest()),
                   partial=partial)


def _snapshot_meta(info: dict[str, Any], count: int, fingerprint: str) -> DatasetMeta:
    return DatasetMeta(
        source="snapshot",
        sha256="snapshot-" + fingerprint,
        data_timestamp=info.get("data_timestamp"),
        fetched_at=None,
        count=count,
        query="bundled AML studies",
        note=info.get("note", ""),
    )


def _partial_records(manifest: Path) -> frozenset[str]:
    """The ids MANIFEST.csv (nct_id, source_format, …) lists with a partial source format."""
    import csv

    if not manifest.exists():
        return frozenset()
    with manifest.open(encoding="utf-8", newline="") as handle:
        return _partial_ids(csv.DictReader(handle))


def _partial_ids(rows: Any) -> frozenset[str]:
    return frozenset(row.get("nct_id") or "" for row in rows
                     if isinstance(row, dict) and row.get("source_format") in PARTIAL_FORMATS) - {""}
