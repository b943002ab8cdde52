"""The naive baseline: a ClinicalTrials.gov client written the way many existing scripts do it.

* pages through ``/studies`` with the API's default page size (no ``pageSize``: 10 per page) and no
  ``fields`` selection (whole records), with plain ``requests`` and no cache;
* keeps the download as one JSON file, reads it back with ``json.load``;
* flattens whole records with ``pandas.json_normalize`` (one column per leaf, hundreds of them) and
  the locations with a loop + ``json_normalize``;
* computes distances with a Python loop over the sites (``itertuples`` + ``math``: the kinder of
  the usual loops; ``iterrows``/``apply(axis=1)`` are slower still).

It sends the same search (``query.cond``, ``query.term``, ``filter.overallStatus``) as TrialFinder
so both download the same studies. It does no classification and no offline geocoding, so where
the other benchmarks compare work that includes those, they say so.

Run alone, it prints what one naive download costs against the loopback API::

    .venv/bin/python benchmarks/naive.py [N]
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import requests

EARTH_RADIUS_KM = 6371.0088
KM_PER_MILE = 1.609344
LOCATIONS = ("protocolSection", "contactsLocationsModule", "locations")


@dataclass
class NaiveFetch:
    studies: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    nbytes: int = 0  # response body bytes (len(response.content))
    seconds: float = 0.0


def naive_params(query: Any) -> dict[str, str]:
    """The search part of the query string, as a naive script would write it (no pageSize, no
    fields, no countTotal)."""
    params = {"format": "json"}
    if query.condition:
        params["query.cond"] = query.condition
    if query.term:
        params["query.term"] = query.term
    if query.statuses:
        params["filter.overallStatus"] = ",".join(query.statuses)
    return params


def naive_fetch(base_url: str, query: Any) -> NaiveFetch:
    """Every page at the default page size, whole records, no cache."""
    out = NaiveFetch()
    start = time.perf_counter()
    session = requests.Session()
    params = naive_params(query)
    while True:
        response = session.get(f"{base_url}/studies", params=params, timeout=120)
        response.raise_for_status()
        out.requests += 1
        out.nbytes += len(response.content)
        page = response.json()
        out.studies.extend(page.get("studies", []))
        token = page.get("nextPageToken")
        if not token:
            break
        params = {**params, "pageToken": token}
    session.close()
    out.seconds = time.perf_counter() - start
    return out


def naive_save(studies: list[dict[str, Any]], path: Path) -> None:
    path.write_text(json.dumps(studies))


def naive_load(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text())


def naive_tables(studies: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(studies, sites): json_normalize on whole records, locations gathered by a loop."""
    frame = pd.json_normalize(studies)
    locations = []
    for study in studies:
        nct = study.get("protocolSection", {}).get("identificationModule", {}).get("nctId")
        locs = study
        for key in LOCATIONS:
            locs = locs.get(key, {}) if isinstance(locs, dict) else {}
        for loc in locs or []:
            locations.append({**loc, "nctId": nct})
    sites = pd.json_normalize(locations)
    return frame, sites


def haversine_one(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dphi, dlmb = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, max(0.0, a)))) / KM_PER_MILE


def naive_nearest(
    sites: pd.DataFrame, lat: float, lon: float, keep: set[str] | None = None
) -> dict[str, tuple[float, str]]:
    """nct_id -> (miles, facility) of its nearest located site, by a Python loop over the rows.

    ``sites`` needs columns nct_id, facility, latitude, longitude (the same located sites
    TrialFinder uses, so only the method differs)."""
    best: dict[str, tuple[float, str]] = {}
    for row in sites.itertuples(index=False):
        if keep is not None and row.nct_id not in keep:
            continue
        if row.latitude != row.latitude or row.longitude != row.longitude:  # NaN
            continue
        d = haversine_one(lat, lon, row.latitude, row.longitude)
        if row.nct_id not in best or d < best[row.nct_id][0]:
            best[row.nct_id] = (d, row.facility)
    return best


def naive_search(studies: pd.DataFrame, sites: pd.DataFrame, lat: float, lon: float, statuses: tuple[str, ...],
                 radius: float) -> pd.DataFrame:
    """Filter by status, then distances by loop, keep those within ``radius`` miles, nearest first."""
    kept = studies[studies["status"].isin(statuses)]
    nearest = naive_nearest(sites, lat, lon, set(kept["nct_id"]))
    rows = []
    for nct in kept["nct_id"]:
        if nct in nearest and nearest[nct][0] <= radius:
            rows.append({"nct_id": nct, "distance_mi": nearest[nct][0], "nearest_site": nearest[nct][1]})
    return pd.DataFrame(rows).sort_values("distance_mi") if rows else pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="What one naive download costs against the loopback API.")
    parser.add_argument("n", nargs="?", type=int, default=1000, help="studies to serve (default 1000)")
    n = parser.parse_args(argv).n

    from common import BENCH_QUERY, fmt_bytes, fmt_s, serve, studies

    with serve(studies(n)) as api:
        got = naive_fetch(api.url, BENCH_QUERY)
    print(f"naive download of {len(got.studies)} studies: {got.requests} requests, "
          f"{fmt_bytes(got.nbytes)}, {fmt_s(got.seconds)}")


if __name__ == "__main__":
    main()
