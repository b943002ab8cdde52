"""The one refresher (issue 17): `trialfinder fetch` run on a schedule. When another refresher holds the
store's lock (``open_store(settings).lock()``: a file lock on SQLite, an advisory lock on PostgreSQL),
`fetch` waits for it and then saves a whole data set: exit 0, no traceback; the data set it leaves is
complete. On both backends (the ``database_url`` fixture of conftest)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from apiserver import ApiServer
from conftest import fast_settings

from trialfinder.source.dataset import load_dataset, refresh_dataset
from trialfinder.source.query import SearchQuery
from trialfinder.source.settings import Settings

ROOT = Path(__file__).resolve().parent.parent

#: another refresher: takes the writer lock, says so, holds it for argv[2] seconds
HOLDER = r"""
import sys, time
from pathlib import Path
from trialfinder.source.database import open_store
from trialfinder.source.settings import Settings
store = open_store(Settings.from_env(cache_dir=Path(sys.argv[1])))
with store.lock():
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def study_id(study: dict) -> str:
    return study["protocolSection"]["identificationModule"]["nctId"]


def env_for(api: ApiServer, cache: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALFINDER_")}
    env.update(PYTHONPATH=str(ROOT), TRIALFINDER_API_URL=api.url, TRIALFINDER_CACHE_DIR=str(cache),
               TRIALFINDER_MAX_REQUESTS_PER_MINUTE="100000", TRIALFINDER_BACKOFF="0.01")
    if database_url:
        env["TRIALFINDER_DATABASE_URL"] = database_url
    return env


def test_fetch_waits_for_another_refresher_then_saves(api: ApiServer, tmp_path: Path, database_url: str) -> None:
    cache = tmp_path / "store"
    env = env_for(api, cache, database_url)
    hold = 4.0
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(cache), str(hold)], env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        run = subprocess.run([sys.executable, "-m", "trialfinder", "fetch"], env=env, capture_output=True,
                             text=True, timeout=120)
        took = time.monotonic() - started
    finally:
        holder.wait(timeout=30)
    assert holder.returncode == 0
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert took >= hold - 1.0  # it waited for the lock (the download itself takes well under a second)
    dataset = load_dataset(Settings(cache_dir=cache, database_url=database_url))
    assert dataset.meta.source == "cache" and dataset.meta.count == len(dataset.studies) > 0


def test_two_refreshers_at_once_both_succeed_and_leave_one_whole_set(api: ApiServer, tmp_path: Path,
                                                                      database_url: str) -> None:
    cache = tmp_path / "store"
    env = env_for(api, cache, database_url)
    runs = [subprocess.Popen([sys.executable, "-m", "trialfinder", "fetch", *extra], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for extra in ([], ["--status", "all"])]
    outcomes = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in runs]
    for code, err in outcomes:
        assert code == 0 and "Traceback" not in err, err
    dataset = load_dataset(Settings(cache_dir=cache, database_url=database_url))
    # the stored set is one of the two complete downloads, whole (each made alone, for comparison)
    complete = {}
    for name, query in (("default", SearchQuery()), ("all", SearchQuery.from_user(statuses=["all"]))):
        alone, _ = refresh_dataset(fast_settings(api.url, tmp_path / name), query)
        complete[name] = sorted(study_id(s) for s in alone.studies)
    assert complete["default"] != complete["all"]
    assert sorted(study_id(s) for s in dataset.studies) in complete.values()


def test_fetch_gives_up_in_one_line_when_the_lock_is_held_too_long(api: ApiServer, tmp_path: Path,
                                                                   database_url: str) -> None:
    """It waits at most TRIALFINDER_REFRESH_DEADLINE seconds for the lock, then says so (exit 1)."""
    cache = tmp_path / "store"
    env = env_for(api, cache, database_url)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(cache), "8"], env=env, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        run = subprocess.run([sys.executable, "-m", "trialfinder", "fetch"], env={**env,
                             "TRIALFINDER_REFRESH_DEADLINE": "1.5"}, capture_output=True, text=True, timeout=120)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert run.returncode == 1, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "another refresh" in lines[0] and "last data set is kept" in lines[0], run.stderr
    assert load_dataset(Settings(cache_dir=cache, database_url=database_url)).meta.source == "snapshot"
