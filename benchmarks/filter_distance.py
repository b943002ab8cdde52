"""Item 5: one filter change with distances from a new location, on 10,000 studies / ~145,000 sites.

The tables are built once (``build_tables``, not timed). Each place is geocoded once with
``geo.geocode`` outside the timing; then ``find.filters.search(tables, spec)`` (the spec holding the place) is timed —
the filters, the nearest site of every remaining trial (vectorised haversine), the radius and the
sort. Two specs:

* **status + radius** — actionable statuses, within 100 mi of the new place;
* **all sites** — no other filter, distances to every located site (the worst case).

Each place is new to the search (nothing is cached between places); every figure is the median
over the places x ``--repeat`` runs.

The naive baseline does the same on the same tables (the same located sites, so only the method
differs): a pandas status mask, then a Python loop over the sites (``itertuples`` + ``math``) for
each trial's nearest site, the radius, and a sort. Target: <= 50 ms.

    .venv/bin/python benchmarks/filter_distance.py [--n 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse

from common import (
    Figure,
    fmt_ratio,
    fmt_s,
    median,
    print_figures,
    print_machine,
    print_table,
    save_figures,
    studies,
    timed,
)
from naive import naive_search

from trialfinder.find import places as geo
from trialfinder.find.filters import FilterSpec, search
from trialfinder.find.tables import build_tables
from trialfinder.source.store import Dataset, DatasetMeta
from trialfinder.source.vocab import ACTIONABLE_STATUSES

PLACES = ("77030", "Tucson, AZ", "10021", "Paris, France", "Seattle, WA", "55905")
RADIUS = 100.0
TARGET = 0.050


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="also write benchmarks/out/filter_distance.json")
    args = parser.parse_args(argv)
    print_machine()

    dataset = Dataset(studies=studies(args.n), meta=DatasetMeta(source="cache", data_timestamp="2026-11-20",
                                                                fetched_at=None))
    tables, build_s = timed(lambda: build_tables(dataset))
    del dataset
    located = int(tables.sites["latitude"].notna().sum())
    print(f"tables: {len(tables.studies):,} studies, {len(tables.sites):,} sites ({located:,} located), "
          f"built once in {fmt_s(build_s)} (not timed below)")
    places = [geo.geocode(p) for p in PLACES]

    specs = {
        "status + radius": (FilterSpec(statuses=ACTIONABLE_STATUSES, radius=RADIUS), ACTIONABLE_STATUSES, RADIUS),
        "all sites": (FilterSpec(), (), 1e9),
    }
    search(tables, specs["all sites"][0].with_(place=places[0]))  # warm up pandas paths
    rows, figures, out = [], [], {}
    for name, (spec, statuses, radius) in specs.items():
        ours, naive, kept = [], [], []
        for place in places:
            new = spec.with_(place=place)
            for _ in range(args.repeat):
                result, seconds = timed(lambda: search(tables, new))
                ours.append(seconds)
            kept.append(len(result.studies))
            _, seconds = timed(lambda: naive_search(tables.studies, tables.sites, place.lat, place.lon,
                                                    statuses or tuple(tables.studies["status"].unique()), radius))
            naive.append(seconds)
        o, v = median(ours), median(naive)
        out[name] = {"ours": ours, "naive": naive, "kept": kept}
        rows.append([name, f"{min(kept):,}–{max(kept):,}", fmt_s(min(ours)), fmt_s(o), fmt_s(max(ours)),
                     fmt_s(v), fmt_ratio(v, o)])
        figures.append(Figure("5", f"filter + distance, new place, {name}", fmt_s(o), fmt_s(v), fmt_ratio(v, o),
                              "≤ 50 ms", o <= TARGET))
    print_table(f"5. filters.search with a new place ({len(places)} places × {args.repeat}; "
                "naive loop once per place)",
                ["spec", "trials kept", "ours min", "ours median", "ours max", "naive median", "ratio"], rows)
    print_figures("Summary (item 5)", figures)
    if args.json:
        save_figures("filter_distance", figures, {"runs": out, "sites": len(tables.sites)})
    return figures


if __name__ == "__main__":
    main()
