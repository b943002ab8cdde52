"""The API client at its edges (issue 20): /version read, the Retry-After of a rate limit kept for
the user, status codes either side of 500, a listing cached at two moments fetched again, page
counts at their limit. Against the loopback replay server (tests/apiserver.py) serving the real
records of fixtures/aml-studies; no test here touches the internet.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
import requests

from trialfinder.errors import ApiError, InvalidInput, InvalidResponse, RateLimited
from trialfinder.source import client as C
from trialfinder.source.client import CtGovClient, FetchResult
from trialfinder.source.query import SearchQuery
from trialfinder.source.session import build_session

ALL = SearchQuery(condition="", term=None, statuses=())  # everything the server holds


def _client(settings, **changes) -> CtGovClient:
    settings = replace(settings, **changes)
    return CtGovClient(build_session(settings), settings)


# --- /version ---------------------------------------------------------------------------------------

def test_version_reads_the_data_timestamp(api, settings) -> None:
    client = _client(settings)
    api.reset_log()
    assert client.version() == {"apiVersion": "2.0.5", "dataTimestamp": "2026-11-20T08:00:00"}
    assert client.version()["dataTimestamp"] == "2026-11-20T08:00:00"  # the second from the cache
    assert [r.path for r in api.requests] == ["/version"]
    api.data_timestamp = "2026-11-21T08:00:00"
    assert client.version(refresh=True)["dataTimestamp"] == "2026-11-21T08:00:00"  # refresh asks again
    assert [r.path for r in api.requests] == ["/version", "/version"]


@pytest.mark.parametrize("body, ok", [
    ('{"apiVersion": "2.0.5"}', True),  # no timestamp: allowed, the caller says "unknown"
    ('{"apiVersion": "2.0.5", "dataTimestamp": ""}', True),
    ('{"apiVersion": "2.0.5", "dataTimestamp": 20261120}', False),
    ('{"apiVersion": "2.0.5", "dataTimestamp": null}', False),
    ('{"apiVersion": "2.0.5", "dataTimestamp": ["2026"]}', False),
])
def test_version_refuses_a_timestamp_that_is_not_text(api, settings, body: str, ok: bool) -> None:
    api.inject("status", path="/version", status=200, body=body)
    client = _client(settings)
    if ok:
        assert client.version()["apiVersion"] == "2.0.5"
    else:
        with pytest.raises(InvalidResponse, match="no usable dataTimestamp"):
            client.version()


@pytest.mark.parametrize("body, problem", [
    ("[1, 2]", "JSON of an unexpected shape"), ('"text"', "JSON of an unexpected shape"),
    ('{"apiVersion": ', "truncated or malformed JSON"), ("   <html>hi</html>", "sent a web page"),
])
def test_answers_that_are_not_a_json_object(api, settings, body: str, problem: str) -> None:
    api.inject("status", path="/version", status=200, body=body)
    client = _client(settings)
    with pytest.raises(InvalidResponse, match=problem) as info:
        client.version()
    assert info.value.url.endswith("/version")
    assert client.version()["dataTimestamp"] == "2026-11-20T08:00:00"  # the bad answer was not cached


# --- rate limits: the Retry-After the user is told -------------------------------------------------------

@pytest.mark.parametrize("retry_after, carried, told", [
    (None, None, "try again later"),
    ("0", 0.0, "try again in 0 s"),
    ("1", 1.0, "try again in 1 s"),
    ("3600", 3600.0, "try again in 3600 s"),
    ("Wed, 21 Oct 2015 07:28:00 GMT", None, "try again later"),  # a date (already past): no number of seconds
])
def test_rate_limited_carries_retry_after(api, settings, retry_after, carried, told: str) -> None:
    api.inject("status", path="/version", status=429, retry_after=retry_after, times=10)
    client = _client(settings, max_retries=1)
    with pytest.raises(RateLimited) as info:
        client.version()
    error = info.value
    assert error.retry_after == carried and error.status == 429 and error.url.endswith("/version")
    assert str(error) == f"ClinicalTrials.gov is rate-limiting us (HTTP 429) even after retries; {told}"


# --- other status codes -------------------------------------------------------------------------------

@pytest.mark.parametrize("status, hint, body_shown, try_again", [
    (400, "the API refused the request as malformed", True, True),
    (404, "not found", True, False),
    (418, "unexpected answer", True, True),
    (499, "unexpected answer", True, True),  # below 500: the API's own words are shown
    (500, "the API had an internal error", False, True),
    (501, "unexpected answer", False, True),
    (502, "the API's gateway failed", False, True),
    (503, "the API is unavailable", False, True),
    (504, "the API timed out", False, True),
])
def test_status_codes(api, settings, status: int, hint: str, body_shown: bool, try_again: bool) -> None:
    api.inject("status", path="/version", status=status, body="  the   server's\nwords  ", times=10)
    client = _client(settings, max_retries=0)
    with pytest.raises(ApiError) as info:
        client.version()
    error = info.value
    assert error.status == status and not isinstance(error, (RateLimited, InvalidResponse))
    expected = f"ClinicalTrials.gov answered HTTP {status} ({hint}) for /version"
    expected += ": the server's words" if body_shown else ""
    expected += "; try again later (the last data set is kept)" if try_again else ""
    assert str(error) == expected


def test_a_long_error_body_is_cut(api, settings) -> None:
    api.inject("status", path="/version", status=400, body="x" * 119 + "yz")
    with pytest.raises(ApiError) as info:
        _client(settings, max_retries=0).version()
    assert ": " + "x" * 119 + "y;" in str(info.value) and "yz" not in str(info.value)


def test_a_study_is_read_once_then_from_the_cache(api, settings) -> None:
    client = _client(settings)
    nct = api.studies[5]["protocolSection"]["identificationModule"]["nctId"]
    api.reset_log()
    assert client.study(nct) == client.study(nct) == api.studies[5]
    assert [r.path for r in api.requests] == [f"/studies/{nct}"]
    client.study(nct, refresh=True)
    assert len(api.requests) == 2


def test_a_study_number_is_checked_before_asking(api, settings) -> None:
    client = _client(settings)
    api.reset_log()
    for bad in ("NCT1234567", "NCT123456789", "12345678", "nct0123456"):
        with pytest.raises(InvalidInput, match="is not an NCT number"):
            client.study(bad)
    assert api.requests == []


# --- a listing in the cache from two moments is fetched again --------------------------------------------

def test_cached_pages_from_two_moments_are_fetched_again(api, settings) -> None:
    """Run 1 caches all 4 pages; run 2 (a refresh) replaces pages 1-2 and then fails on page 3, leaving
    pages 3-4 from run 1. Run 3 must not serve that mix: it asks the network for every page."""
    paged = replace(settings, page_size=100, max_retries=0)
    session = build_session(paged)
    client = CtGovClient(session, paged)
    first = client.fetch_all(ALL)
    pages = math.ceil(len(api.studies) / 100)
    assert first.pages == pages == 4 and not first.from_cache
    time.sleep(0.05)
    api.inject("status", status=400, skip=2)  # the third page of the next listing
    with pytest.raises(ApiError):
        client.fetch_all(ALL, refresh=True)
    api.reset_log()
    third = client.fetch_all(ALL)
    assert len(api.studies_requests()) == pages  # every page again, from the network
    assert not third.from_cache and not third.mixed and third.requests_sent == pages + 1  # and /version
    assert len(third.studies) == len(api.studies)
    api.reset_log()
    fourth = client.fetch_all(ALL)  # now one moment: served from the cache
    assert fourth.from_cache and api.studies_requests() == [] and fourth.requests_sent == 0


def test_a_listing_partly_expired_from_the_cache_is_fetched_again_whole(api, settings) -> None:
    """Run 1 caches 4 pages; pages 3-4 then leave the cache (as expired entries do). Run 2 gets pages
    1-2 from the cache and 3-4 from the network: a mix, so it asks the network for all 4 again."""
    paged = replace(settings, page_size=100, max_retries=0)
    session = build_session(paged)
    client = CtGovClient(session, paged)
    client.fetch_all(ALL)
    later = [requests.Request("GET", api.url + "/studies", params=r.params).prepare().url
             for r in api.studies_requests()[2:]]
    session.cache.delete(urls=later)
    api.reset_log()
    result = client.fetch_all(ALL)
    assert len(api.studies_requests()) == 2 + 4
    assert not result.from_cache and not result.mixed and len(result.studies) == len(api.studies)
    assert result.requests_sent == 2 + 1 + 4 + 1  # pages 3-4, /version, then every page and /version again


def test_progress_reports_each_page(api, settings) -> None:
    client = _client(settings, page_size=100)
    seen: list[tuple[int, int | None]] = []
    result = client.fetch_all(ALL, progress=lambda n, total: seen.append((n, total)))
    total = len(api.studies)
    assert seen == [(min(100 * k, total), total) for k in range(1, 5)]
    assert result.total_count == total and result.data_timestamp == "2026-11-20T08:00:00"
    assert result.api_version == "2.0.5" and result.warnings == [] and result.duplicates == 0


def test_a_listing_ending_early_is_refused(api, settings) -> None:
    """The server's total is raised above what it lists: the download is incomplete."""
    client = _client(settings, page_size=1000)
    api.inject("empty_with_token", skip=0)
    with pytest.raises(InvalidResponse, match=r"ended the listing early \(0 of \d+ studies\)"):
        client.fetch_all(ALL)


# --- page counts at their limit, and the summary -----------------------------------------------------------

def _offline_client(page_size: int = 100) -> CtGovClient:
    from trialfinder.source.settings import Settings

    return CtGovClient(requests.Session(), Settings(api_url="http://127.0.0.1:9/api/v2", page_size=page_size))


@pytest.mark.parametrize("pages, ok", [(13, True), (14, True), (15, False)])
def test_more_pages_than_the_total_allows(pages: int, ok: bool) -> None:
    """350 studies at 100 a page is 4 pages; 10 more are tolerated (a listing that shifts while read)."""
    client = _offline_client()
    result = FetchResult(studies=[], query=ALL, pages=pages, total_count=350)
    page = {"nextPageToken": "t2"}
    if ok:
        assert client._next_token(result, page, "t1", {"t0"}, True) == "t2"
    else:
        with pytest.raises(InvalidResponse, match="more pages than its total count"):
            client._next_token(result, page, "t1", set(), True)


@pytest.mark.parametrize("page, token, seen, had, out", [
    ({}, None, set(), True, None), ({"nextPageToken": ""}, None, set(), True, None),
    ({"nextPageToken": "b"}, "a", set(), False, None),  # an empty page ends the listing
    ({"nextPageToken": "b"}, "a", set(), True, "b"),
    ({"nextPageToken": "a"}, "a", set(), True, "repeat"), ({"nextPageToken": "b"}, "c", {"b"}, True, "repeat"),
    ({"nextPageToken": 5}, "a", set(), True, "repeat"),
])
def test_next_token(page, token, seen, had, out) -> None:
    client = _offline_client()
    result = FetchResult(studies=[], query=ALL, pages=1, total_count=None)
    if out == "repeat":
        with pytest.raises(InvalidResponse, match="repeated a page token"):
            client._next_token(result, page, token, seen, had)
    else:
        assert client._next_token(result, page, token, seen, had) == out
        assert (out in seen) is (out is not None)


@pytest.mark.parametrize("studies, pages, sent, cache, stale, text", [
    (1, 1, 1, False, False, "1 studies, 1 page, 1 request sent, live, data timestamp 2026-11-20"),
    (2, 2, 2, False, False, "2 studies, 2 pages, 2 requests sent, live, data timestamp 2026-11-20"),
    (0, 0, 0, True, False, "0 studies, 0 pages, 0 requests sent, from cache, data timestamp 2026-11-20"),
    (3, 1, 0, True, True, "3 studies, 1 page, 0 requests sent, from cache (stale: the API could not be reached), "
                          "data timestamp 2026-11-20"),
])
def test_summary(studies, pages, sent, cache, stale, text) -> None:
    result = FetchResult(studies=[{}] * studies, query=ALL, pages=pages, requests_sent=sent, from_cache=cache,
                         stale=stale, data_timestamp="2026-11-20")
    assert result.summary() == text
    assert replace(result, data_timestamp=None).summary().endswith("data timestamp unknown")


def _with_id(nct) -> dict:
    return {"protocolSection": {"identificationModule": {"nctId": nct}}}


def test_records_without_a_valid_id_are_skipped_and_repeats_counted(fixture_studies) -> None:
    """_collect counts; the one warning is worded by fetch_all (below), not per record."""
    result = FetchResult(studies=[], query=ALL)
    by_id: dict = {}
    good = fixture_studies[:2]
    C._collect(result, [good[0], {"protocolSection": {}}, "not a record", good[1], good[0]], by_id)
    assert list(by_id) == [s["protocolSection"]["identificationModule"]["nctId"] for s in good]
    assert result.duplicates == 1 and result.skipped == 2
    assert result.warnings == []


@pytest.mark.parametrize("nct, valid", [
    ("NCT01234567", True), ("NCT1234567", False), ("NCT123456789", False),  # exactly 8 digits / 7 / 9
    ("nct01234567", False), ("NCT01234567\n", False), (" NCT01234567", False), ("NCT0123456 ", False),
    ("NCT0123456\u0667", False), ("NCT0123456\uff17", False),  # a digit, but not an ASCII one
    (1234567, False), (None, False),
])
def test_an_nct_id_is_exactly_nct_and_eight_ascii_digits(nct, valid: bool) -> None:
    result = FetchResult(studies=[], query=ALL)
    by_id: dict = {}
    C._collect(result, [_with_id(nct)], by_id)
    assert (list(by_id) == [nct]) is valid and result.skipped == int(not valid)


@pytest.mark.parametrize("bad, warning", [
    (0, None), (1, "1 record without a valid NCT id was skipped"), (2, "2 records without a valid NCT id were skipped"),
])
def test_skipped_records_are_one_counted_warning(api, settings, fixture_studies, monkeypatch, bad: int,
                                                 warning: str | None) -> None:
    """The server's first ``bad`` records are read as having no valid id (the test server refuses to hold any)."""
    first = sorted(s["protocolSection"]["identificationModule"]["nctId"] for s in fixture_studies)[:bad]
    real = C.valid_nct_id
    monkeypatch.setattr(C, "valid_nct_id", lambda record: None if real(record) in first else real(record))
    result = _client(settings, page_size=100).fetch_all(ALL)
    assert result.skipped == bad and len(result.studies) == len(fixture_studies) - bad
    skipped = [w for w in result.warnings if "NCT id" in w]
    assert skipped == ([warning] if warning else [])


def test_iso_times() -> None:
    naive = datetime(2026, 11, 20, 8, 0, 0, 999)
    assert C._iso(naive) == "2026-11-20T08:00:00+00:00"  # a naive time is UTC
    assert C._iso(datetime(2026, 11, 20, 9, 30, tzinfo=timezone(timedelta(hours=1)))) == "2026-11-20T08:30:00+00:00"


def test_fetched_at_is_when_the_oldest_cached_page_was_stored(api, settings) -> None:
    client = _client(settings, page_size=100)
    first = client.fetch_all(ALL)
    again = client.fetch_all(ALL)
    assert again.from_cache and again.fetched_at <= first.fetched_at
    assert datetime.fromisoformat(again.fetched_at).tzinfo is not None


# --- what a listing leaves behind --------------------------------------------------------------------------

def test_a_plain_session_counts_every_request(api, settings) -> None:
    """A session that is not ours (no cache, no counting adapter): the client counts the answers itself."""
    paged = replace(settings, page_size=100)
    client = CtGovClient(requests.Session(), paged)
    result = client.fetch_all(ALL)
    assert result.requests_sent == 4 + 1 and result.pages == 4  # the pages and /version
    assert not result.from_cache and not result.stale and not result.mixed
    assert client.fetch_all(ALL).requests_sent == 5  # nothing cached: every time again


def test_the_pages_of_a_refused_listing_leave_the_cache(api, settings) -> None:
    """Page 2 of 4 arrives cut short: page 1, already cached, is dropped too, so the next run asks for all 4."""
    client = _client(settings, page_size=100)
    api.inject("truncated", skip=1)
    with pytest.raises(InvalidResponse):
        client.fetch_all(ALL)
    api.reset_log()
    result = client.fetch_all(ALL)
    assert len(api.studies_requests()) == 4 and not result.from_cache and not result.mixed


def test_a_listing_without_a_total_is_taken_as_it_comes(api, settings, fixture_studies) -> None:
    """The first page answered with an edited copy of a real answer: one real record, no totalCount."""
    import json

    api.inject("status", status=200, body=json.dumps({"studies": [fixture_studies[0]]}))
    result = _client(settings).fetch_all(ALL)
    assert result.total_count is None and len(result.studies) == 1 and result.pages == 1


@pytest.mark.parametrize("version, timestamp", [
    ('{"apiVersion": "2.0.5"}', None), ('{"apiVersion": "2.0.5", "dataTimestamp": ""}', None),
    ('{"apiVersion": "2.0.5", "dataTimestamp": "2026-11-20T08:00:00"}', "2026-11-20T08:00:00"),
])
def test_the_data_timestamp_of_a_listing(api, settings, version: str, timestamp) -> None:
    api.inject("status", path="/version", status=200, body=version)
    result = _client(settings).fetch_all(ALL)
    assert result.data_timestamp == timestamp and result.api_version == "2.0.5"
    assert "data timestamp " + (timestamp or "unknown") in result.summary()


def test_a_failing_version_is_a_warning(api, settings) -> None:
    api.inject("status", path="/version", status=404, times=5)
    result = _client(settings, max_retries=0).fetch_all(ALL)
    assert result.data_timestamp is None and len(result.studies) == len(api.studies)
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("/version failed (ClinicalTrials.gov answered HTTP 404 (not found)")
    assert result.warnings[0].endswith("); the data timestamp is unknown")


def test_record_dir_is_created_with_its_parents(api, settings, tmp_path) -> None:
    folder = tmp_path / "not" / "yet" / "there"
    result = _client(settings, page_size=200).fetch_all(ALL, record_dir=folder)
    assert sorted(p.name for p in folder.iterdir()) == ["page-0001.json", "page-0002.json", "version.json"]
    import json

    assert len(json.loads((folder / "page-0002.json").read_text())["studies"]) == len(result.studies) - 200


@pytest.mark.parametrize("total, pages, refused", [
    (20_000, 0, None),  # 200 pages of 100 exactly: the ceiling (max_pages 200) allows it
    (20_001, 0, "more than 200 pages of 100"),  # one study more needs page 201
    (None, 199, None),  # no total: page 200 may still be asked for
    (None, 200, "kept sending pages \\(200, the ceiling is 200"),
])
def test_the_page_ceiling_at_its_limit(total: int | None, pages: int, refused: str | None) -> None:
    client = _offline_client()
    assert client.settings.max_pages == 200
    result = FetchResult(studies=[], query=ALL, pages=pages, total_count=total)
    if refused is None:
        assert client._next_token(result, {"nextPageToken": "t2"}, "t1", set(), True) == "t2"
    else:
        with pytest.raises(InvalidResponse, match=refused):
            client._next_token(result, {"nextPageToken": "t2"}, "t1", set(), True)


@pytest.mark.parametrize("studies, stored, refused", [
    (188, 376, False), (187, 376, True),  # exactly half of an even count is not under half; one fewer is
    (189, 377, False), (188, 377, True),  # an odd count: half rounds up
    (0, None, False), (0, 0, False),  # nothing stored for this query: nothing to compare with
])
def test_a_listing_under_half_of_the_stored_count_is_refused(studies: int, stored: int | None, refused: bool) -> None:
    result = FetchResult(studies=[{}] * studies, query=ALL)
    if refused:
        with pytest.raises(InvalidResponse, match=f"returned {studies} studies .* under half of the {stored} stored"):
            C._check_size(result, stored)
    else:
        C._check_size(result, stored)
