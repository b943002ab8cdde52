"""Regenerate the packaged snapshot, trialfinder/data/snapshot.json.gz, from fixtures/aml-studies.

    .venv/bin/python scripts/build_snapshot.py          # rewrite the file
    .venv/bin/python scripts/build_snapshot.py --check  # exit 1 if it differs from the fixtures
    .venv/bin/python scripts/build_snapshot.py --tables # (re)build trialfinder/data/snapshot-tables.parquets if stale

``--tables`` writes the snapshot's built tables beside it (what a first search on a new machine reads
instead of classifying 377 studies); they depend on the code, so the file is git-ignored and made by
``scripts/setup.sh``. A file built by other code is never used (``find/tablecache.py`` checks).

The file is one gzip'd JSON object: ``snapshot`` (fixtures/aml-studies/SNAPSHOT.json: the data date
and the note shown on screen), ``provenance`` (fixtures/README.md's account of where each study came
from), ``manifest`` (MANIFEST.csv: one row a study, its source) and ``studies`` (every <NCT>.json,
unchanged, in file-name order). The gzip header carries no time, so the same fixtures give the same bytes.
"""

from __future__ import annotations

import csv
import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "aml-studies"
TARGET = ROOT / "trialfinder" / "data" / "snapshot.json.gz"


def snapshot_document(folder: Path = FIXTURES) -> dict:
    """The packaged snapshot's content, read from the fixtures folder."""
    with open(folder / "MANIFEST.csv", newline="", encoding="utf-8") as handle:
        manifest = list(csv.DictReader(handle))
    return {
        "snapshot": json.loads((folder / "SNAPSHOT.json").read_text(encoding="utf-8")),
        "provenance": (ROOT / "fixtures" / "README.md").read_text(encoding="utf-8"),
        "manifest": manifest,
        "studies": [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("NCT*.json"))],
    }


def encode(document: dict) -> bytes:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return gzip.compress(body, compresslevel=9, mtime=0)


def build_tables() -> int:
    """Write the packaged snapshot's tables unless the file there is current."""
    sys.path.insert(0, str(ROOT))
    from trialfinder.find import incremental, tablecache
    from trialfinder.find.tablefile import encode_tables
    from trialfinder.find.tables import build_tables as build
    from trialfinder.source.settings import DEFAULT_SNAPSHOT_DIR
    from trialfinder.source.store import load_snapshot

    dataset = load_snapshot(DEFAULT_SNAPSHOT_DIR)
    if tablecache._packaged(dataset) is not None:
        print(f"{tablecache.PACKAGED_TABLES.name} is current")
        return 0
    tables = build(dataset)
    tables.digests, tables.built_by = incremental.record_digests(dataset) or {}, tablecache.built_by()
    tablecache.PACKAGED_TABLES.write_bytes(encode_tables(tables))
    print(f"wrote {tablecache.PACKAGED_TABLES} ({tablecache.PACKAGED_TABLES.stat().st_size:,} bytes)")
    return 0


def main(argv: list[str]) -> int:
    if "--tables" in argv:
        return build_tables()
    document = snapshot_document()
    if "--check" in argv:
        current = json.loads(gzip.decompress(TARGET.read_bytes()))
        if current != document:
            print(f"{TARGET} differs from {FIXTURES}; run scripts/build_snapshot.py", file=sys.stderr)
            return 1
        print(f"{TARGET.name} matches the fixtures ({len(document['studies'])} studies)")
        return 0
    TARGET.write_bytes(encode(document))
    print(f"wrote {TARGET} ({TARGET.stat().st_size:,} bytes, {len(document['studies'])} studies)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
