"""Two refreshes at once into the same cache directory — two processes, and two threads with
their own sessions (as two app sessions would do) — while a reader keeps loading: no crash, no
corruption, every load is one complete data set, and the one left at the end is one of the two."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from apiserver import ApiServer
from faultcases import ALL, content_hash, data_versions, fault_settings

from trialfinder.source.dataset import load_dataset, refresh_dataset
from trialfinder.source.session import build_session

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
ROUNDS = 6

CHILD = r"""
import sys
from pathlib import Path
sys.path[:0] = [sys.argv[3], sys.argv[4]]
from faultcases import ALL, fault_settings
from trialfinder.source.dataset import refresh_dataset
from trialfinder.source.session import build_session
st = fault_settings(sys.argv[1], Path(sys.argv[2]), page_size=50, timeout=10.0)
for i in range(int(sys.argv[5])):
    refresh_dataset(st, ALL, session=build_session(st), refresh=i % 2 == 0)
print("DONE", flush=True)
"""


@pytest.fixture(scope="module")
def two_servers(fixture_studies, tmp_path_factory):
    """Server A and server B (different data), and the content hash of each complete set."""
    versions = data_versions(fixture_studies)
    with ApiServer(versions["A"]) as a, ApiServer(versions["B"]) as b:
        refs = {}
        for name, server in (("A", a), ("B", b)):
            st = fault_settings(server.url, tmp_path_factory.mktemp(f"ref{name}"), page_size=50)
            refs[content_hash(refresh_dataset(st, ALL, session=build_session(st))[0].studies)] = name
        yield a, b, refs


def read_while(running, settings, refs: dict[str, str]) -> list[str]:
    """Load the data set over and over while ``running()``; return what each load served."""
    seen = []
    while running():
        dataset = load_dataset(settings)
        assert dataset.meta.warnings == [], dataset.meta.warnings
        seen.append(refs.get(content_hash(dataset.studies), "snapshot" if dataset.meta.source == "snapshot" else "MIX"))
    return seen


def check_end(settings, refs: dict[str, str], seen: list[str]) -> None:
    assert "MIX" not in seen
    final = load_dataset(settings)
    assert final.meta.warnings == [] and final.meta.source == "cache"
    assert content_hash(final.studies) in refs
    assert not list(settings.dataset_dir.glob(".current-*.tmp"))
    assert not list(settings.cache_dir.glob("*.corrupt-*")) and not list(settings.dataset_dir.glob("*.corrupt-*"))


def test_two_processes_refresh_the_same_cache_dir(two_servers, tmp_path) -> None:
    a, b, refs = two_servers
    cache = tmp_path / "cache"
    procs = [
        subprocess.Popen([sys.executable, "-c", CHILD, server.url, str(cache), str(TESTS), str(ROOT), str(ROUNDS)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        for server in (a, b)
    ]
    seen = read_while(lambda: any(p.poll() is None for p in procs), fault_settings(a.url, cache), refs)
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and out.strip() == "DONE", err[-3000:]
    check_end(fault_settings(a.url, cache), refs, seen)
    print(f"reader loads during the race: {len(seen)} ({', '.join(f'{k} {seen.count(k)}' for k in sorted(set(seen)))})")


def test_two_threads_with_their_own_sessions(two_servers, tmp_path) -> None:
    a, b, refs = two_servers
    cache = tmp_path / "cache"
    errors: list[BaseException] = []

    def app_session(server: ApiServer) -> None:
        st = fault_settings(server.url, cache, page_size=50, timeout=10.0)
        try:
            session = build_session(st)
            for i in range(ROUNDS):
                refresh_dataset(st, ALL, session=session, refresh=i % 2 == 0)
            session.close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=app_session, args=(server,)) for server in (a, b)]
    for t in threads:
        t.start()
    seen = read_while(lambda: any(t.is_alive() for t in threads), fault_settings(a.url, cache), refs)
    for t in threads:
        t.join()
    assert errors == []
    check_end(fault_settings(a.url, cache), refs, seen)
