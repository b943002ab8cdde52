"""Building the tables over two processes (find/split.py) gives exactly the tables of one process, falls
back to reading in this process when the worker fails or dies, never leaves a worker behind, and is not
used where a fork is unsafe (another thread running) or does not pay (a small data set)."""

from __future__ import annotations

import copy
import os
import signal
import threading

import pytest
from fixture_tables import assert_same_tables

from trialfinder.find import split
from trialfinder.find.tables import Reader, build_tables
from trialfinder.source.normalize import nct_id, row_texts
from trialfinder.source.store import Dataset, DatasetMeta

META = DatasetMeta(source="cache", data_timestamp="2026-11-20", fetched_at=None)


@pytest.fixture(scope="module")
def one_process(fixture_studies):
    """The fixture records' tables read in this process alone."""
    assert not split.can_split(len(fixture_studies))  # (377 studies: under SPLIT_MIN)
    return build_tables(Dataset(studies=fixture_studies, meta=META))


@pytest.fixture
def forks(monkeypatch):
    """Split any data set of two studies or more (where the machine allows it); the workers forked."""
    if not split.can_split(split.SPLIT_MIN):
        pytest.skip("this machine cannot split (one CPU, not Linux, or another thread running)")
    monkeypatch.setattr(split, "SPLIT_MIN", 2)
    pids: list[int] = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    return pids


def _gone(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # already reaped: nothing left behind
        return True
    return False


def test_two_processes_build_the_same_tables(fixture_studies, one_process, forks):
    tables = build_tables(Dataset(studies=fixture_studies, meta=META))
    assert_same_tables(tables, one_process)
    assert len(forks) == 1 and _gone(forks[0])
    # The worker's rows came back as copies; their long texts are the records' own strings again (held once,
    # as in one process): every study's, the worker's included.
    shared = 0
    for record in fixture_studies:
        title, official, summary, criteria = row_texts(record)
        row = tables.studies.loc[nct_id(record)]
        for column, text in (("title", title), ("official_title", official), ("brief_summary", summary),
                             ("eligibility_text", criteria)):
            if text:
                assert row[column] is text, (nct_id(record), column)
                shared += 1
    assert shared > 2 * len(fixture_studies)


def test_a_study_listed_in_both_halves_is_merged_as_in_one_process(fixture_studies, forks, monkeypatch):
    # Real records; the last one listed again at the start (a copy, its title edited), so that it is read
    # by this process and by the worker: the last record wins the row, its sites are all kept.
    records = copy.deepcopy(fixture_studies)
    again = copy.deepcopy(records[-1])
    again["protocolSection"]["identificationModule"]["briefTitle"] = "an earlier version of the record"
    records.insert(0, again)
    with_sites = next(r for r in records[1:] if r.get("protocolSection", {}).get("contactsLocationsModule"))
    records.append(copy.deepcopy(with_sites))  # and one with sites, listed twice in the worker's half
    dataset = Dataset(studies=records, meta=META)
    split_tables = build_tables(dataset)
    assert len(forks) == 1
    monkeypatch.setattr(split, "SPLIT_MIN", 10**9)
    assert_same_tables(split_tables, build_tables(dataset))
    nct = records[-1]["protocolSection"]["identificationModule"]["nctId"]
    assert split_tables.studies.loc[nct, "sites_count"] == 2 * len(
        with_sites["protocolSection"]["contactsLocationsModule"]["locations"])


@pytest.mark.parametrize("how", ["raises", "dies"])
def test_a_failing_worker_is_replaced_by_this_process(fixture_studies, one_process, forks, monkeypatch, capfd, how):
    parent = os.getpid()
    real_read = Reader.read

    def read(self, records):
        if os.getpid() != parent:  # only in the worker
            if how == "raises":
                raise RuntimeError("a worker's failure")
            os.kill(os.getpid(), signal.SIGKILL)
        return real_read(self, records)

    monkeypatch.setattr(Reader, "read", read)
    assert_same_tables(build_tables(Dataset(studies=fixture_studies, meta=META)), one_process)
    assert len(forks) == 1 and _gone(forks[0])
    assert "a worker's failure" not in capfd.readouterr().err  # (no traceback from the worker)


def test_no_process_to_be_had_reads_all_here(fixture_studies, one_process, forks, monkeypatch):
    def fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")  # (fork's EAGAIN: the process limit)

    monkeypatch.setattr(os, "fork", fork)
    open_before = len(os.listdir("/proc/self/fd"))
    assert_same_tables(build_tables(Dataset(studies=fixture_studies, meta=META)), one_process)
    assert len(os.listdir("/proc/self/fd")) == open_before  # (the pipe closed again)


def test_a_worker_reaped_by_someone_else_is_not_trusted(fixture_studies, one_process, forks, monkeypatch):
    real_waitpid = os.waitpid

    def waitpid(pid, options):
        real_waitpid(pid, options)  # (reaped here, as an embedding program's SIGCHLD handler would)
        raise ChildProcessError(10, "No child processes")

    monkeypatch.setattr(os, "waitpid", waitpid)
    assert_same_tables(build_tables(Dataset(studies=fixture_studies, meta=META)), one_process)


def test_an_interrupt_here_stops_the_worker(fixture_studies, forks, monkeypatch):
    parent = os.getpid()
    real_read = Reader.read
    calls = []

    def read(self, records):
        if os.getpid() == parent:
            calls.append(len(records))
            if len(calls) == 2:  # this process's half, after the fork
                raise KeyboardInterrupt
        return real_read(self, records)

    monkeypatch.setattr(Reader, "read", read)
    with pytest.raises(KeyboardInterrupt):
        build_tables(Dataset(studies=fixture_studies, meta=META))
    assert len(forks) == 1 and _gone(forks[0])


def test_no_fork_beside_another_thread_or_for_a_small_or_a_very_large_data_set(fixture_studies, one_process,
                                                                               monkeypatch):
    def no_fork() -> int:
        raise AssertionError("forked")

    monkeypatch.setattr(os, "fork", no_fork)
    assert not split.can_split(split.SPLIT_MIN - 1) and not split.can_split(split.SPLIT_MAX + 1)
    assert_same_tables(build_tables(Dataset(studies=fixture_studies, meta=META)), one_process)  # under SPLIT_MIN
    monkeypatch.setattr(split, "SPLIT_MIN", 2)
    monkeypatch.setattr(split, "SPLIT_MAX", len(fixture_studies) - 1)  # (a data set over SPLIT_MAX)
    assert_same_tables(build_tables(Dataset(studies=fixture_studies, meta=META)), one_process)
    monkeypatch.setattr(split, "SPLIT_MAX", len(fixture_studies))
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)  # as in the app, whose pages run in the server's threads
    other.start()
    try:
        assert not split.can_split(len(fixture_studies))
        assert_same_tables(build_tables(Dataset(studies=fixture_studies, meta=META)), one_process)
    finally:
        stop.set()
        other.join()


_ORPHAN = """
import os, sys, time
sys.path.insert(0, {tests!r})
from apiserver import load_fixture_studies
from trialfinder.find import split, tables
from trialfinder.source.store import Dataset, DatasetMeta

split.SPLIT_MIN = 2
parent, real = os.getpid(), tables.Reader.read

def read(self, records):
    if os.getpid() != parent:  # the worker: says who it is, reads slowly
        os.write(1, f"worker {{os.getpid()}}\\n".encode())
        time.sleep(0.5)
    elif len(records) > 1:  # this process, after the fork: waits to be killed
        time.sleep(60)
    return real(self, records)

tables.Reader.read = read
tables.build_tables(Dataset(studies=load_fixture_studies(), meta=DatasetMeta(source="cache", data_timestamp="",
                                                                           fetched_at=None)))
"""


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in status)
    except FileNotFoundError:
        return False


def test_a_worker_whose_process_is_killed_stops(tmp_path):
    import subprocess
    import sys
    import time

    from paths import ROOT

    if not split.can_split(split.SPLIT_MIN):
        pytest.skip("this machine cannot split")
    script = tmp_path / "orphan.py"
    script.write_text(_ORPHAN.format(tests=str(ROOT / "tests")))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        worker = int(proc.stdout.readline().split()[1])  # (its first run begun)
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + 4  # (reading all its 16 runs would take it 8 s)
        while _running(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(worker)  # (it stopped at the end of the run it was reading: ~0.5 s)
    finally:
        proc.kill()
        proc.stdout.close()
