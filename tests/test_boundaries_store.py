"""The data set on disk at its edges: what the snapshot says of itself, a write that fails half-way,
and where the header line ends (issue 20: no test pinned these).

Studies are real records from fixtures/aml-studies; copies go to a temporary folder, never edited in place.
The bundled snapshot is package data: trialfinder/data/snapshot.json.gz, packed from that folder.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest
from paths import AML_STUDIES

from trialfinder.errors import DataError
from trialfinder.source.settings import DEFAULT_SNAPSHOT_DIR, Settings
from trialfinder.source.store import PACKED_SNAPSHOT, Dataset, DatasetMeta, DataStore, load_snapshot


def _meta(**changes) -> DatasetMeta:
    return DatasetMeta(**{"source": "cache", "data_timestamp": "2026-11-20T08:00:00",
                          "fetched_at": "2026-11-21T10:00:00+00:00", **changes})


# --- the bundled snapshot's header ------------------------------------------------------------------

def test_the_bundled_snapshot_describes_itself() -> None:
    assert Settings().snapshot_dir == DEFAULT_SNAPSHOT_DIR == Path(__import__("trialfinder").__file__).parent / "data"
    packed = DEFAULT_SNAPSHOT_DIR / PACKED_SNAPSHOT
    assert PACKED_SNAPSHOT == "snapshot.json.gz" and packed.is_file()
    assert not list(DEFAULT_SNAPSHOT_DIR.glob("NCT*.json"))  # packed, not one file per study
    info = json.loads(gzip.decompress(packed.read_bytes()))["snapshot"]
    files = sorted(AML_STUDIES.glob("NCT*.json"))
    dataset = load_snapshot(DEFAULT_SNAPSHOT_DIR)
    meta = dataset.meta
    assert (meta.source, meta.data_timestamp, meta.fetched_at) == ("snapshot", "2025-03", None)
    assert meta.data_timestamp == info["data_timestamp"] and meta.note == info["note"] != ""
    assert meta.count == len(dataset.studies) == len(files) == 377
    assert meta.query == "bundled AML studies"
    assert meta.sha256 == "snapshot-" + hashlib.sha256(packed.read_bytes()).hexdigest()
    assert [s["protocolSection"]["identificationModule"]["nctId"] for s in dataset.studies] == [f.stem for f in files]
    assert meta.describe() == "bundled snapshot · data as of 2025-03"
    folder = load_snapshot(AML_STUDIES)  # the folder it is packed from reads the same
    assert folder.studies == dataset.studies and folder.partial == dataset.partial
    assert (folder.meta.count, folder.meta.data_timestamp, folder.meta.note) == (377, "2025-03", meta.note)
    assert folder.meta.sha256.startswith("snapshot-") and folder.meta.sha256 != meta.sha256


def _copy(tmp_path: Path, n: int, with_info: bool = True) -> Path:
    folder = tmp_path / "snap"
    folder.mkdir()
    for f in sorted(AML_STUDIES.glob("NCT*.json"))[:n]:
        shutil.copy2(f, folder / f.name)
    if with_info:
        shutil.copy2(AML_STUDIES / "SNAPSHOT.json", folder / "SNAPSHOT.json")
    return folder


def test_a_snapshot_fingerprint_follows_its_files(tmp_path: Path) -> None:
    folder = _copy(tmp_path, 3)
    first = load_snapshot(folder).meta
    assert first.count == 3 and load_snapshot(folder).meta.sha256 == first.sha256  # the same files: the same
    victim = sorted(folder.glob("NCT*.json"))[1]
    victim.write_bytes(victim.read_bytes() + b" ")  # one byte more in one file
    assert load_snapshot(folder).meta.sha256 != first.sha256
    (folder / "MANIFEST.csv").write_text("not a study\n")  # only NCT*.json files count
    assert load_snapshot(folder).meta.count == 3


def test_a_snapshot_without_its_info_file_has_no_date(tmp_path: Path) -> None:
    meta = load_snapshot(_copy(tmp_path, 2, with_info=False)).meta
    assert (meta.data_timestamp, meta.note, meta.count) == (None, "", 2)
    assert meta.describe() == "bundled snapshot · data as of unknown"


def test_an_empty_snapshot_folder_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="trialfinder fetch.*TRIALFINDER_SNAPSHOT_DIR"):
        load_snapshot(tmp_path)


@pytest.mark.parametrize("meta, text", [
    (_meta(), "from a stored copy · data as of 2026-11-20T08:00:00 · fetched 2026-11-21T10:00:00+00:00"),
    (_meta(source="live", api_url="https://clinicaltrials.gov/api/v2"),
     "live from ClinicalTrials.gov · data as of 2026-11-20T08:00:00 · fetched 2026-11-21T10:00:00+00:00"),
    (_meta(source="live", api_url="http://127.0.0.1:8123/api/v2", fetched_at=None),
     "live from http://127.0.0.1:8123/api/v2 · data as of 2026-11-20T08:00:00"),
    (_meta(source="live", api_url=""), "live from ClinicalTrials.gov · data as of 2026-11-20T08:00:00 · fetched "
                                       "2026-11-21T10:00:00+00:00"),
    (_meta(source="snapshot", data_timestamp=None), "bundled snapshot · data as of unknown"),
    (_meta(source="mirror", fetched_at=""), "mirror · data as of 2026-11-20T08:00:00"),
])
def test_describe(meta: DatasetMeta, text: str) -> None:
    assert meta.describe() == text


# --- saving: whole or not at all ----------------------------------------------------------------------

def test_save_fills_count_and_checksum_and_keeps_the_previous_file(tmp_path: Path, fixture_studies) -> None:
    store = DataStore(tmp_path / "data")
    assert store.version() is None and store.load() is None and store.load_meta() is None
    saved = store.save(Dataset(studies=fixture_studies[:3], meta=_meta(count=99, sha256="stale")))
    assert saved.count == 3 and len(saved.sha256) == 64
    first_version = store.version()
    assert isinstance(first_version, int) and store.load("previous") is None
    store.save(Dataset(studies=fixture_studies[3:5], meta=_meta(data_timestamp="2026-11-22T08:00:00")))
    assert store.version() != first_version
    previous, current = store.load("previous"), store.load()
    assert previous is not None and previous.studies == fixture_studies[:3] and previous.meta.count == 3
    assert current is not None and current.studies == fixture_studies[3:5]
    assert store.load_meta().data_timestamp == "2026-11-22T08:00:00"
    assert store.load_meta("previous").data_timestamp == "2026-11-20T08:00:00"
    assert sorted(p.name for p in store.dir.iterdir()) == [".lock", "current.json", "previous.json"]
    assert store.current.stat().st_mode & 0o777 == 0o600 and (store.dir / ".lock").stat().st_mode & 0o777 == 0o600


def test_the_header_is_one_line_with_every_field(tmp_path: Path, fixture_studies) -> None:
    store = DataStore(tmp_path)
    meta = _meta(query="AML · relapsed", note="données réelles", warnings=["one"])
    store.save(Dataset(studies=fixture_studies[:2], meta=meta))
    first, _, body = store.current.read_bytes().partition(b"\n")
    header = json.loads(first)
    assert list(header) == ["source", "data_timestamp", "fetched_at", "count", "query", "api_url", "sha256", "note",
                            "warnings"]
    # warnings are for now, never stored: the header holds an empty list, and reading gives none back
    assert header == {**asdict(meta), "warnings": []} and meta.warnings == ["one"]
    assert header["count"] == 2 and header["query"] == "AML · relapsed"
    assert header["sha256"] == hashlib.sha256(body).hexdigest()
    assert "données".encode() in first  # UTF-8 as written, not escaped
    assert json.loads(body) == fixture_studies[:2]
    loaded = store.load()
    assert loaded is not None and loaded.meta == DatasetMeta(**{**asdict(meta), "warnings": []})
    assert store.load_meta() == loaded.meta


@pytest.mark.parametrize("fail_at", ["write", "fsync", "chmod", "replace"])
def test_a_failed_write_leaves_no_temporary_file_and_the_old_data(tmp_path: Path, fixture_studies, monkeypatch,
                                                                   fail_at: str) -> None:
    store = DataStore(tmp_path)
    store.save(Dataset(studies=fixture_studies[:2], meta=_meta()))
    before = store.current.read_bytes()

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    if fail_at == "write":
        real_fdopen = os.fdopen

        class Full:
            def __init__(self, handle):
                self.handle = handle

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.handle.close()

            write = boom

        monkeypatch.setattr(os, "fdopen", lambda fd, mode="r", *a, **k: Full(real_fdopen(fd, mode, *a, **k))
                            if "w" in mode else real_fdopen(fd, mode, *a, **k))
    elif fail_at == "replace":
        real_replace = os.replace
        monkeypatch.setattr(os, "replace", lambda src, dst: boom() if Path(dst).name == "current.json"
                            else real_replace(src, dst))
    else:
        monkeypatch.setattr(os, fail_at, boom)
    with pytest.raises(OSError, match="No space left"):
        store.save(Dataset(studies=fixture_studies[2:5], meta=_meta()))
    monkeypatch.undo()
    assert list(store.dir.glob(".current-*.tmp")) == []
    assert store.current.read_bytes() == before
    assert store.load() is not None and store.load().studies == fixture_studies[:2]


def test_leftovers_of_a_killed_writer_are_removed_by_the_next_save(tmp_path: Path, fixture_studies) -> None:
    store = DataStore(tmp_path)
    store.save(Dataset(studies=fixture_studies[:1], meta=_meta()))
    (tmp_path / ".current-killed.tmp").write_bytes(b"half a data set")
    (tmp_path / ".previous.tmp").write_bytes(b"an old link")
    store.save(Dataset(studies=fixture_studies[1:2], meta=_meta()))
    assert not (tmp_path / ".current-killed.tmp").exists() and not (tmp_path / ".previous.tmp").exists()
    assert store.load("previous").studies == fixture_studies[:1]


def test_save_takes_the_lock_and_gives_it_back(tmp_path: Path, fixture_studies) -> None:
    import fcntl

    store = DataStore(tmp_path / "new" / "data")
    store.save(Dataset(studies=fixture_studies[:1], meta=_meta()))
    assert store.dir.stat().st_mode & 0o777 == 0o700
    with open(store.dir / ".lock", "r+b") as other:  # free again: another writer gets it at once
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(other, fcntl.LOCK_UN)
    with store.lock():
        with open(store.dir / ".lock", "r+b") as other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)


# --- where the header line ends ------------------------------------------------------------------------

def _file(store: DataStore, header: bytes, body: bytes) -> None:
    store.dir.mkdir(parents=True, exist_ok=True)
    store.current.write_bytes(header + body)


def _header(body: bytes, count: int) -> bytes:
    meta = _meta(count=count, sha256=hashlib.sha256(body).hexdigest())
    return json.dumps(asdict(meta)).encode()


@pytest.mark.parametrize("body, count, ok", [
    (b"[]", 0, True),  # an empty data set is a data set
    (b"[{}]", 1, True),
    (b"[{}]", 0, False), (b"[{}]", 2, False),  # the count, one below and one above
    (b'[\n{"a": "b\\nc"}\n]', 1, True),  # newlines after the first one belong to the body
])
def test_header_then_body(tmp_path: Path, body: bytes, count: int, ok: bool) -> None:
    store = DataStore(tmp_path)
    _file(store, _header(body, count) + b"\n", body)
    assert store.load_meta().count == count
    if ok:
        assert store.load().studies == json.loads(body)
    else:
        with pytest.raises(DataError, match="wrong study count"):
            store.load()


def test_the_body_starts_right_after_the_first_newline(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    body = b"[{}]"
    _file(store, _header(b" " + body, 1) + b"\n", b" " + body)  # a leading space is part of the body
    assert store.load().studies == [{}]
    _file(store, _header(body, 1) + b"\n", b" " + body)  # one byte more than the checksum covers
    with pytest.raises(DataError, match="checksum"):
        store.load()
    _file(store, _header(body, 1) + b"\n\n", body)  # an empty line is not the body
    with pytest.raises(DataError, match="checksum"):
        store.load()


@pytest.mark.parametrize("content, message", [
    (b"", "damaged header"),
    (b"\n[]", "damaged header"),  # the header line is empty
    (b"\n" + _header(b"[]", 0), "damaged header"),  # a header on the second line is not a header
    (b"[]\n[]", "damaged header"),  # a header that is not an object of meta fields
    (b'{"source": "cache"}\n[]', "damaged header"),  # fields missing
    (b'{"source": "cache", "data_timestamp": null, "fetched_at": null, "colour": 1}\n[]', "damaged header"),
    (b'{"source": "cache", "data_timestamp": null, "fetched_at": null, "count": 0, "sha256": "'
     + hashlib.sha256(b"").hexdigest().encode() + b'"}', "bad JSON"),  # no newline: no body at all
])
def test_damaged_headers(tmp_path: Path, content: bytes, message: str) -> None:
    store = DataStore(tmp_path)
    store.dir.mkdir(exist_ok=True)
    store.current.write_bytes(content)
    with pytest.raises(DataError, match=message):
        store.load()
    header_ok = message == "bad JSON"
    assert (store.load_meta() is not None) is header_ok  # the cheap read agrees, and never raises


def test_load_meta_reads_only_the_first_line(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    _file(store, _header(b"[]", 0) + b"\n", b"not json at all \xff")
    meta = store.load_meta()
    assert meta is not None and meta.count == 0 and meta.source == "cache"
    store.previous.write_bytes(b"\xff\xfe garbage")
    assert store.load_meta("previous") is None
    store.previous.write_bytes(b"[1]\n")  # JSON, but not an object
    assert store.load_meta("previous") is None


def test_an_unreadable_file_is_a_data_error(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    store.current.mkdir()  # a folder where the file should be
    with pytest.raises(DataError, match="cannot read the data file"):
        store.load()
    assert store.load_meta() is None


def test_set_aside_moves_the_damaged_file(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    assert store.set_aside() is None
    store.current.write_bytes(b"broken")
    store.previous.write_bytes(b"older")
    moved = store.set_aside()
    assert moved is not None and moved.name.startswith("current.json.corrupt-") and moved.read_bytes() == b"broken"
    assert not store.current.exists() and store.previous.exists()
    assert store.set_aside("previous").read_bytes() == b"older"


def test_a_writer_that_dies_leaves_a_hidden_temporary_file_the_next_save_removes(tmp_path: Path, fixture_studies,
                                                                                monkeypatch) -> None:
    """A save stopped before it can clean up (os.unlink made to do nothing, as if the process were killed)."""
    store = DataStore(tmp_path)
    store.save(Dataset(studies=fixture_studies[:1], meta=_meta()))

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", killed)
    monkeypatch.setattr(os, "unlink", lambda path: None)
    with pytest.raises(KeyboardInterrupt):
        store.save(Dataset(studies=fixture_studies[1:3], meta=_meta()))
    monkeypatch.undo()
    left = [p.name for p in tmp_path.iterdir() if p.name not in (".lock", "current.json")]
    assert len(left) == 1 and left[0].startswith(".current-") and left[0].endswith(".tmp")  # hidden, and found below
    assert store.load().studies == fixture_studies[:1]
    store.save(Dataset(studies=fixture_studies[3:4], meta=_meta()))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "current.json", "previous.json"]


def test_save_flushes_the_whole_file_to_disk_then_the_folder(tmp_path: Path, fixture_studies, monkeypatch) -> None:
    """What os.fsync is asked to sync: the new file with every byte written, then the folder (the rename)."""
    import stat

    synced: list[tuple[str, int]] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        info = os.fstat(fd)
        synced.append(("folder" if stat.S_ISDIR(info.st_mode) else "file", info.st_size))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    store = DataStore(tmp_path)
    for studies in (fixture_studies[:2], [{"note": "smaller than a write buffer"}]):
        synced.clear()
        store.save(Dataset(studies=studies, meta=_meta()))
        assert synced == [("file", store.current.stat().st_size), ("folder", synced[1][1])]


def test_save_and_load_leave_no_file_open(tmp_path: Path, fixture_studies) -> None:
    """A long-running app saves and loads many times: each must give back every file descriptor."""
    store = DataStore(tmp_path)
    store.save(Dataset(studies=fixture_studies[:1], meta=_meta()))
    store.load()
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        store.save(Dataset(studies=fixture_studies[:2], meta=_meta()))
        store.load()
        store.load_meta()
    assert len(os.listdir("/proc/self/fd")) == before
