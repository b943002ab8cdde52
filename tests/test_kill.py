"""Killed mid-refresh: a refresh in a child process is SIGKILLed — while it downloads, at random
moments, and at each step of ``DataStore.save`` (held there by a patched ``os.fsync`` /
``os.replace``). The next ``load_dataset`` in this process serves a complete data set: the previous
one (content hash equal) unless the kill came after the final ``os.replace``; left-over temporary
files break nothing and the next save removes them."""

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
from faultcases import ALL, content_hash, fault_settings

from trialfinder.source.dataset import load_dataset, refresh_dataset
from trialfinder.source.session import build_session

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

# argv: api_url cache_dir hold   (hold: "" | fsync-tmp | replace-previous | replace-current | after-replace)
CHILD = r"""
import os, sys, time
from pathlib import Path
sys.path[:0] = [sys.argv[4], sys.argv[5]]
url, cache, hold = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
from faultcases import ALL, fault_settings
from trialfinder.source.dataset import refresh_dataset
from trialfinder.source.session import build_session
import trialfinder.source.store as store

real_fsync, real_replace = os.fsync, os.replace
fsyncs = []

def wait_here():
    print("HOLD", flush=True)
    time.sleep(120)

def fsync(fd):
    fsyncs.append(fd)
    if (hold == "fsync-tmp" and len(fsyncs) == 1) or (hold == "after-replace" and len(fsyncs) == 2):
        wait_here()
    real_fsync(fd)

def replace(src, dst):
    name = Path(dst).name
    if hold == "replace-" + name.split(".")[0]:
        wait_here()
    real_replace(src, dst)

if hold:
    os.fsync, os.replace = fsync, replace
print("START", flush=True)
st = fault_settings(url, cache, page_size=250, timeout=10.0)
refresh_dataset(st, ALL, session=build_session(st), refresh=True)
print("DONE", flush=True)
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory, fixture_studies):
    """A server holding B, a baseline cache dir holding A, and the hash of each."""
    root = tmp_path_factory.mktemp("kill")
    a, b = replicate(fixture_studies, 1500, seed=1), replicate(fixture_studies, 1500, seed=2)
    with ApiServer(a) as server:
        refs = {}
        for name, studies in (("A", a), ("B", b)):
            server.set_studies(studies)
            st = fault_settings(server.url, root / name, page_size=250, timeout=10.0)
            refs[name] = content_hash(refresh_dataset(st, ALL, session=build_session(st))[0].studies)
        # server holds B; "A" dir holds A (its HTTP cache has A's pages)
        yield server, root / "A", refs


def start_child(server: ApiServer, cache: Path, hold: str = "") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, server.url, str(cache), hold, str(TESTS), str(ROOT)],
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


def fresh_copy(baseline: Path, tmp_path: Path) -> Path:
    cache = tmp_path / "cache"
    shutil.copytree(baseline, cache)
    return cache


def served(server: ApiServer, cache: Path) -> tuple[str, list[str]]:
    dataset = load_dataset(fault_settings(server.url, cache))
    assert dataset.meta.source == "cache"
    return content_hash(dataset.studies), dataset.meta.warnings


def check_recovers(server: ApiServer, cache: Path, refs: dict[str, str]) -> None:
    """The killed child's leftovers break nothing: a plain refresh in this process works (the
    HTTP cache may still answer A if the child was killed before it cached any page of B, else a
    mix of cached pages would be refetched), stores a complete set and removes orphaned temp files."""
    st = fault_settings(server.url, cache, page_size=250, timeout=10.0)
    dataset, _ = refresh_dataset(st, ALL, session=build_session(st))
    digest = content_hash(dataset.studies)
    assert digest in (refs["A"], refs["B"])
    assert served(server, cache) == (digest, [])
    assert not list(st.dataset_dir.glob(".current-*.tmp"))


@pytest.mark.parametrize("hold,expect", [
    ("fsync-tmp", "A"),  # the new file is written but not yet in place
    ("replace-previous", "A"),  # previous.json is being replaced
    ("replace-current", "A"),  # the last step, not yet done
    ("after-replace", "B"),  # current.json replaced; the folder not yet fsynced
])
def test_killed_inside_save(world, tmp_path, hold, expect) -> None:
    server, baseline, refs = world
    cache = fresh_copy(baseline, tmp_path)
    proc = start_child(server, cache, hold)
    wait_for(proc, "HOLD")
    kill(proc)
    digest, warnings = served(server, cache)
    assert digest == refs[expect] and warnings == []
    if hold == "fsync-tmp":
        assert list((cache / "dataset").glob(".current-*.tmp"))  # the orphan is there...
    check_recovers(server, cache, refs)  # ...and harmless


def test_killed_at_random_moments(world, tmp_path) -> None:
    server, baseline, refs = world
    # how long a whole child run takes, with two slow pages so downloading takes a while
    cache = fresh_copy(baseline, tmp_path / "timing")
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
        cache = fresh_copy(baseline, tmp_path / f"trial{trial}")
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
