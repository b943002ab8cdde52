"""Issue 17: many people on two app replicas over one shared store, with a refresh in the middle.

What runs (the plain-process recipe of README's "Running it for many people"):

* the loopback replay API (tests/apiserver.py, in this process) serving data set **A** (the bundled
  fixtures); the store's version A is written by a ``trialfinder fetch`` process;
* the shared services: the store selected by ``TRIALFINDER_DATABASE_URL`` (unset: SQLite/files in one
  ``TRIALFINDER_CACHE_DIR``; ``--database-url``, or ``--postgres`` to start a throw-away PostgreSQL with
  tests/pgserver.py), and a Redis HTTP cache (tests/redisserver.py) when ``redis-server`` is installed;
* two Streamlit replicas, plain processes: ``streamlit run app.py --server.port P`` with
  ``TRIALFINDER_ALLOW_REFRESH=false`` (replicas only read) and the same TRIALFINDER_* environment;
* ``--sessions`` (50) concurrent headless Chromium contexts (Debian's chromium through Playwright,
  never ``playwright install``), session i on replica i mod 2 (sticky, as behind a load balancer),
  each one of the three people of README, arriving by a link (the app's URL parameters):
  the patient (``near=85719&radius=250&age=58``), the hematologist (menin/FLT3, targeted, recruiting,
  phase 1/2, United States) and the navigator (Texas, with "What changed since the last refresh").
  Each session opens its link, waits for the results, "reads" for ``--think`` seconds (random ±50 %),
  and opens it again, until ``--duration`` is over;
* at ``--refresh-at`` seconds the API starts serving data set **B** (A plus one changed copy of every
  study: every search finds more) and a separate ``trialfinder fetch`` process writes it to the store.

Measured, per page load: **time to results**, from ``page.goto`` until the "N trials found" heading and
the first row of the results list are shown (p50/p95, target p95 <= 2 s; "page complete", the script run
finished, is reported beside it); **errors** (a load that timed out,
a Streamlit exception or error box, a lost connection); **partial views**: each load's numbers (trials
found, the banner's study count, and for the navigator the number of changes) must be those of the
complete set A or the complete set B (computed here with the library on A and B alone) — anything else,
or a session going back from B to A, is counted partial (target 0/0). And how long after the refresh
the sessions showed B (bounded by ``TRIALFINDER_VERSION_CHECK``, default 30 s).

    .venv/bin/python benchmarks/load.py [--sessions 50] [--duration 100] [--refresh-at 30] [--think 10]
                                       [--postgres | --database-url URL] [--no-redis]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import common  # noqa: F401,I001  (first: it puts tests/ and the repository on sys.path)
from apiserver import ApiServer, load_fixture_studies, replicate  # noqa: E402
from apphost import CHROMIUM_ARGS, free_port, start_streamlit, stop_streamlit, wait_healthy  # noqa: E402
from common import OUT_DIR, ROOT, print_machine, print_table, temp_dir  # noqa: E402

TARGET_P95 = 2.0
#: every host but loopback fails to resolve (map tiles and the like): no network, and unlike a Playwright
#: route it keeps the browser's HTTP cache, as a real visitor's
NO_NETWORK = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
LOAD_TIMEOUT_MS = 60_000

#: the three people of README, as the links they would open (the app's URL parameters, present/urlstate.py)
SEARCHES: dict[str, dict[str, list[str]]] = {
    "patient": {"near": ["85719"], "radius": ["250"], "age": ["58"]},
    "hematologist": {"q": ["menin, FLT3"], "cat": ["targeted"], "phase": ["1", "2"], "status": ["recruiting"],
                     "country": ["United States"]},
    "navigator": {"country": ["United States"], "state": ["Texas"]},
}

#: the results are on the page: the "N trials found" heading and the results list (present/results.py) with
#: its first trial row — or no row when N is 0. (The grid of the same trials is in a collapsed expander and
#: draws no rows until opened.) textContent of a few nodes, not the body's innerText: polled every 50 ms in
#: every page, innerText would lay the page out each time
RESULTS_JS = r"""() => {
  const found = [...document.querySelectorAll('[data-testid=stMain] h2')]
    .map(h => h.textContent.match(/^(\d+) trials? found/)).find(m => m);
  return !!found && (+found[1] === 0
    || !!document.querySelector('.tf-results [role=rowgroup]:not(.tf-head) [role=row]'));
}"""

#: what a loaded page shows, read in the browser once the script run has finished
READ_JS = r"""() => {
  const app = document.querySelector('[data-testid=stApp]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return null;
  const text = document.body.innerText;
  const found = text.match(/(\d+) trials? found/);
  if (!found) return null;
  const total = text.match(/· (\d+) studies/);
  // the expander's label: "What changed since the last refresh[ · sites in <region>][ (N)]"
  const label = [...document.querySelectorAll('[data-testid=stExpander] summary')]
    .map(e => e.textContent).find(t => t.includes('What changed since the last refresh'));
  const changes = label === undefined ? null : label.match(/\((\d+)\)\s*$/) || [label];
  const errors = document.querySelectorAll('[data-testid=stException], [data-testid=stAlertContentError]').length;
  return {found: +found[1], total: total ? +total[1] : -1,
          changes: changes ? (changes[1] === undefined ? 0 : +changes[1]) : -1,
          errors: errors, lost: text.includes('Connection error')};
}"""


@dataclass
class Load:
    session: int
    person: str
    started: float  # seconds since the run began
    seconds: float | None  # time to results; None: failed
    complete: float | None = None  # time until the script run finished (map, charts, changes too)
    shown: tuple[int, int, int] | None = None  # (found, total, changes)
    version: str = "?"  # "A", "B" or "partial"
    error: str = ""
    first: bool = False  # the context's first load: a first visit, nothing in the browser's cache


@dataclass
class Run:
    loads: list[Load] = field(default_factory=list)
    refresh: dict[str, Any] = field(default_factory=dict)


# --- the data sets and what a complete one shows ----------------------------------------------

def data_sets() -> tuple[list[dict], list[dict]]:
    a = load_fixture_studies()
    return a, a + replicate(a, len(a), seed=17)  # B: every study twice (a changed copy under a new id)


def expected_views(api: ApiServer, a: list[dict], b: list[dict], scratch: Path) -> dict[str, dict[str, tuple]]:
    """What each search shows on the complete set A and on the complete set B: (found, total, changes)."""
    from conftest import fast_settings

    from trialfinder.find import places
    from trialfinder.find.changes import Region, changes_since_last_refresh
    from trialfinder.find.filters import search
    from trialfinder.find.tables import build_tables
    from trialfinder.present.urlstate import spec_from_params
    from trialfinder.source.dataset import refresh_dataset

    out: dict[str, dict[str, tuple]] = {}
    settings = fast_settings(api.url, scratch)
    for name, records in (("A", a), ("B", b)):
        api.set_studies(records)
        dataset, _ = refresh_dataset(settings, refresh=True)
        tables = build_tables(dataset)
        for person, params in SEARCHES.items():
            spec, problems = spec_from_params(params, locate=places.geocode)
            assert not problems, problems
            try:  # what the app's "what changed" counts: the searched region's changes (none before B)
                region = Region(spec.countries, spec.states)
                changes = len(changes_since_last_refresh(settings, region).table) if name == "B" else 0
            except Exception:  # (no previous set)
                changes = 0
            out.setdefault(person, {})[name] = (len(search(tables, spec).studies), len(tables.studies), changes)
    api.set_studies(a)
    return out


def classify(shown: tuple[int, int, int], person: str, expected: dict[str, dict[str, tuple]]) -> str:
    found, total, changes = shown
    for name in ("A", "B"):
        want_found, want_total, want_changes = expected[person][name]
        if (found, total) == (want_found, want_total) and (person != "navigator" or changes == want_changes):
            return name
    return "partial"


# --- the services -------------------------------------------------------------------------------

def fetch_process(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trialfinder", "fetch", "--refresh"], env=env, capture_output=True,
                          text=True, timeout=300)


def service_env(api: ApiServer, store: Path, database_url: str | None, cache_url: str | None,
                version_check: float | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALFINDER_")}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
               TRIALFINDER_API_URL=api.url, TRIALFINDER_CACHE_DIR=str(store), TRIALFINDER_ALLOW_REFRESH="false",
               TRIALFINDER_MAX_REQUESTS_PER_MINUTE="100000")
    if database_url:
        env["TRIALFINDER_DATABASE_URL"] = database_url
    if cache_url:
        env["TRIALFINDER_CACHE_URL"] = cache_url
    if version_check:
        env["TRIALFINDER_VERSION_CHECK"] = f"{version_check:g}"
    return env


def start_postgres(stack: ExitStack) -> str:
    """A throw-away PostgreSQL on loopback (tests/pgserver.py: initdb in a temporary folder; fsync off)."""
    from pgserver import PgServer, pg_bin

    binaries = pg_bin()
    if binaries is None:
        sys.exit("--postgres needs Debian's postgresql (apt-get install postgresql); or give --database-url")
    server = stack.enter_context(PgServer(binaries))
    return server.create_database("trialfinder")


def start_redis(stack: ExitStack, where: Path, wanted: bool) -> str | None:
    if not wanted or shutil.which("redis-server") is None:
        return None
    from redisserver import RedisServer

    return stack.enter_context(RedisServer(where)).url


# --- the browser sessions -----------------------------------------------------------------------

async def one_load(page: Any, url: str) -> tuple[float, float, dict[str, Any]]:
    """(seconds until the results are shown, seconds until the page is complete, what it shows)."""
    start = time.perf_counter()
    await page.goto(url, wait_until="commit", timeout=LOAD_TIMEOUT_MS)
    await page.wait_for_function(RESULTS_JS, polling=50, timeout=LOAD_TIMEOUT_MS)
    shown = time.perf_counter() - start
    handle = await page.wait_for_function(READ_JS, polling=50, timeout=LOAD_TIMEOUT_MS)
    return shown, time.perf_counter() - start, await handle.json_value()


async def session(i: int, browser: Any, base: str, t0: float, until: float, think: float,
                  expected: dict[str, dict[str, tuple]], run: Run) -> None:
    person = list(SEARCHES)[i % len(SEARCHES)]
    url = f"{base}/?{urlencode(SEARCHES[person], doseq=True)}"
    rng = random.Random(i)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await asyncio.sleep(rng.uniform(0, think))  # arrivals spread over one think time
    first = True
    try:
        while time.perf_counter() < until:
            started = time.perf_counter() - t0
            try:
                seconds, complete, seen = await one_load(page, url)
            except Exception as exc:  # a time-out, a crashed page: an error, and the session goes on
                kind = f"{type(exc).__name__}: {str(exc).splitlines()[0][:60] if str(exc) else ''}"
                run.loads.append(Load(i, person, started, None, error=kind, first=first))
                first = False
                await asyncio.sleep(max(0.0, rng.uniform(0.5, 1.5) * think))  # (a person tries again later)
                continue
            shown = (seen["found"], seen["total"], seen["changes"])
            load = Load(i, person, started, seconds, complete, shown, classify(shown, person, expected), first=first)
            first = False
            if seen["errors"] or seen["lost"]:
                load.error = "error box" if seen["errors"] else "connection lost"
            run.loads.append(load)
            await asyncio.sleep(max(0.0, rng.uniform(0.5, 1.5) * think))
    finally:
        await context.close()


async def refresher(env: dict[str, str], api: ApiServer, b: list[dict], at: float, t0: float, run: Run) -> None:
    await asyncio.sleep(max(0.0, t0 + at - time.perf_counter()))
    api.set_studies(b)
    run.refresh["started"] = time.perf_counter() - t0
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "trialfinder", "fetch", "--refresh", env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    run.refresh.update(ended=time.perf_counter() - t0, code=proc.returncode,
                       output=(out.decode().strip() or err.decode().strip()))


async def serial_cost(browser: Any, base: str, pid: int, repeat: int) -> dict[str, float | None]:
    """One person at a time on one replica: the replica's CPU seconds per page load (CPU time, so other
    work on the machine does not inflate it), for a first visit and for a returning one."""
    first: list[float] = []
    again: list[float] = []
    for params in SEARCHES.values():
        context = await browser.new_context()
        page = await context.new_page()
        for k in range(repeat):
            before = proc_cpu(pid)
            await one_load(page, f"{base}/?{urlencode(params, doseq=True)}")
            await asyncio.sleep(0.3)  # (the run's last messages)
            (first if k == 0 else again).append(proc_cpu(pid) - before)
        await context.close()
    return {"first_visit": statistics.median(first) if first else None,
            "returning": statistics.median(again) if again else None}


async def drive(bases: list[str], env: dict[str, str], api: ApiServer, b: list[dict], args: argparse.Namespace,
                expected: dict[str, dict[str, tuple]], pid: int) -> Run:
    from playwright.async_api import async_playwright

    run = Run()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=shutil.which("chromium"), args=[*CHROMIUM_ARGS, NO_NETWORK])
        try:
            for base in bases:  # not timed: each replica loads its tables once
                page = await browser.new_page()
                await one_load(page, f"{base}/")
                await page.close()
            if args.serial:
                run.refresh["server_cpu_per_load_s"] = await serial_cost(browser, bases[0], pid, args.serial)
            t0 = time.perf_counter()
            until = t0 + args.duration
            tasks = [session(i, browser, bases[i % len(bases)], t0, until, args.think, expected, run)
                     for i in range(args.sessions)]
            await asyncio.gather(refresher(env, api, b, args.refresh_at, t0, run), *tasks)
            run.refresh["load_average_at_end"] = os.getloadavg()
        finally:
            await browser.close()
    return run


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """CPU seconds of this process's finished children (the browser and its driver, the fetch)."""
    times = os.times()
    return times.children_user + times.children_system


# --- the report -----------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def went_back(loads: list[Load]) -> int:
    """Sessions that showed B and later A again."""
    back = 0
    for i in {load.session for load in loads}:
        seen = [load.version for load in sorted(loads, key=lambda x: x.started) if load.session == i]
        if "B" in seen and "A" in seen[seen.index("B"):]:
            back += 1
    return back


def summarize(run: Run, sessions: int) -> dict[str, Any]:
    ok = [load for load in run.loads if load.seconds is not None]
    times = [load.seconds for load in ok if load.seconds is not None]
    complete = [load.complete for load in ok if load.complete is not None]
    returning = [load.seconds for load in ok if load.seconds is not None and not load.first]
    ended = run.refresh.get("ended")
    first_b: dict[int, float] = {}
    for load in sorted(ok, key=lambda x: x.started):
        if load.version == "B" and ended is not None:
            first_b.setdefault(load.session, load.started + (load.seconds or 0.0) - ended)
    return {
        "sessions": sessions,
        "loads": len(run.loads),
        "p50_s": percentile(times, 50), "p95_s": percentile(times, 95), "max_s": max(times, default=None),
        "complete_p50_s": percentile(complete, 50), "complete_p95_s": percentile(complete, 95),
        "returning_loads": len(returning),
        "returning_p50_s": percentile(returning, 50), "returning_p95_s": percentile(returning, 95),
        "errors": sum(1 for load in run.loads if load.seconds is None or load.error),
        "error_kinds": sorted({load.error for load in run.loads if load.error}),
        "partial": sum(1 for load in ok if load.version == "partial"),
        "went_back": went_back(ok),
        "loads_A": sum(1 for load in ok if load.version == "A"),
        "loads_B": sum(1 for load in ok if load.version == "B"),
        "sessions_that_saw_B": len(first_b),
        "B_shown_after_refresh_s": [min(first_b.values(), default=None), max(first_b.values(), default=None)],
        "refresh": {k: v for k, v in run.refresh.items() if k != "output"},
        "cpu_s": run.refresh.get("cpu_s", {}),  # over the whole drive (its warm-up loads too)
        "wall_s": run.refresh.get("wall_s"),
        "server_cpu_per_load_s": run.refresh.get("server_cpu_per_load_s", {}),
        "refresh_output": run.refresh.get("output", ""),
        "partial_examples": [(load.person, load.shown) for load in ok if load.version == "partial"][:5],
        "loads_each": [[load.session, load.person, round(load.started, 2), load.seconds and round(load.seconds, 3),
                        load.complete and round(load.complete, 3), load.version, load.error, load.first]
                       for load in run.loads],
    }


def fmt(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.2f} s"


def report(summary: dict[str, Any], store: str, cache: str) -> None:
    print(f"store: {store} · HTTP cache: {cache} · load average at the end "
          f"{' '.join(f'{x:.1f}' for x in summary['refresh'].get('load_average_at_end', ()))}")
    print(f"refresh: `trialfinder fetch` from {fmt(summary['refresh'].get('started'))} to "
          f"{fmt(summary['refresh'].get('ended'))} (exit {summary['refresh'].get('code')}): "
          f"{summary['refresh_output'].splitlines()[-1] if summary['refresh_output'] else ''}")
    met = summary["p95_s"] is not None and summary["p95_s"] <= TARGET_P95
    rows = [
        ["page loads", summary["loads"], f"{summary['loads_A']} showed A, {summary['loads_B']} showed B", ""],
        ["time to results p50", fmt(summary["p50_s"]), f"page complete {fmt(summary['complete_p50_s'])}", ""],
        ["time to results p95", fmt(summary["p95_s"]),
         f"max {fmt(summary['max_s'])}; page complete {fmt(summary['complete_p95_s'])}",
         f"<= {TARGET_P95:g} s — {'met' if met else 'missed'}"],
        ["… returning visitors only", fmt(summary["returning_p50_s"]) + " p50",
         f"p95 {fmt(summary['returning_p95_s'])} ({summary['returning_loads']} loads; browser cache warm)", ""],
        ["errors", summary["errors"], ", ".join(sorted({k.split(":")[0] for k in summary["error_kinds"]})),
         f"0 — {'met' if not summary['errors'] else 'missed'}"],
        ["partial views", summary["partial"], f"went back B→A: {summary['went_back']}",
         f"0 — {'met' if not summary['partial'] and not summary['went_back'] else 'missed'}"],
        ["CPU used (all loads)", fmt(summary["cpu_s"].get("replicas")) + " replicas",
         f"{fmt(summary['cpu_s'].get('browser_and_fetch'))} browser and fetch, in {fmt(summary['wall_s'])} "
         f"(2 cores = {fmt(2 * (summary['wall_s'] or 0))})", ""],
        ["replica CPU per load, alone", fmt(summary["server_cpu_per_load_s"].get("first_visit")) + " first visit",
         f"{fmt(summary['server_cpu_per_load_s'].get('returning'))} returning (median, one session at a time)", ""],
        ["B shown after the refresh", f"{summary['sessions_that_saw_B']}/{summary['sessions']} sessions",
         "first {} · last {}".format(*(fmt(x) for x in summary["B_shown_after_refresh_s"])), ""],
    ]
    print_table(f"{summary['sessions']} browser sessions on 2 replicas", ["measure", "value", "detail", "target"], rows)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--duration", type=float, default=100.0, help="seconds the sessions run")
    parser.add_argument("--refresh-at", type=float, default=30.0, help="seconds into the run")
    parser.add_argument("--think", type=float, default=10.0, help="seconds a person reads between loads (±50 %%)")
    parser.add_argument("--version-check", type=float, default=None, help="TRIALFINDER_VERSION_CHECK (default 30)")
    parser.add_argument("--database-url", default=os.environ.get("TRIALFINDER_DATABASE_URL"))
    parser.add_argument("--postgres", action="store_true", help="start a PostgreSQL (tests/pgserver.py) for the store")
    parser.add_argument("--no-redis", action="store_true", help="no shared Redis HTTP cache")
    parser.add_argument("--serial", type=int, default=2, metavar="K",
                        help="first, each person's link K times alone: the replica's CPU per load (0: skip)")
    args = parser.parse_args(argv)
    if shutil.which("chromium") is None:
        sys.exit("benchmarks/load.py needs Debian's chromium (apt-get install chromium)")
    print_machine()
    a, b = data_sets()
    with temp_dir("tf-load-") as tmp, ExitStack() as stack, ApiServer(a) as api:
        database_url = start_postgres(stack) if args.postgres else args.database_url
        cache_url = start_redis(stack, tmp / "redis", not args.no_redis)
        expected = expected_views(api, a, b, tmp / "scratch")
        env = service_env(api, tmp / "store", database_url, cache_url, args.version_check)
        first = fetch_process(env)
        if first.returncode != 0:
            sys.exit(f"the first `trialfinder fetch` failed:\n{first.stderr}")
        servers, bases = [], []
        try:
            for k in range(2):
                port = free_port()
                server, log = start_streamlit(env, tmp / f"replica-{k}.log", port)
                servers.append((server, log))
                wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", server, timeout=60.0)
                bases.append(f"http://127.0.0.1:{port}")
            before = ([proc_cpu(server.pid) for server, _ in servers], children_cpu(), time.perf_counter())
            run = asyncio.run(drive(bases, env, api, b, args, expected, servers[0][0].pid))
            run.refresh["wall_s"] = time.perf_counter() - before[2]
            run.refresh["cpu_s"] = {"replicas": sum(proc_cpu(server.pid) for server, _ in servers) - sum(before[0]),
                                    "browser_and_fetch": children_cpu() - before[1]}
        finally:
            for server, log in servers:
                stop_streamlit(server, log)
        summary = summarize(run, args.sessions)
        summary["expected"] = expected
        store = "PostgreSQL" if database_url and database_url.startswith("postgres") else (
            database_url or "default (TRIALFINDER_CACHE_DIR)")
        summary["store"], summary["cache"] = store, "Redis" if cache_url else "SQLite per process"
        report(summary, store, summary["cache"])
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "load.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


if __name__ == "__main__":
    main()
