"""Killed mid-refresh: a refresh in a child process is SIGKILLed — while it downloads, at random
moments, and at each step of ``DbStore.save`` (held there by a hook on the statements it sends), on
both stores (SQLite; PostgreSQL, tests/pgserver.py). The next ``load_dataset`` in this process serves
a complete data set: the previous one (content hash equal) unless the kill came after the commit; what
the killed transaction wrote is never seen, and the next save works (the refresh lock, a file lock or
a PostgreSQL session lock, died with the child)."""

from __future__ import annotations

import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from apiserver import ApiServer, replicate
from faultcases import ALL, content_hash, copy_schema, fault_settings

from trialfinder.source.dataset import load_dataset, refresh_dataset
from trialfinder.source.session import build_session

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

# argv: api_url cache_dir hold tests root database_url
#   (hold: "" | write-studies: before the first study row | switch: before the pointer switch |
#    commit: the transaction's last statement sent, not committed | committed: save returned)
CHILD = r"""
import sys, time
from pathlib import Path
sys.path[:0] = [sys.argv[4], sys.argv[5]]
url, cache, hold, database_url = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[6]
from sqlalchemy import Engine, event
from faultcases import ALL, fault_settings
from trialfinder.source.database import DbStore
from trialfinder.source.dataset import refresh_dataset
from trialfinder.source.session import build_session

def wait_here():
    print("HOLD", flush=True)
    time.sleep(120)

FIRST = {"write-studies": "INSERT INTO STUDIES", "switch": "UPDATE POINTER"}

switched = []

def before(conn, cursor, statement, *args):
    if hold in FIRST and statement.lstrip().upper().startswith(FIRST[hold]):
        wait_here()
    switched.append(statement.lstrip().upper().startswith("UPDATE POINTER"))

def commit(conn):
    if hold == "commit" and any(switched):  # (the save's commit, not a read's)
        wait_here()

real_save = DbStore.save

def save(self, dataset):
    meta = real_save(self, dataset)
    if hold == "committed":
        wait_here()
    return meta

if hold:
    event.listen(Engine, "before_cursor_execute", before)
    event.listen(Engine, "commit", commit)
    DbStore.save = save
print("START", flush=True)
st = fault_settings(url, cache, page_size=250, timeout=10.0, database_url=database_url)
refresh_dataset(st, ALL, session=build_session(st), refresh=True)
print("DONE", flush=True)
"""


class World:
    """A server holding B, a baseline cache dir holding A (and its store: the SQLite file in it, or on
    PostgreSQL the schema ``kill_base``), and the hash of each."""

    def __init__(self, server: ApiServer, baseline: Path, refs: dict[str, str], pg=None):
        self.server, self.baseline, self.refs, self.pg = server, baseline, refs, pg
        self.copies = 0

    def fresh_copy(self, tmp_path: Path) -> tuple[Path, str]:
        """A copy of the baseline: its cache folder, and its database URL ("": the SQLite file in it)."""
        cache = tmp_path / "cache"
        shutil.copytree(self.baseline, cache)
        if self.pg is None:
            return cache, ""
        self.copies += 1
        copy_schema(self.pg, "trialfinder", "kill_base", f"kill{os.getpid()}_{self.copies}")
        return cache, schema_url(self.pg, f"kill{os.getpid()}_{self.copies}")


def schema_url(pg, schema: str) -> str:
    return pg.url("trialfinder") + f"?options=-csearch_path%3D{schema}"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory, fixture_studies):
    root = tmp_path_factory.mktemp("kill")
    pg = None
    if request.param == "postgresql":
        pg = request.getfixturevalue("pg")
        pg.sql("DROP SCHEMA IF EXISTS kill_base CASCADE; CREATE SCHEMA kill_base", "trialfinder")
    a, b = replicate(fixture_studies, 1500, seed=1), replicate(fixture_studies, 1500, seed=2)
    with ApiServer(a) as server:
        refs = {}
        for name, studies in (("A", a), ("B", b)):
            server.set_studies(studies)
            st = fault_settings(server.url, root / name, page_size=250, timeout=10.0,
                                database_url=schema_url(pg, "kill_base") if pg and name == "A" else "")
            refs[name] = content_hash(refresh_dataset(st, ALL, session=build_session(st))[0].studies)
        # server holds B; "A" dir holds A (its HTTP cache has A's pages)
        yield World(server, root / "A", refs, pg)


def start_child(server: ApiServer, cache: Path, hold: str = "", database_url: str = "") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, server.url, str(cache), hold, str(TESTS), str(ROOT), database_url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )


def wait_for(proc: subprocess.Popen, word: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if line.strip() == word:
                return
            if line == "":
                break
    proc.kill()
    raise AssertionError(f"child never said {word}: {proc.stderr.read()[-2000:]}")


def kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    proc.stderr.close()


def served(server: ApiServer, cache: Path, database_url: str = "") -> tuple[str, list[str]]:
    dataset = load_dataset(fault_settings(server.url, cache, database_url=database_url))
    assert dataset.meta.source == "cache"
    return content_hash(dataset.studies), dataset.meta.warnings


def check_recovers(server: ApiServer, cache: Path, refs: dict[str, str], database_url: str = "") -> None:
    """The killed child's leftovers break nothing: a plain refresh in this process works at once (the
    refresh lock died with the child; the HTTP cache may still answer A if the child was killed before
    it cached any page of B, else a mix of cached pages would be refetched) and stores a complete set."""
    st = fault_settings(server.url, cache, page_size=250, timeout=10.0, database_url=database_url,
                        refresh_deadline=60.0)
    start = time.monotonic()
    dataset, _ = refresh_dataset(st, ALL, session=build_session(st))
    digest = content_hash(dataset.studies)
    assert digest in (refs["A"], refs["B"])
    assert served(server, cache, database_url) == (digest, [])
    assert time.monotonic() - start < 30  # (not a wait for a lock the dead child held)


@pytest.mark.parametrize("hold,expect", [
    ("write-studies", "A"),  # the new set's row written, its studies not yet
    ("switch", "A"),  # every study written, the pointer not yet switched
    ("commit", "A"),  # everything sent, not committed
    ("committed", "B"),  # committed, the refresh not yet finished
])
def test_killed_inside_save(world, tmp_path, hold, expect) -> None:
    cache, database_url = world.fresh_copy(tmp_path)
    proc = start_child(world.server, cache, hold, database_url)
    wait_for(proc, "HOLD")
    kill(proc)
    digest, warnings = served(world.server, cache, database_url)
    assert digest == world.refs[expect] and warnings == []
    check_recovers(world.server, cache, world.refs, database_url)


def test_killed_at_random_moments(world, tmp_path) -> None:
    if world.pg is not None:
        pytest.skip("random kills run on SQLite only (the held kills above cover PostgreSQL's save)")
    server, refs = world.server, world.refs
    # how long a whole child run takes, with two slow pages so downloading takes a while
    cache, _ = world.fresh_copy(tmp_path / "timing")
    server.inject("slow", delay=0.3, skip=1, times=2)
    proc = start_child(server, cache)
    wait_for(proc, "START")
    start = time.monotonic()
    wait_for(proc, "DONE")
    proc.wait(timeout=30)
    proc.stdout.close(), proc.stderr.close()
    whole = time.monotonic() - start
    assert served(server, cache) == (refs["B"], [])

    rng = random.Random(1126)
    seen = []
    for trial in range(6):
        cache, _ = world.fresh_copy(tmp_path / f"trial{trial}")
        server.clear_faults()
        server.inject("slow", delay=0.3, skip=1, times=2)
        proc = start_child(server, cache)
        wait_for(proc, "START")  # imports done: kill somewhere in the refresh itself
        time.sleep(rng.uniform(0, whole * 1.1))
        kill(proc)
        digest, warnings = served(server, cache)
        assert digest in (refs["A"], refs["B"]) and warnings == [], f"trial {trial}"
        seen.append("A" if digest == refs["A"] else "B")
        check_recovers(server, cache, refs)
    server.clear_faults()
    print(f"random kills (run takes {whole:.2f} s): served {seen}")
