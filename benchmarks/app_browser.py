"""Item 6: the app in a real browser — start-up until the results table is visible, and re-render
time after a filter change.

Setup (not timed): the fixture set is served by the loopback API and fetched once with
``refresh_dataset`` into a temporary cache directory, and ``tablecache.load_tables`` builds the
tables file the app reads (a warm cache: ``dataset/current.json`` and ``tables-*`` exist);
the app is pointed at a closed port, so it cannot download anything. Headless Debian chromium
is launched through Playwright (``executable_path=shutil.which("chromium")``; never
``playwright install``) before the clock starts: the user's browser is already open.

Start-up, per launch (``--launches``, a new ``streamlit run`` process each time, on the same port
and in the same browser context: launch 1 is a first visit with an empty browser cache, later
launches are a returning visitor whose browser has Streamlit's JavaScript cached):

* t0: just before ``streamlit run app.py`` is started (headless, on a free port, with
  ``TRIALFINDER_CACHE_DIR`` pointing at the warm cache);
* server ready: ``/_stcore/health`` answers 200 (polled every 20 ms), then the page is opened;
* **table visible**: the results list (``.tf-results``) is visible with a trial's record link;
* page complete: the script run has finished (``stApp[data-test-script-state=notRunning]``),
  i.e. the map and charts below the table were sent as well.

Re-render, after start-up (``--repeat`` times each, medians):

* **filter change**: type "azacitidine" into the sidebar text search and press Enter (then clear
  it again, alternately); timed from the key press until the results caption says (or stops
  saying) ``mentions "azacitidine"`` and the script run has finished;
* **new location**: type a new ZIP code and press Enter; timed until "Distances are measured from
  …<ZIP>" is shown and the run has finished.

Targets: start-up <= 3 s; re-render <= 300 ms. There is no naive app to compare with, so these
figures have no ratio.

    .venv/bin/python benchmarks/app_browser.py [--launches 3] [--repeat 5] [--n 0]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
from pathlib import Path

import common  # noqa: E402,F401,I001  (first: it puts tests/ on sys.path, for apphost)
from apphost import CHROMIUM_ARGS, free_port, start_streamlit, stop_streamlit, wait_healthy  # noqa: E402,I001
from common import (
    BENCH_QUERY,
    ROOT,
    Figure,
    bench_settings,
    fixture_studies,
    fmt_s,
    median,
    print_figures,
    print_machine,
    print_table,
    save_figures,
    serve,
    studies,
    temp_dir,
)

from trialfinder.find.tablecache import load_tables
from trialfinder.source.dataset import refresh_dataset
from trialfinder.source.session import build_session

TABLE_ROWS_JS = ("() => { const list = document.querySelector('.tf-results');"
                 " return !!list && list.querySelectorAll('[role=row] a').length > 0; }")
IDLE = "document.querySelector('[data-testid=stApp]')?.getAttribute('data-test-script-state') === 'notRunning'"
SEARCH_LABEL = "Search titles, drugs, drug classes, sponsor"
WHERE_LABEL = "Where do you live? (ZIP code or city)"
ZIPS = ("85719", "77030", "10021", "55905", "98109", "02115")
START_TARGET, RERENDER_TARGET = 3.0, 0.300


def warm_cache(cache: Path, n: int) -> int:
    records = list(fixture_studies()) if n <= 0 else studies(n)
    with serve(records) as api:
        settings = bench_settings(api.url, cache)
        session = build_session(settings)
        dataset, _ = refresh_dataset(settings, BENCH_QUERY, session=session)
        session.close()
    load_tables(settings)  # the app's table pickle for this data set: a warm cache has it
    return len(dataset.studies)


def start_app(cache: Path, log_path: Path, port: int) -> tuple[subprocess.Popen, int, float, object]:
    env = {**os.environ, "TRIALFINDER_CACHE_DIR": str(cache),
           "TRIALFINDER_API_URL": f"http://127.0.0.1:{free_port()}/api/v2"}  # closed port: no downloads
    env.pop("TRIALFINDER_SNAPSHOT_DIR", None)
    t0 = time.perf_counter()
    server, log = start_streamlit(env, log_path, port)
    return server, port, t0, log


def launch_once(context, cache: Path, log_path: Path, port: int):  # type: ignore[no-untyped-def]
    """One cold start of `streamlit run`; returns timings and the (still open) server + page."""
    server, port, t0, log = start_app(cache, log_path, port)
    wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", server, timeout=60.0, poll=0.02)
    t_ready = time.perf_counter()
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"http://127.0.0.1:{port}/", wait_until="commit")
    page.wait_for_function("() => document.body.innerText.includes('relapsed or refractory acute myeloid')",
                           polling="raf")
    t_caption = time.perf_counter()  # the script is running: imports done, page header sent
    page.wait_for_function(r"() => /\d trials? found/.test(document.body.innerText)", polling="raf")
    t_heading = time.perf_counter()  # tables loaded and searched: "N trials found" shown
    page.wait_for_function(TABLE_ROWS_JS, polling="raf")
    page.locator(".tf-results").first.wait_for(state="visible")
    t_table = time.perf_counter()
    page.wait_for_function(f"() => {IDLE}", polling="raf")
    t_done = time.perf_counter()
    timings = {"ready": t_ready - t0, "header": t_caption - t0, "heading": t_heading - t0, "table": t_table - t0,
               "done": t_done - t0}
    return timings, (server, log), page


def rerender(page, action, condition_js: str) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(seconds until the page shows the change, seconds until the script run has finished)."""
    start = time.perf_counter()
    action()
    page.wait_for_function(f"() => {condition_js}", polling="raf")
    shown = time.perf_counter() - start
    page.wait_for_function(f"() => ({condition_js}) && {IDLE}", polling="raf")
    return shown, time.perf_counter() - start


def measure_rerenders(page, repeat: int) -> dict[str, list[tuple[float, float]]]:  # type: ignore[no-untyped-def]
    out: dict[str, list[tuple[float, float]]] = {"filter": [], "place": []}
    search_box = page.get_by_label(SEARCH_LABEL)
    mentions = "document.body.innerText.includes('mentions \"azacitidine\"')"
    for i in range(repeat * 2):
        on = i % 2 == 0
        search_box.fill("azacitidine" if on else "")
        out["filter"].append(rerender(page, lambda: search_box.press("Enter"), mentions if on else f"!{mentions}"))
    where = page.get_by_label(WHERE_LABEL)
    for i in range(repeat):
        zip_code = ZIPS[i % len(ZIPS)]
        where.fill(zip_code)
        shown = ("document.body.innerText.includes('Distances are measured from')"
                 f" && document.body.innerText.includes('{zip_code}')")
        out["place"].append(rerender(page, lambda: where.press("Enter"), shown))
    return out


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--launches", type=int, default=3, help="cold `streamlit run` starts to time")
    parser.add_argument("--repeat", type=int, default=5, help="re-renders of each kind")
    parser.add_argument("--n", type=int, default=0, help="replicated studies in the cache (0: the fixture set)")
    parser.add_argument("--json", action="store_true", help="also write benchmarks/out/app_browser.json")
    args = parser.parse_args(argv)
    print_machine()
    chromium = shutil.which("chromium")
    missing = ("app.py does not exist yet" if not (ROOT / "app.py").exists() else
               "chromium is not installed (apt-get install chromium)" if chromium is None else None)
    if missing:
        print(f"{missing}: nothing to measure")
        figures = [Figure("6", f"not measured: {missing}", "—", "n/a", "—", "≤ 3 s; ≤ 300 ms", None)]
        if args.json:
            save_figures("app_browser", figures)
        return figures
    from playwright.sync_api import sync_playwright

    with temp_dir() as tmp, sync_playwright() as pw:
        cache = tmp / "cache"
        n = warm_cache(cache, args.n)
        print(f"warm cache: {n:,} studies in {cache / 'dataset' / 'current.json'}")
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        # one browser context and one port for every launch: launch 1 meets an empty browser cache
        # (a first visit), later launches find Streamlit's JavaScript cached (a returning visitor)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        port = free_port()
        try:
            starts, renders = [], {"filter": [], "place": []}
            for i in range(args.launches):
                timings, (server, log), page = launch_once(context, cache, tmp / "streamlit.log", port)
                try:
                    starts.append(timings)
                    if i == args.launches - 1:
                        renders = measure_rerenders(page, args.repeat)
                finally:
                    page.close()
                    stop_streamlit(server, log)
        finally:
            context.close()
            browser.close()

    rows = [[str(i + 1), fmt_s(s["ready"]), fmt_s(s["header"]), fmt_s(s["heading"]), fmt_s(s["table"]),
             fmt_s(s["done"])] for i, s in enumerate(starts)]
    print_table(f"6a. `streamlit run` (warm cache, {n:,} studies) → results table visible in headless chromium "
                "(seconds since the command started)",
                ["launch", "server ready", "page header shown", "'N trials found' shown", "table visible",
                 "page complete"], rows)
    rows = []
    for kind, label in (("filter", "text filter on/off"), ("place", "new ZIP code")):
        shown, done = [r[0] for r in renders[kind]], [r[1] for r in renders[kind]]
        rows.append([label, str(len(shown)), fmt_s(median(shown)), fmt_s(min(shown)), fmt_s(max(shown)),
                     fmt_s(median(done))])
    print_table("6b. Re-render after a change (from the key press)",
                ["change", "runs", "shown, median", "min", "max", "run finished, median"], rows)

    first = starts[0]["table"]
    returning = median([s["table"] for s in starts[1:]]) if len(starts) > 1 else None
    figures = [
        Figure("6", f"streamlit run → table visible, first visit ({n:,} studies)", fmt_s(first),
               "n/a", "—", "≤ 3 s", first <= START_TARGET),
    ]
    if returning is not None:
        figures.append(Figure("6", f"streamlit run → table visible, browser cache warm (median of {len(starts) - 1})",
                              fmt_s(returning), "n/a", "—", "≤ 3 s", returning <= START_TARGET))
    figures.append(Figure("6", "  … server ready / 'N trials found' shown (median)",
                          f"{fmt_s(median([s['ready'] for s in starts]))} / "
                          f"{fmt_s(median([s['heading'] for s in starts]))}",
                          "n/a", "—", "—", None))
    for kind, label in (("filter", "re-render after a filter change"), ("place", "re-render after a new location")):
        shown = median([r[0] for r in renders[kind]])
        figures.append(Figure("6", label, fmt_s(shown), "n/a", "—", "≤ 300 ms", shown <= RERENDER_TARGET))
    print_figures("Summary (item 6)", figures)
    if args.json:
        save_figures("app_browser", figures, {"starts": starts, "renders": renders, "n": n})
    return figures


if __name__ == "__main__":
    main()
