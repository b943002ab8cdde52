"""Regenerate the packaged map outlines, trialfinder/data/outlines.json.gz (see trialfinder/data/PROVENANCE.md).

The app draws these lines under the sites so the map reads offline (no map tiles). They come from two
npm packages fetched with npm's ordinary client — nothing is downloaded at run time:

    cd "$(mktemp -d)" && npm pack world-atlas@2.0.2 us-atlas@3.0.1 && tar xzf world-atlas-2.0.2.tgz \
        && mkdir us && tar xzf us-atlas-3.0.1.tgz -C us
    .venv/bin/python scripts/build_outlines.py package/countries-50m.json us/package/states-10m.json

world-atlas: Natural Earth 1:50m admin-0 countries (public domain) as TopoJSON; every arc is drawn once
(coasts and borders). us-atlas: the Census Bureau's 2017 cartographic state boundaries (public domain);
only arcs shared by two states (inner state lines) are kept, the coast coming from Natural Earth.
Both packages are ISC-licensed. Coordinates are rounded to 0.01° (about 1 km), plenty at the zoom of a
search radius.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "trialfinder" / "data" / "outlines.json.gz"


def decode_arcs(topology: dict) -> list[list[tuple[float, float]]]:
    """TopoJSON arcs (quantized, delta-encoded) as lists of (lon, lat)."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            point = (round(x * sx + tx, 2), round(y * sy + ty, 2))
            if not points or points[-1] != point:
                points.append(point)
        arcs.append(points)
    return arcs


def arc_uses(geometries: list[dict]) -> Counter:
    """How many geometries use each arc (an index i or ~i names arc i)."""
    uses: Counter = Counter()
    for geometry in geometries:
        arcs = geometry.get("arcs", [])
        rings = arcs if geometry["type"] == "Polygon" else [r for polygon in arcs for r in polygon]
        for arc in {a if a >= 0 else ~a for ring in rings for a in ring}:
            uses[arc] += 1
    return uses


def flat(points: list[tuple[float, float]]) -> list[float]:
    return [c for point in points for c in point]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    world = json.loads(Path(argv[0]).read_text())
    states = json.loads(Path(argv[1]).read_text())
    countries = [flat(a) for a in decode_arcs(world) if len(a) > 1]
    inner = arc_uses(states["objects"]["states"]["geometries"])
    state_arcs = decode_arcs(states)
    state_lines = [flat(state_arcs[i]) for i, n in sorted(inner.items()) if n >= 2 and len(state_arcs[i]) > 1]
    data = {
        "about": "Country and coast lines: Natural Earth 1:50m (public domain) via npm world-atlas 2.0.2; "
                 "US state lines: Census Bureau cartographic boundaries 2017 (public domain) via npm us-atlas "
                 "3.0.1. Built by scripts/build_outlines.py; see trialfinder/data/PROVENANCE.md.",
        "country": countries,
        "state": state_lines,
    }
    text = json.dumps(data, separators=(",", ":"))
    with gzip.GzipFile(OUT, "wb", mtime=0) as out:  # reproducible bytes
        out.write(text.encode())
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes): {len(countries)} country/coast lines, "
          f"{len(state_lines)} state lines")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
