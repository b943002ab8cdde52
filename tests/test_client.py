"""End to end: the real client and CachedSession against the loopback API v2 replay server."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import replace

import pytest
import requests
from apiserver import replicate
from sqlalchemy import text

from trialfinder.errors import ApiError, ApiUnreachable, InvalidResponse, RateLimited
from trialfinder.source.client import CtGovClient
from trialfinder.source.database import _engine, open_store
from trialfinder.source.dataset import load_dataset, refresh_dataset
from trialfinder.source.query import SearchQuery, to_params
from trialfinder.source.session import build_session
from trialfinder.source.settings import Settings

ALL = SearchQuery(condition="", term=None, statuses=())  # everything the server holds


def server_total(api, query: SearchQuery) -> int:
    params = to_params(query, page_size=1, fields=None)
    return requests.get(api.url + "/studies", params=params, timeout=5).json()["totalCount"]


def test_fetches_every_page_in_ceil_n_over_page_size_requests(api, settings):
    settings = replace(settings, page_size=100)
    session = build_session(settings)
    expected = server_total(api, ALL)
    api.reset_log()
    _, result = refresh_dataset(settings, ALL, session=session)
    assert len(result.studies) == expected == len(api.studies)
    assert result.pages == math.ceil(expected / 100)
    studies_requests = api.studies_requests()
    assert len(studies_requests) == math.ceil(expected / 100)
    assert [r.params.get("countTotal") for r in studies_requests] == ["true"] + [None] * (len(studies_requests) - 1)
    assert all(r.params["pageSize"] == "100" for r in studies_requests)
    assert "fields" in studies_requests[0].params
    assert result.data_timestamp == "2026-11-20T08:00:00"
    assert not result.from_cache


def test_default_page_size_is_1000_and_one_request_per_thousand(api, settings, fixture_studies):
    api.set_studies(replicate(fixture_studies, 2500))
    session = build_session(settings)
    api.reset_log()
    _, result = refresh_dataset(settings, ALL, session=session)
    assert len(result.studies) == 2500
    assert len(api.studies_requests()) == 3
    assert len([r for r in api.requests if r.path.endswith("/version")]) == 1


def test_default_query_is_relapsed_refractory_aml_and_actionable(api, session, settings):
    api.reset_log()
    _, result = refresh_dataset(settings, session=session)
    params = api.studies_requests()[0].params
    assert "acute myeloid leukemia" in params["query.cond"]
    assert "refractory" in params["query.term"]
    assert params["filter.overallStatus"].split(",") == [
        "RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION", "ACTIVE_NOT_RECRUITING"]
    assert 0 < len(result.studies) == server_total(api, SearchQuery())


def test_second_fetch_is_served_by_the_cache(api, session, settings):
    refresh_dataset(settings, ALL, session=session)
    api.reset_log()
    dataset, result = refresh_dataset(settings, ALL, session=session)
    assert api.studies_requests() == []
    assert result.from_cache and result.requests_sent == 0
    assert dataset.meta.source == "cache"


def test_refresh_skips_the_cache(api, session, settings):
    refresh_dataset(settings, ALL, session=session)
    api.reset_log()
    _, result = refresh_dataset(settings, ALL, session=session, refresh=True)
    assert len(api.studies_requests()) == 1
    assert not result.from_cache


def test_user_agent_and_timeout_sent(api, session, settings):
    refresh_dataset(settings, ALL, session=session)
    assert session.headers["User-Agent"].startswith("TrialFinder/")


@pytest.mark.parametrize("retry_after", [None, 1])
def test_429_then_success(api, session, settings, retry_after):
    api.inject("status", status=429, retry_after=retry_after, times=2)
    _, result = refresh_dataset(settings, ALL, session=session)
    assert len(result.studies) == len(api.studies)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_then_success(api, session, settings, status):
    api.inject("status", status=status, times=2)
    _, result = refresh_dataset(settings, ALL, session=session)
    assert len(result.studies) == len(api.studies)
    assert result.requests_sent >= 4  # version + 2 failures + success


def previous_dataset(api, settings):
    """Store a complete data set first; return its study count."""
    session = build_session(settings)
    refresh_dataset(settings, ALL, session=session)
    session.close()
    return len(api.studies)


def assert_intact(settings: Settings, count: int) -> None:
    dataset = load_dataset(settings)
    assert dataset.meta.source == "cache"
    assert len(dataset.studies) == count


FAULTS = [
    # (fault kind, options, expected error, skip)  -- skip=1 hits the second page
    ("status", {"status": 429, "times": 20}, RateLimited, 0),
    ("status", {"status": 429, "retry_after": 3600}, RateLimited, 0),
    ("status", {"status": 503, "times": 20}, ApiError, 0),
    ("status", {"status": 400}, ApiError, 0),
    ("truncated", {}, InvalidResponse, 0),
    ("html", {}, InvalidResponse, 0),
    ("empty_with_token", {}, InvalidResponse, 1),
    ("repeat_token", {}, InvalidResponse, 1),
    ("bad_token", {}, ApiError, 1),
    ("reset", {"times": 20}, ApiError, 0),
    ("slow", {"delay": 1.5, "times": 20}, ApiUnreachable, 0),
]


@pytest.mark.parametrize("kind,opts,error,skip", FAULTS, ids=[f"{f[0]}-{i}" for i, f in enumerate(FAULTS)])
def test_fault_keeps_the_last_complete_data_set(api, tmp_path, settings, kind, opts, error, skip):
    count = previous_dataset(api, settings)
    # (a 0.5 s time-out only where the fault is a slow answer: on a loaded machine it could time out a
    # prompt one too and turn the error expected into ApiUnreachable)
    fresh = replace(settings, page_size=100, timeout=0.5 if kind == "slow" else 5.0, max_retries=1)
    session = build_session(fresh)
    api.inject(kind, skip=skip, **opts)
    with pytest.raises(error) as info:
        refresh_dataset(fresh, ALL, session=session, refresh=True)
    message = str(info.value)
    assert "\n" not in message and len(message) < 300
    assert_intact(settings, count)


def test_bad_answers_are_not_kept_in_the_http_cache(api, session, settings):
    api.inject("truncated")
    with pytest.raises(InvalidResponse):
        refresh_dataset(settings, ALL, session=session)
    _, result = refresh_dataset(settings, ALL, session=session)  # not served the bad page from cache
    assert len(result.studies) == len(api.studies)


def test_duplicates_across_pages_are_merged(api, settings):
    fresh = replace(settings, page_size=100)
    api.inject("duplicate", skip=1)
    _, result = refresh_dataset(fresh, ALL, session=build_session(fresh))
    assert len(result.studies) == len(api.studies)
    assert result.duplicates == 100
    assert any("duplicate" in w for w in result.warnings)


def test_version_failure_is_not_fatal(api, session, settings):
    api.inject("status", path="/version", status=500, times=20)
    _, result = refresh_dataset(settings, ALL, session=session)
    assert result.data_timestamp is None
    assert len(result.studies) == len(api.studies)


def test_unreachable_api_fails_with_one_line_and_keeps_data(api, settings, offline_settings):
    count = previous_dataset(api, settings)
    gone = replace(settings, api_url=offline_settings.api_url)
    with pytest.raises(ApiUnreachable, match="cannot reach ClinicalTrials.gov"):
        refresh_dataset(gone, ALL, session=build_session(gone), refresh=True)
    assert_intact(settings, count)


def test_stale_cache_is_used_when_the_api_is_down(api, tmp_path, settings):
    short = replace(settings, cache_expire_seconds=1)
    refresh_dataset(short, ALL, session=build_session(short))
    api.stop()
    time.sleep(1.2)
    dataset, result = refresh_dataset(short, ALL, session=build_session(short))
    assert result.from_cache and result.stale
    assert len(dataset.studies) == len(api.studies)
    assert "stale" in result.summary()


def test_never_fetched_machine_falls_back_to_the_snapshot(offline_settings):
    dataset = load_dataset(offline_settings)
    assert dataset.meta.source == "snapshot"
    assert len(dataset.studies) == 377
    assert "bundled snapshot" in dataset.meta.describe()


def test_corrupt_data_file_is_set_aside(api, session, settings):
    refresh_dataset(settings, ALL, session=session)
    refresh_dataset(settings, ALL, session=session, refresh=True)  # now there is a previous set too
    store = open_store(settings)
    current = store.version()
    with _engine(store.url).begin() as conn:  # half of the current set's studies lost
        conn.execute(text(f"DELETE FROM studies WHERE dataset_id = {current} AND position % 2 = 0"))
    dataset = load_dataset(settings)
    assert len(dataset.studies) == len(api.studies)  # served from the previous set
    assert any("damaged (wrong study count)" in w and "set aside" in w for w in dataset.meta.warnings)
    assert store.load_meta("current") is None and store.load_meta("previous") is not None


def test_cache_and_data_are_private(api, session, settings):
    refresh_dataset(settings, ALL, session=session)
    assert settings.cache_dir.stat().st_mode & 0o077 == 0
    assert (settings.cache_dir / "trialfinder.sqlite").stat().st_mode & 0o077 == 0


def test_single_study_and_404(api, session, settings):
    client = CtGovClient(session, settings)
    nct = api.studies[0]["protocolSection"]["identificationModule"]["nctId"]
    assert client.study(nct)["protocolSection"]["identificationModule"]["nctId"] == nct
    with pytest.raises(ApiError) as info:
        client.study("NCT99999999")
    assert info.value.status == 404


def test_rate_limiter_spaces_requests():
    from trialfinder.source.session import RateLimiter

    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(50, clock=lambda: now[0], sleep=sleep)
    sent = []
    for _ in range(120):
        limiter.acquire()
        sent.append(now[0])
        now[0] += 0.01
    assert limiter.count == 120
    assert all(sent[i + 50] - sent[i] >= 60 - 1e-6 for i in range(len(sent) - 50))  # never 51 in a minute
    assert sent[-1] < 121  # and no slower than it must be
    assert sum(slept) > 0


def test_record_dir_saves_raw_pages(api, session, settings, tmp_path):
    refresh_dataset(settings, ALL, session=session, record_dir=tmp_path / "rec")
    names = sorted(p.name for p in (tmp_path / "rec").iterdir())
    assert names == ["page-0001.json", "version.json"]


def test_user_text_cannot_change_the_search_syntax():
    query = SearchQuery.from_user(condition='AML") OR AREA[Phase]PHASE3 OR ("x', term="menin, FLT3")
    params = to_params(query)
    assert params["query.cond"].count('"') == 2
    assert "AREA[" not in params["query.cond"] and " OR " not in params["query.cond"]
    assert params["query.term"] == '"menin" OR "FLT3"'
    assert copy.copy(query) == query


def test_damaged_http_cache_is_set_aside_and_rebuilt(api, settings):
    refresh_dataset(settings, ALL, session=build_session(settings))
    settings.http_cache_path.write_bytes(b"this is not an sqlite database" * 100)
    session = build_session(settings)
    _, result = refresh_dataset(settings, ALL, session=session)
    assert len(result.studies) == len(api.studies)
    assert any("HTTP cache was damaged" in w for w in result.warnings)
    assert list(settings.cache_dir.glob("http_cache.sqlite.corrupt-*"))
