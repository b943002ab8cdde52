"""Issue 17: a new app replica's first `trialfinder search` when the refresher stored the built tables in the
database, against one that has to build them (what every replica did before), in the same run.

A data set of N replicated studies (default 10,000) is saved in the store: a PostgreSQL started on loopback
(tests/pgserver.py; the default) or a shared SQLite file. Then, each in a new process with a cache folder of
its own (as a new replica has), offline, `trialfinder search --format csv --status all --setting all`:

* **builds, read-only** (PostgreSQL only): a replica whose role may only read: it loads the data set,
  classifies and locates every study, and cannot store them — what every replica did before;
* **builds**: nothing stored yet: the same, and (its role may write) it stores the tables for the
  others — the replica that comes first;
* **reads stored tables**: a second new replica: it reads the stored rows (checked by SHA-256) instead;
* **local copy**: the same replica's next command, from its own Parquet copy.

Both runs must list the same studies. Also printed: the rows written, and what storing them cost the
process that built them (``write_shared``, timed in this process on the same tables).

    .venv/bin/python benchmarks/shared_tables.py [--n 10000] [--backend postgresql|sqlite]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from common import ROOT, fmt_s, load_average, print_machine, print_table, studies, temp_dir

from trialfinder.source.database import open_store
from trialfinder.source.settings import Settings
from trialfinder.source.store import Dataset, DatasetMeta


def search(cache: Path, url: str) -> tuple[float, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TRIALFINDER_")}
    environ.update(PYTHONPATH=str(ROOT), TRIALFINDER_CACHE_DIR=str(cache), TRIALFINDER_DATABASE_URL=url,
                   TRIALFINDER_OFFLINE="1")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "trialfinder", "search", "--format", "csv", "--status", "all",
                           "--setting", "all"], capture_output=True, text=True, env=environ, cwd=ROOT, timeout=1800)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"search failed: {done.stderr[-2000:]}")
    return elapsed, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="studies in the data set")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    args = parser.parse_args()
    with ExitStack() as stack:
        folder = stack.enter_context(temp_dir())
        if args.backend == "postgresql":
            from pgserver import PgServer, require_pg

            server = stack.enter_context(PgServer(require_pg()))
            server.create_database("bench")
            url = server.url("bench")
        else:
            server, url = None, f"sqlite:///{folder / 'shared' / 'trialfinder.sqlite'}"
        run(args.n, url, folder, args.backend, server)


def run(n: int, url: str, folder: Path, backend: str, server: object = None) -> None:
    store = open_store(Settings(database_url=url))
    dataset = Dataset(studies=studies(n), meta=DatasetMeta(source="live", data_timestamp="2026-12-01",
                                                           fetched_at="2026-12-01T05:30:00+00:00"))
    store.save(dataset)
    rows: list[list[str]] = []
    alone = 0.0
    if server is not None:  # a role that may only read: it builds, as before, and stores nothing
        reader = server.create_readonly_role("bench", "bench_reader")  # type: ignore[attr-defined]
        alone, _listed = search(folder / "replica-0", reader)
        rows.append(["builds the tables, a role that may only read (as every replica did before)", fmt_s(alone)])
    built, listed_built = search(folder / "replica-1", url)
    stored, listed_stored = search(folder / "replica-2", url)
    local, listed_local = search(folder / "replica-2", url)
    assert listed_built == listed_stored == listed_local and listed_built.count("\n") > n  # (same studies)
    write_cost = time_write(url, folder, dataset)
    print_machine()
    print_table(f"first `trialfinder search` of a new replica, {n:,} studies, {backend}", ["case", "time"], [
        *rows,
        ["builds the tables (nothing stored yet; then stores them)", fmt_s(built)],
        ["reads the tables stored in the database", fmt_s(stored)],
        ["its next command (its own Parquet copy)", fmt_s(local)],
        ["storing them, in the process that built them (write_shared)", fmt_s(write_cost)],
    ])
    base = alone if server is not None else built
    print(f"ratio built / read from the database: {base / stored:.1f}x; load average {load_average()}")


def time_write(url: str, folder: Path, dataset: Dataset) -> float:
    """What storing the tables costs the builder: the stored rows removed, then written again."""
    from sqlalchemy import text

    from trialfinder.find.tablecache import built_by, load_tables
    from trialfinder.find.tablerows import write_shared
    from trialfinder.source.database import _engine

    settings = Settings(cache_dir=folder / "replica-2", database_url=url)
    tables = load_tables(settings)
    store = open_store(settings)
    with _engine(store.url).begin() as conn:
        rows = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in
                ("study_rows", "sites", "interventions", "labels")}
    print("rows stored: " + ", ".join(f"{t} {c:,}" for t, c in rows.items()))
    start = time.perf_counter()
    assert write_shared(store, int(store.version() or 0), tables, built_by(), replace=True)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
