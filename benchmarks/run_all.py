"""Run every benchmark script one after the other and print one summary table.

Each script runs in its own interpreter (so one's memory and caches do not colour the next), with
its output shown as it comes; each writes its figures to ``benchmarks/out/<name>.json``
(git-ignored), which this script gathers into the summary. The summary is also written as a
Markdown table to ``benchmarks/out/summary.md`` for the README.

    .venv/bin/python benchmarks/run_all.py [--only requests_bytes,filter_distance]

Scripts written by others (``classification.py``, ``app_rerender.py``) are not run here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from common import BENCH_DIR, OUT_DIR, ROOT, Figure, fmt_s, load_average, machine, print_figures

SCRIPTS = ("startup", "requests_bytes", "refresh_load", "throughput", "incremental", "filter_distance", "app_start",
           "app_browser")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="comma list of scripts (default: all)")
    args = parser.parse_args(argv)
    chosen = [s for s in args.only.split(",") if s] or list(SCRIPTS)
    unknown = set(chosen) - set(SCRIPTS)
    if unknown:
        parser.error(f"unknown script(s): {', '.join(sorted(unknown))}; choose from {', '.join(SCRIPTS)}")

    m = machine()
    print(f"machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram']} RAM; Python {m['python']}, pandas {m['pandas']}, "
          f"numpy {m['numpy']}; {m['os']}")
    figures: list[Figure] = []
    durations: dict[str, float] = {}
    failed: list[str] = []
    for name in chosen:
        (OUT_DIR / f"{name}.json").unlink(missing_ok=True)
        print(f"\n=== {name}.py (load average {load_average()}) " + "=" * 40, flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(BENCH_DIR / f"{name}.py"), "--json"], cwd=ROOT)
        durations[name] = time.perf_counter() - start
        out = OUT_DIR / f"{name}.json"
        if code != 0 or not out.exists():
            failed.append(name)
            print(f"!!! {name}.py failed (exit {code})", flush=True)
            continue
        figures += [Figure(**f) for f in json.loads(out.read_text())["figures"]]

    print("\n" + "=" * 100)
    print_figures("Summary of all benchmarks", figures)
    print("\nwall time per script: " + ", ".join(f"{k} {fmt_s(v)}" for k, v in durations.items()))
    missed = [f for f in figures if f.met is False]
    print(f"{sum(f.met is True for f in figures)} targets met, {len(missed)} missed"
          + (f"; scripts failed: {', '.join(failed)}" if failed else ""))

    lines = ["| # | measure | TrialFinder | naive | ratio | target | verdict |", "|---|---|---|---|---|---|---|"]
    for f in figures:
        verdict = {True: "met", False: "**missed**", None: "—"}[f.met]
        metric = f.metric.replace("  … ", "… ").replace("|", "\\|")
        lines.append(f"| {f.item} | {metric} | {f.ours} | {f.naive} | {f.ratio} | {f.target} | {verdict} |")
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "summary.md").write_text("\n".join(lines) + "\n")
    print(f"Markdown table: {OUT_DIR / 'summary.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
