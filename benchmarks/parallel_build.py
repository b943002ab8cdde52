"""An experiment, not the product: would building the tables over both cores close issue 16 item 6?

The data set of ``--n`` replicated studies (default 10,000) is saved in the default store and loaded
from it as the CLI does (batches, shared site texts). After the one-off setup of ``throughput.py`` (the
place index, ``build_tables`` of 20 studies), it times, in this one process:

* ``json.loads`` of the same records' bytes (the floor of item 6);
* ``build_tables`` of all of them (what the product does);
* the same split in two halves: a forked worker builds the second half and sends its three frames back
  pickled while this process builds the first, then the halves are concatenated. The frames are NOT
  made equal to the full build here (the sites' ``study_row`` of the second half is not offset, a study
  listed in both halves is not merged): the figure is what the split would cost, not a product path.

    .venv/bin/python benchmarks/parallel_build.py [--n 10000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import pickle
import time
from typing import Any

from common import load_average, print_machine, studies, temp_dir

_DATASET: Any = None  # (the worker, forked, finds the records here)


def _second_half(bounds: tuple[int, int]) -> bytes:
    from trialfinder.find.tables import build_tables
    from trialfinder.source.store import Dataset

    lo, hi = bounds
    tables = build_tables(Dataset(studies=_DATASET.studies[lo:hi], meta=_DATASET.meta))
    return pickle.dumps((tables.studies, tables.sites, tables.interventions), protocol=5)


def main(argv: list[str] | None = None) -> None:
    global _DATASET
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10000)
    args = parser.parse_args(argv)

    import pandas as pd
    from apiserver import parse_fields, select_fields

    from trialfinder.find import places
    from trialfinder.find.tables import build_tables
    from trialfinder.source.database import open_store
    from trialfinder.source.query import FIELDS
    from trialfinder.source.settings import Settings
    from trialfinder.source.store import Dataset, DatasetMeta

    print_machine()
    tree = parse_fields(",".join(FIELDS))
    with temp_dir() as folder:
        store = open_store(Settings(cache_dir=folder))
        store.save(Dataset(studies=[select_fields(s, tree) for s in studies(args.n)],
                           meta=DatasetMeta(source="cache", data_timestamp="2026-11-20", fetched_at=None)))
        _DATASET = dataset = store.load()
    assert dataset is not None
    places.load_index()
    build_tables(Dataset(studies=dataset.studies[:20], meta=dataset.meta))  # one-off setup
    body = json.dumps(dataset.studies, ensure_ascii=False, separators=(",", ":")).encode()
    t0 = time.perf_counter()
    json.loads(body)
    floor = time.perf_counter() - t0
    del body
    t0 = time.perf_counter()
    build_tables(dataset)
    sequential = time.perf_counter() - t0
    half = len(dataset.studies) // 2
    with multiprocessing.get_context("fork").Pool(1) as pool:
        t0 = time.perf_counter()
        pending = pool.apply_async(_second_half, ((half, len(dataset.studies)),))
        first = build_tables(Dataset(studies=dataset.studies[:half], meta=dataset.meta))
        first_s = time.perf_counter() - t0
        blob = pending.get()
        received_s = time.perf_counter() - t0
        second = pickle.loads(blob)
        pd.concat([first.studies, second[0]])
        pd.concat([first.sites, second[1]], ignore_index=True)
        pd.concat([first.interventions, second[2]], ignore_index=True)
        split = time.perf_counter() - t0
    print(f"{args.n:,} studies; load average {load_average()}")
    print(f"  json.loads of the same bytes        {floor:.2f} s")
    print(f"  build_tables, one process            {sequential:.2f} s  ({sequential / floor:.2f}x the floor)")
    print(f"  two halves, one forked worker        {split:.2f} s  ({split / floor:.2f}x; {sequential / split:.2f}x faster)"
          f"  — this half {first_s:.2f} s, the other's frames back at {received_s:.2f} s ({len(blob) / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
