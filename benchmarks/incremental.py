"""Item 5 of issue 16: a refresh with 5 % of the studies changed, against a full build, in the same run.

A data set of N replicated studies (default 10,000) is stored and its tables built and cached, as after
a first refresh. Then 5 % of the records change (status and last-update date, as a week's registry
updates do) and the new data set is stored. Each figure is taken in a fresh interpreter after the same
one-off setup as ``throughput.py`` (the place index read, ``build_tables`` on 20 studies):

* **full build**: ``build_tables`` of the new data set — what every refresh cost before;
* **incremental**: what replaces it — read the previous tables file, digest every record, rebuild the
  changed studies and take the rest (``incremental.update_tables``); target ≤ 0.3× the full build;
* end to end, ``tablecache.load_tables`` after the new download, with no usable previous tables (full)
  and with them (incremental): both also load the data set and save the new tables.

The tables of both ways are compared frame by frame (they must be equal).

    .venv/bin/python benchmarks/incremental.py [--n 10000] [--changed 0.05] [--json]
"""

from __future__ import annotations

import argparse
import copy
import random
import shutil
import time
from pathlib import Path

from common import (
    Figure,
    child_reply,
    fmt_s,
    load_average,
    print_figures,
    print_machine,
    run_child,
    save_figures,
    studies,
    temp_dir,
)


def _setup(records: list) -> None:
    from trialfinder.find import places
    from trialfinder.find.tables import build_tables
    from trialfinder.source.store import Dataset, DatasetMeta

    places.load_index()
    build_tables(Dataset(studies=records[:20], meta=DatasetMeta(source="cache", data_timestamp="", fetched_at=None)))


def _child(kind: str, cache: str, out: str) -> None:
    import pandas as pd

    from trialfinder.find import incremental, tablecache
    from trialfinder.find.tablefile import decode_tables, encode_tables
    from trialfinder.find.tables import build_tables
    from trialfinder.source.dataset import load_dataset
    from trialfinder.source.settings import Settings

    settings = Settings(cache_dir=Path(cache))
    if kind.startswith("load"):
        _setup(load_dataset(settings).studies)
        t0 = time.perf_counter()
        tables = tablecache.load_tables(settings)
        seconds = time.perf_counter() - t0
        Path(out).write_bytes(encode_tables(tables))
        child_reply({"seconds": seconds})
        return
    dataset = load_dataset(settings)
    _setup(dataset.studies)
    if kind == "full":
        t0 = time.perf_counter()
        tables = build_tables(dataset)
        child_reply({"seconds": time.perf_counter() - t0})
        return
    (previous_file,) = Path(cache).glob("tables-*.parquets")
    t0 = time.perf_counter()
    previous = decode_tables(previous_file.read_bytes())
    t_read = time.perf_counter() - t0
    digests = incremental.record_digests(dataset)
    t_digest = time.perf_counter() - t0 - t_read
    assert digests and previous.built_by == tablecache.built_by()
    tables = incremental.update_tables(dataset, previous, digests)
    seconds = time.perf_counter() - t0
    full = build_tables(dataset)
    for name in ("studies", "sites", "interventions"):
        pd.testing.assert_frame_equal(getattr(tables, name), getattr(full, name), check_exact=True)
    child_reply({"seconds": seconds, "read_s": t_read, "digest_s": t_digest, "equal": True})


def changed_copy(records: list[dict], share: float, seed: int = 1) -> list[dict]:
    """``records`` with ``share`` of them changed: overall status and last-update date."""
    out = list(records)
    rnd = random.Random(seed)
    for k in rnd.sample(range(len(out)), round(share * len(out))):
        record = out[k] = copy.deepcopy(out[k])
        status = record["protocolSection"].setdefault("statusModule", {})
        was = status.get("overallStatus")
        status["overallStatus"] = "ACTIVE_NOT_RECRUITING" if was == "RECRUITING" else "RECRUITING"
        status["lastUpdatePostDateStruct"] = {"date": "2026-12-01", "type": "ACTUAL"}
    return out


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--changed", type=float, default=0.05)
    parser.add_argument("--json", action="store_true", help="also write benchmarks/out/incremental.json")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child)
        return []

    from apiserver import parse_fields, select_fields

    from trialfinder.source.database import open_store
    from trialfinder.source.query import FIELDS
    from trialfinder.source.settings import Settings
    from trialfinder.source.store import Dataset, DatasetMeta

    print_machine()
    load_before = load_average()
    tree = parse_fields(",".join(FIELDS))
    first = [select_fields(s, tree) for s in studies(args.n)]
    second = changed_copy(first, args.changed)
    with temp_dir() as folder:
        warm, cold = folder / "warm", folder / "cold"
        store = open_store(Settings(cache_dir=warm))  # (the default store: SQLite in the cache folder)
        store.save(Dataset(studies=first, meta=DatasetMeta("live", "2026-11-20", None)))
        run_child("incremental.py", "load-first", str(warm), str(folder / "first.tables"))  # the first refresh
        store.save(Dataset(studies=second, meta=DatasetMeta("live", "2026-12-01", None)))
        cold.mkdir()  # (the same store, no tables file: a full build)
        for part in warm.glob("trialfinder.sqlite*"):  # (the database, and its WAL if one is left)
            shutil.copy2(part, cold / part.name)
        full = run_child("incremental.py", "full", str(cold), "")
        inc = run_child("incremental.py", "incremental", str(warm), "")
        shutil.copytree(warm, folder / "warm2")
        load_full = run_child("incremental.py", "load-full", str(cold), str(folder / "full.tables"))
        load_inc = run_child("incremental.py", "load-incremental", str(folder / "warm2"), str(folder / "inc.tables"))
        same = (folder / "full.tables").read_bytes() == (folder / "inc.tables").read_bytes()
    ratio = inc["seconds"] / full["seconds"]
    end_ratio = load_inc["seconds"] / load_full["seconds"]
    print(f"\n{args.n:,} studies, {args.changed:.0%} changed; load average {load_before} → {load_average()}")
    print(f"  incremental = read previous tables {fmt_s(inc['read_s'])} + digests {fmt_s(inc['digest_s'])} + update; "
          f"tables equal to the full build: {inc['equal']}; load_tables files identical: {same}")
    figures = [
        Figure("5", f"refresh, {args.changed:.0%} of {args.n:,} changed: incremental vs full build_tables",
               fmt_s(inc["seconds"]), fmt_s(full["seconds"]), f"{ratio:.2f}×", "≤ 0.3×", ratio <= 0.3),
        Figure("5", "  … end to end: load_tables after the download (load data set, build, save)",
               fmt_s(load_inc["seconds"]), fmt_s(load_full["seconds"]), f"{end_ratio:.2f}×", "—", None),
    ]
    print_figures("Summary (item 5; the 'naive' column is the full build in the same run)", figures)
    if args.json:
        save_figures("incremental", figures, {"full": full, "incremental": inc, "load_full": load_full,
                                              "load_incremental": load_inc, "identical_files": same})
    return figures


if __name__ == "__main__":
    main()
