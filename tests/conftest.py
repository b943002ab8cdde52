"""Shared fixtures.

- ``fixture_studies``: the 377 real AML records of fixtures/aml-studies (session-scoped, do not mutate).
- ``api``: a running loopback ApiServer replaying them like API v2 (tests/apiserver.py); fresh per test.
- ``settings``: Settings pointed at ``api`` with a private temporary cache dir, fast backoff and
  no client-side rate limit, so fault tests run in milliseconds.
- ``session``: the real CachedSession built from ``settings`` (the production code path).
- ``offline_settings``: Settings whose API URL points at a closed loopback port.

Tests never touch the internet; anything that needs it carries the ``network`` marker and is
skipped unless ``--network`` is given.
"""

from __future__ import annotations

import copy
import os
import re
import socket
from pathlib import Path

import pytest
from apiserver import ApiServer, load_fixture_studies

from trialfinder.source.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--network", action="store_true", help="run tests that need the real internet")


#: the modules that take longest in total (``--durations``), longest first. They start first, so that
#: the xdist workers end together on short tests instead of one waiting for another's last long
#: test; every other module keeps its place after them. (Whole modules move: a module's tests stay
#: together, so its module-scoped fixtures are still built once per worker.)
#: (test_faults first: its ~120 cases, ~165 s in all, go to one worker per store and were the last long
#: block when they started after the property tests)
SLOW_FIRST = ("test_faults", "test_browser_jobs", "test_kill", "test_cli_properties", "test_app_properties",
              "test_chaos", "test_typing", "test_places", "test_concurrency", "test_shared_store",
              "test_refresher", "test_wheel", "test_browser", "test_shared_cache", "test_needles")

#: modules whose module-scoped fixture is costly (an app server and chromium; seeded data sets on
#: SQLite and PostgreSQL; a wheel built into a fresh venv): under xdist one worker runs the whole module
#: (the scheduler below), so that fixture is built once instead of on both workers
ONE_WORKER = ("test_browser_jobs", "test_kill", "test_faults", "test_concurrency", "test_wheel")
#: modules of ONE_WORKER whose costly fixture is made once per store (a module fixture with params
#: "sqlite" and "postgresql", the first part of each test id): each store's tests go whole to one worker,
#: so the two halves can run side by side and each fixture is still made once
PER_STORE = ("test_faults", "test_kill")
_STORE_ID = re.compile(r"[^\[]*\[(sqlite|postgresql)\b")


def _module(item: pytest.Item) -> str:
    return item.path.stem


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):  # type: ignore[no-untyped-def]
    """With -n and the default --dist load: each test goes to whichever worker is free, in the order
    set below (longest modules first), except that a module of ONE_WORKER goes whole to one worker.
    (xdist's own --dist loadgroup would do this with marks, but with pytest 9.2 it silently stops
    grouping: pytest-dev/pytest-xdist#1386.)"""
    if config.getvalue("dist") != "load":
        return None  # (another --dist asked for explicitly: xdist's own)
    from xdist.scheduler import LoadScopeScheduling

    class OneWorkerModules(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module, _, test = nodeid.partition("::")
            store = _STORE_ID.match(test) if Path(module).stem in PER_STORE else None
            if store:
                return f"{module}::{store.group(1)}"
            return module if Path(module).stem in ONE_WORKER else nodeid

    config.option.loadscopereorder = False  # (keep the collection order; read only by this scheduler)
    return OneWorkerModules(config, log)


@pytest.hookimpl(trylast=True)  # (after pytest's own grouping by parametrized fixtures: the sort is stable)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items[:] = sorted(items, key=lambda item: rank.get(_module(item), len(rank)))
    if config.getoption("--network"):
        return
    skip = pytest.mark.skip(reason="needs the internet; run with --network")
    for item in items:
        if "network" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def fixture_studies() -> list[dict]:
    return load_fixture_studies()


@pytest.fixture
def api(fixture_studies: list[dict]):
    with ApiServer(copy.deepcopy(fixture_studies)) as server:
        yield server


def fast_settings(api_url: str, cache_dir: Path) -> Settings:
    return Settings(
        api_url=api_url,
        cache_dir=cache_dir,
        timeout=2.0,
        backoff_factor=0.01,
        backoff_max=0.05,
        max_retry_after=2.0,
        max_requests_per_minute=100_000,
    )


@pytest.fixture
def settings(api: ApiServer, tmp_path: Path) -> Settings:
    return fast_settings(api.url, tmp_path / "cache")


@pytest.fixture
def session(settings: Settings):
    from trialfinder.source.session import build_session

    s = build_session(settings)
    yield s
    s.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def offline_settings(tmp_path: Path) -> Settings:
    return fast_settings(f"http://127.0.0.1:{closed_port()}/api/v2", tmp_path / "cache")


# --- the data-set store on both backends ---------------------------------------------------------

@pytest.fixture(scope="session")
def pg():
    """A real PostgreSQL on loopback for this test session (tests/pgserver.py); skipped without the
    binaries, except in CI (CI=true), where that fails."""
    from pgserver import PgServer, require_pg

    with PgServer(require_pg()) as server:
        server.create_database("trialfinder")
        yield server


_schemas = iter(range(1, 1_000_000))


def pg_schema_url(server, name: str | None = None) -> str:
    """A fresh, empty schema in the test server's ``trialfinder`` database, and the URL that uses it
    (``options=-csearch_path=…``): a new store per test without the cost of a new database."""
    name = name or f"t{os.getpid()}_{next(_schemas)}"
    server.sql(f"CREATE SCHEMA {name}", "trialfinder")
    return server.url("trialfinder") + f"?options=-csearch_path%3D{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def database_url(backend: str, request, tmp_path: Path) -> str:
    """"" (the embedded SQLite default in the test's cache folder) or a fresh PostgreSQL schema."""
    if backend == "sqlite":
        return ""
    return pg_schema_url(request.getfixturevalue("pg"))
