"""Item 3: refresh + load time, cold and warm, for the fixture set and for 10,000 studies.

Definitions (all in one process, against the loopback API, production code paths):

* **refresh (cold)** — ``dataset.refresh_dataset`` with an empty cache directory: ``/version`` and
  every ``/studies`` page from the API, the HTTP cache written, the data set saved.
* **refresh (warm)** — ``refresh_dataset`` again with a new session on the same cache directory:
  every answer is a requests-cache hit (the server log must stay empty), the data set is saved
  again (same body, same checksum).
* **load (warm)** — ``tablecache.load_tables``, what the app and the CLI call: ``load_dataset``
  (read ``current.json``, check its SHA-256, ``json.loads``) and then the built tables from the
  pickle kept for that checksum and code version.
* **load (new data)** — ``load_tables`` with no pickle for this data set yet: ``load_dataset`` +
  ``build_tables`` (normalize, classify, locate sites, frames) + writing the pickle. This is what
  the first start after a refresh that changed the data pays.
* components: ``load_dataset`` alone and ``build_tables`` alone.
* **refresh + load (warm)** = refresh (warm) + load (warm) — what the targets are measured on.

Warm figures are medians of ``--repeat`` runs, after one untimed ``build_tables`` (one-off costs:
geo data, regex compilation, imports). Targets (warm, in-process): fixture set <= 0.3 s,
10,000 studies <= 3 s.

The naive client has no HTTP cache: its warm refresh downloads everything again. Its load is
``json.load`` of its dump + ``pandas.json_normalize`` (no classification, no site location), so
the load ratio compares unequal work — the table says so.

    .venv/bin/python benchmarks/refresh_load.py [--sizes 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse

from common import (
    BENCH_QUERY,
    Figure,
    bench_settings,
    fixture_studies,
    fmt_ratio,
    fmt_s,
    load_average,
    median,
    print_figures,
    print_machine,
    print_table,
    repeat,
    save_figures,
    serve,
    studies,
    temp_dir,
    timed,
    warm_server,
)
from naive import naive_fetch, naive_load, naive_save, naive_tables

from trialfinder.find.tablecache import load_tables
from trialfinder.find.tables import build_tables
from trialfinder.source.dataset import load_dataset, refresh_dataset
from trialfinder.source.session import build_session

TARGETS = {"fixture set": 0.3, "10,000": 3.0}


def measure(label: str, records: list[dict], reps: int) -> dict:
    out: dict = {"label": label}
    with serve(records) as api, temp_dir() as cache:
        warm_server(api)
        settings = bench_settings(api.url, cache)

        session = build_session(settings)
        (dataset, result), out["cold_refresh"] = timed(lambda: refresh_dataset(settings, BENCH_QUERY, session=session))
        session.close()
        out["n"] = len(dataset.studies)
        out["cold_requests"] = len(api.requests)
        api.reset_log()

        session = build_session(settings)
        warm = []
        for _ in range(reps):
            (_, result), seconds = timed(lambda: refresh_dataset(settings, BENCH_QUERY, session=session))
            warm.append(seconds)
            assert result.from_cache, "warm refresh was not served from the cache"
        session.close()
        out["warm_requests"] = len(api.requests)
        out["warm_refresh"] = median(warm)
        out["load"] = median(repeat(lambda: load_dataset(settings), reps))
        loaded = load_dataset(settings)
        assert loaded.meta.source == "cache" and len(loaded.studies) == out["n"]
        build_tables(loaded)  # first call pays one-off costs (geo data, regex compilation)
        out["tables"] = median(repeat(lambda: build_tables(loaded), max(1, reps if out["n"] <= 2000 else 1)))
        del loaded
        for old in cache.glob("tables-*"):
            old.unlink()
        out["load_new"] = timed(lambda: load_tables(settings))[1]
        out["load_warm"] = median(repeat(lambda: load_tables(settings), reps))
        assert list(cache.glob("tables-*")), "load_tables kept no tables file"

        naive_file = cache / "naive.json"
        fetched, out["naive_cold_refresh"] = timed(lambda: naive_fetch(api.url, BENCH_QUERY))
        out["naive_cold_refresh"] += timed(lambda: naive_save(fetched.studies, naive_file))[1]
        out["naive_requests"] = fetched.requests
        again, out["naive_warm_refresh"] = timed(lambda: naive_fetch(api.url, BENCH_QUERY))
        out["naive_warm_refresh"] += timed(lambda: naive_save(again.studies, naive_file))[1]
        out["naive_load"] = median(repeat(lambda: naive_tables(naive_load(naive_file)), reps))
    out["warm_total"] = out["warm_refresh"] + out["load_warm"]
    out["naive_warm_total"] = out["naive_warm_refresh"] + out["naive_load"]
    out["naive_app_start"] = out["naive_load"]
    return out


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000", help="replicated sizes besides the fixture set")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="also write benchmarks/out/refresh_load.json")
    args = parser.parse_args(argv)
    print_machine()

    cases = [("fixture set", list(fixture_studies()))]
    cases += [(f"{int(n):,}", studies(int(n))) for n in args.sizes.split(",") if n]
    results = []
    for label, records in cases:
        results.append(measure(label, records, args.repeat))
        del records
        print(f"  measured {label} (load average {load_average()})", flush=True)

    rows = []
    for r in results:
        for key, naive_key, what in (
            ("cold_refresh", "naive_cold_refresh", "refresh, cold (empty cache)"),
            ("warm_refresh", "naive_warm_refresh", "refresh, warm (cache hit)"),
            ("load", None, "  load_dataset alone"),
            ("tables", None, "  build_tables alone"),
            ("load_new", "naive_app_start", "load, new data (load_tables: build + pickle)"),
            ("load_warm", "naive_app_start", "load, warm (load_tables: pickle hit)"),
            ("warm_total", "naive_warm_total", "refresh warm + load warm"),
        ):
            naive = r[naive_key] if naive_key else None
            rows.append([f"{r['label']} ({r['n']:,})", what, fmt_s(r[key]), fmt_s(naive), fmt_ratio(naive, r[key])])
    print_table("3. Refresh and load (in-process, loopback API; warm = median of runs)",
                ["data set", "step", "TrialFinder", "naive", "ratio"], rows)
    for r in results:
        print(f"  {r['label']}: cold refresh sent {r['cold_requests']} requests, warm refreshes sent "
              f"{r['warm_requests']}; naive sent {r['naive_requests']} each time (it has no cache). "
              "Naive load = json.load + json_normalize, no classification or site location.")

    figures = []
    for r in results:
        target = TARGETS.get(r["label"])
        figures.append(Figure("3", f"refresh, cold, {r['label']} ({r['n']:,})", fmt_s(r["cold_refresh"]),
                              fmt_s(r["naive_cold_refresh"]), fmt_ratio(r["naive_cold_refresh"], r["cold_refresh"]),
                              "—", None))
        figures.append(Figure("3", f"refresh warm + load warm, {r['label']}", fmt_s(r["warm_total"]),
                              fmt_s(r["naive_warm_total"]), fmt_ratio(r["naive_warm_total"], r["warm_total"]),
                              f"≤ {target:g} s" if target else "—", r["warm_total"] <= target if target else None))
        figures.append(Figure("3", "  … refresh warm / load warm (of which load_dataset)",
                              f"{fmt_s(r['warm_refresh'])} / {fmt_s(r['load_warm'])} ({fmt_s(r['load'])})",
                              f"{fmt_s(r['naive_warm_refresh'])} / {fmt_s(r['naive_load'])} (load+normalize)",
                              fmt_ratio(r["naive_warm_refresh"], r["warm_refresh"]) + " (refresh)", "—", None))
        figures.append(Figure("3", "  … load after new data (load_dataset + build_tables + pickle)",
                              fmt_s(r["load_new"]), fmt_s(r["naive_load"]) + " (no classify)",
                              fmt_ratio(r["naive_load"], r["load_new"]), "—", None))
    print_figures("Summary (item 3)", figures)
    if args.json:
        save_figures("refresh_load", figures, {"results": results})
    return figures


if __name__ == "__main__":
    main()
