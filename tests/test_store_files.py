"""The data-set files of versions before the database (DataStore: now read only to migrate them in): load
reads what save wrote, and refuses a damaged body with DataError (not a traceback)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import pytest

from trialfinder.errors import DataError
from trialfinder.source.store import Dataset, DatasetMeta, DataStore


def _meta() -> DatasetMeta:
    return DatasetMeta(source="cache", data_timestamp="2025-03", fetched_at=None)


def test_round_trip_keeps_every_study_exactly(tmp_path: Path, fixture_studies: list[dict]) -> None:
    store = DataStore(tmp_path)
    studies = fixture_studies[:40]
    assert any(not json.dumps(s, ensure_ascii=False).isascii() for s in studies)  # non-ASCII text included
    store.save(Dataset(studies=studies, meta=_meta()))
    loaded = store.load()
    assert loaded is not None and loaded.studies == studies and loaded.meta.count == 40


def _write(store: DataStore, body: bytes, count: int = 1) -> None:
    """A data file whose header matches ``body`` (so only the body itself is wrong)."""
    meta = _meta()
    meta.sha256, meta.count = hashlib.sha256(body).hexdigest(), count
    store.dir.mkdir(parents=True, exist_ok=True)
    store.current.write_bytes(json.dumps(asdict(meta)).encode() + b"\n" + body)


@pytest.mark.parametrize("body, message", [
    (b'[{"a": "\xff\xfe"}]', "bad JSON"),  # not UTF-8
    (b'[{"a": 1}', "bad JSON"),  # cut short
    (b'{"a": 1}', "wrong study count"),  # not a list
    (b"[]", "wrong study count"),  # fewer studies than the header says
])
def test_a_damaged_body_with_a_matching_checksum_is_refused(tmp_path: Path, body: bytes, message: str) -> None:
    store = DataStore(tmp_path)
    _write(store, body)
    with pytest.raises(DataError, match=message):
        store.load()


def test_a_file_without_a_header_line_is_refused(tmp_path: Path) -> None:
    store = DataStore(tmp_path)
    store.dir.mkdir(parents=True, exist_ok=True)
    store.current.write_bytes(b'{"source": "cache"}')
    with pytest.raises(DataError, match="damaged"):
        store.load()
    store.current.write_bytes(b"")
    with pytest.raises(DataError, match="damaged header"):
        store.load()
