"""Item 7 of issue 16: the app's start against its floor, a hello-world Streamlit page, in the same run.

Three kinds of launch, interleaved round by round (so a busy machine slows all three alike), each a new
``streamlit run`` process and a new headless-chromium browser context (an empty browser cache: every
launch is a first visit), timed from just before the command starts until the page's results are
visible: for the hello-world page its one ``stDataFrame`` with data rows; for the app the "N trials
found" heading and the first row of its results list (``present/results.py``; since the list replaced
the grid as the results, the app's grid is in a collapsed expander, "the same trials as a sortable table",
and never shows rows until opened). The app's "page complete" (the script run over: trial detail, map,
charts, what changed) is reported beside it, not used for the ratio.

The order of the three kinds rotates from round to round (each is first, second and third in turn).

* **hello world** — the floor: a 7-line page (``set_page_config``, a title, one ``st.dataframe`` of
  20 rows) written to a temporary folder;
* **app, tables cached** — ``app.py`` with a cache folder where the bundled snapshot's tables were
  already loaded once (``tablecache.load_tables``): a returning user; target ≤ 1.3× the floor;
* **app, first-ever start** — ``app.py`` with a new, empty cache folder each time (offline: the
  bundled snapshot, and the tables shipped with it when ``scripts/build_snapshot.py --tables`` made
  them, as ``scripts/setup.sh`` does); target ≤ 2× the floor.

The app is pointed at a closed port, so it never downloads. Medians over ``--rounds``.

    .venv/bin/python benchmarks/app_start.py [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import common  # noqa: E402,F401,I001  (first: it puts tests/ on sys.path, for apphost)
from apphost import CHROMIUM_ARGS, free_port, start_streamlit, stop_streamlit, wait_healthy  # noqa: E402,I001
from common import (
    ROOT,
    Figure,
    fmt_s,
    load_average,
    median,
    print_figures,
    print_machine,
    print_table,
    save_figures,
    temp_dir,
)

HELLO = '''import pandas as pd
import streamlit as st

st.set_page_config(page_title="hello", layout="wide")
st.title("Hello")
st.dataframe(pd.DataFrame({"n": range(20), "word": ["hello"] * 20}))
'''
TABLE_ROWS_JS = ("() => { const grid = document.querySelector('[data-testid=stDataFrame]');"
                 " return !!grid && grid.querySelectorAll('[role=row]').length > 1; }")
#: the app's results: the heading and the first row of the results list (not its header row)
RESULTS_JS = (r"() => [...document.querySelectorAll('[data-testid=stMain] h2')].some(h => /\d+ trials? found/"
              ".test(h.textContent))"
              " && !!document.querySelector('.tf-results [role=rowgroup]:not(.tf-head) [role=row]')")
DONE_JS = ("() => document.querySelector('[data-testid=stApp]')?.getAttribute('data-test-script-state')"
           " === 'notRunning' && !document.querySelector('[data-testid=stStatusWidget]')")
KINDS = ("hello world", "app, tables cached", "app, first-ever start")


def launch(browser, script: Path, env: dict[str, str], log_path: Path,  # type: ignore[no-untyped-def]
           complete: list[float] | None = None) -> float:
    """Seconds from `streamlit run` to the page's results visible (see above), in a new browser context;
    with ``complete``, also appends the seconds until the script run is over."""
    port = free_port()
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    t0 = time.perf_counter()
    server, log = start_streamlit(env, log_path, port, script)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", server, timeout=120.0, poll=0.02)
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(f"http://127.0.0.1:{port}/", wait_until="commit")
        if script.name == "app.py":
            page.wait_for_function(RESULTS_JS, polling="raf")
            page.locator(".tf-results [role=rowgroup]:not(.tf-head) [role=row]").first.wait_for(state="visible")
        else:
            page.wait_for_function(TABLE_ROWS_JS, polling="raf")
            page.get_by_test_id("stDataFrame").first.wait_for(state="visible")
        shown = time.perf_counter() - t0
        if complete is not None:
            page.wait_for_function(DONE_JS, polling=50)
            complete.append(time.perf_counter() - t0)
        return shown
    finally:
        context.close()
        stop_streamlit(server, log)


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="also write benchmarks/out/app_start.json")
    args = parser.parse_args(argv)
    print_machine()
    chromium = shutil.which("chromium")
    if chromium is None:
        print("chromium is not installed (apt-get install chromium): nothing to measure")
        return []
    from playwright.sync_api import sync_playwright

    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALFINDER_")}
    env.update(PYTHONPATH=str(ROOT), TRIALFINDER_API_URL=f"http://127.0.0.1:{free_port()}/api/v2")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_snapshot.py"), "--tables"], env=env, check=True,
                   capture_output=True)  # (what installing does: scripts/setup.sh)
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    complete: dict[str, list[float]] = {kind: [] for kind in KINDS[1:]}  # the app's script run over
    load_before = load_average()
    with temp_dir() as tmp, sync_playwright() as pw:
        hello = tmp / "hello.py"
        hello.write_text(HELLO)
        warm = tmp / "warm-cache"
        subprocess.run([sys.executable, "-c", "from trialfinder.find.tablecache import load_tables; "
                        "from trialfinder.source.settings import Settings; load_tables(Settings.from_env())"],
                       env={**env, "TRIALFINDER_CACHE_DIR": str(warm)}, check=True, cwd=ROOT)
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            launch(browser, hello, env, tmp / "log")  # (untimed: the first start of anything reads files cold)
            for k in range(args.rounds):
                runs = {"hello world": (hello, env),
                        "app, tables cached": (ROOT / "app.py", {**env, "TRIALFINDER_CACHE_DIR": str(warm)}),
                        "app, first-ever start": (ROOT / "app.py",
                                                  {**env, "TRIALFINDER_CACHE_DIR": str(tmp / f"new-{k}")})}
                order = KINDS[k % 3:] + KINDS[:k % 3]  # (each kind first, second and third in turn)
                for kind in order:
                    script, run_env = runs[kind]
                    times[kind].append(launch(browser, script, run_env, tmp / "log", complete.get(kind)))
                print("  round", k + 1, {kind: fmt_s(times[kind][-1]) for kind in order}, flush=True)
        finally:
            browser.close()
    med = {kind: median(v) for kind, v in times.items()}
    floor = med["hello world"]
    print_table(f"7. `streamlit run` → first results visible (hello: its grid; app: its results list; "
                f"{args.rounds} interleaved rounds; load average {load_before} → {load_average()})",
                ["launch", "min", "median", "max"],
                [[kind, fmt_s(min(v)), fmt_s(med[kind]), fmt_s(max(v))] for kind, v in times.items()])
    print_table("… the same app launches until the page is complete (script run over: detail, map, charts)",
                ["launch", "min", "median", "max"],
                [[kind, fmt_s(min(v)), fmt_s(median(v)), fmt_s(max(v))] for kind, v in complete.items() if v])
    cached, first = med["app, tables cached"] / floor, med["app, first-ever start"] / floor
    figures = [
        Figure("7", "app start → first results, tables cached", fmt_s(med["app, tables cached"]), fmt_s(floor),
               f"{cached:.2f}× hello world", "≤ 1.3×", cached <= 1.3),
        Figure("7", "app first-ever start → first results", fmt_s(med["app, first-ever start"]), fmt_s(floor),
               f"{first:.2f}× hello world", "≤ 2×", first <= 2.0),
    ]
    print_figures("Summary (item 7; the 'naive' column is the hello-world page in the same run)", figures)
    if args.json:
        save_figures("app_start", figures, {"times": times, "complete": complete, "load_average": load_average()})
    return figures


if __name__ == "__main__":
    main()
