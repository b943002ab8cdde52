"""The bounds of a refresh at their edges (issue 15), beyond the fault matrix's rows: which redirects
are followed, the page ceiling with a totalCount, the plausibility rule's boundary, memory under a
gzip bomb, and a Retry-After that would end past the deadline. Loopback server, edited copies of real
fixture records where records are needed."""

from __future__ import annotations

import copy
import time
import tracemalloc
from dataclasses import replace

import pytest
from faultcases import ALL, edited

from trialfinder.errors import ApiUnreachable, InvalidResponse
from trialfinder.source.client import CtGovClient
from trialfinder.source.dataset import refresh_dataset
from trialfinder.source.query import SearchQuery
from trialfinder.source.session import build_session, same_host
from trialfinder.source.database import open_store


@pytest.mark.parametrize("origin, target, same", [
    ("http://127.0.0.1:8765/api/v2/studies", "http://127.0.0.1:8765/api/v2/studies?x=1", True),
    ("https://clinicaltrials.gov/api/v2/studies", "https://ClinicalTrials.gov:443/api/v2/x", True),
    ("http://clinicaltrials.gov/api/v2/studies", "https://clinicaltrials.gov/api/v2/studies", True),  # upgrade
    ("https://clinicaltrials.gov/api/v2/studies", "http://clinicaltrials.gov/api/v2/studies", False),  # downgrade
    ("http://127.0.0.1:8765/api/v2/studies", "http://127.0.0.2:8765/api/v2/studies", False),
    ("http://127.0.0.1:8765/api/v2/studies", "http://127.0.0.1:8766/api/v2/studies", False),
    ("https://clinicaltrials.gov/a", "https://clinicaltrials.gov.evil.example/a", False),
    ("https://clinicaltrials.gov/a", "https://user@evil.example/a", False),
    ("https://clinicaltrials.gov/a", "https://clinicaltrials.gov:99999/a", False),  # not a port
])
def test_which_redirects_stay_on_the_host(origin: str, target: str, same: bool) -> None:
    assert same_host(origin, target) is same


def test_a_redirect_loop_on_the_host_is_one_line(api, settings) -> None:
    api.inject("redirect", times=50)
    with pytest.raises(InvalidResponse, match="redirected us in a loop"):
        refresh_dataset(settings, ALL, session=build_session(settings), refresh=True)
    assert len(api.requests) == 6  # the first answer and 5 redirects followed


def test_the_page_ceiling_refuses_a_large_total_count_at_once(api, settings) -> None:
    st = replace(settings, page_size=100, max_pages=3)
    api.reset_log()
    with pytest.raises(InvalidResponse, match="more than 3 pages of 100; narrow it, or raise TRIALFINDER_MAX_PAGES"):
        refresh_dataset(st, ALL, session=build_session(st), refresh=True)
    assert len(api.studies_requests()) == 1
    _, result = refresh_dataset(replace(st, max_pages=4), ALL, session=build_session(st), refresh=True)
    assert result.pages == 4 == -(-len(api.studies) // 100)


def test_the_plausibility_rule_is_under_half_of_the_same_query(api, settings, fixture_studies) -> None:
    """Stored: the 377 fixtures. The server then holds edited copies of 189 (accepted) or 188 (refused)."""
    stored = len(fixture_studies)
    session = build_session(settings)
    refresh_dataset(settings, ALL, session=session)
    store = open_store(settings)
    half_up = (stored + 1) // 2
    api.set_studies(edited(fixture_studies[: half_up - 1], "(fewer)"))
    with pytest.raises(InvalidResponse, match=f"returned {half_up - 1} studies for this search, under half of the "
                                              f"{stored} stored.*--accept-smaller"):
        refresh_dataset(settings, ALL, session=session, refresh=True)
    assert store.load().meta.count == stored
    # the refused listing was dropped from the HTTP cache: a plain refresh asks the API again
    api.reset_log()
    with pytest.raises(InvalidResponse):
        refresh_dataset(settings, ALL, session=session)
    assert api.studies_requests()
    # another query is not compared with what is stored
    other = SearchQuery(condition="", term=None, statuses=("RECRUITING",))
    dataset, _ = refresh_dataset(settings, other, session=session, refresh=True)
    assert 0 < len(dataset.studies) < half_up
    refresh_dataset(settings, ALL, session=session, refresh=True, accept_smaller=True)  # the user confirms
    assert store.load().meta.count == half_up - 1
    api.set_studies(edited(fixture_studies[:stored], "(again)"))
    refresh_dataset(settings, ALL, session=session, refresh=True)  # growing is always fine
    api.set_studies(edited(fixture_studies[:half_up], "(half)"))
    dataset, _ = refresh_dataset(settings, ALL, session=session, refresh=True)  # exactly half is not under half
    assert len(dataset.studies) == half_up


def test_a_gzip_bomb_costs_no_more_memory_than_the_cap(api, settings) -> None:
    st = replace(settings, max_response_mb=5.0)
    client = CtGovClient(build_session(st), st)
    api.inject("gzip_bomb", size=1_000_000_000, path="/version")
    tracemalloc.start()
    try:
        with pytest.raises(InvalidResponse, match="larger than 5 MB .*TRIALFINDER_MAX_RESPONSE_MB"):
            client.version(refresh=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 30_000_000, peak  # the cap, a copy, and a decompression buffer: not a gigabyte


def test_no_retry_waits_past_the_deadline(api, settings) -> None:
    st = replace(settings, refresh_deadline=1.0, max_retry_after=10.0)
    api.inject("status", status=503, retry_after=3, times=5)
    start = time.perf_counter()
    with pytest.raises(ApiUnreachable, match="refresh deadline of 1 s"):
        refresh_dataset(st, ALL, session=build_session(st), refresh=True)
    assert time.perf_counter() - start < 1.0  # refused at once: waiting 3 s would end past the deadline


def test_a_refresh_within_the_deadline_is_unaffected_and_the_deadline_ends_with_it(api, settings) -> None:
    from trialfinder.source.session import polite_adapter

    st = replace(settings, refresh_deadline=5.0, page_size=100)
    session = build_session(st)
    _, result = refresh_dataset(st, ALL, session=session, refresh=True)
    assert len(result.studies) == len(api.studies)
    adapter = polite_adapter(session, st.api_base)
    assert adapter is not None and adapter.deadline.at is None  # (a later single request is not bounded by it)
    time.sleep(0.01)
    assert CtGovClient(session, st).version(refresh=True)["dataTimestamp"]


def test_an_odd_id_never_replaces_the_real_record(api, settings, fixture_studies) -> None:
    """A COPY of the first real record, its id with a trailing newline and its title changed: the real one stays."""
    impostor = copy.deepcopy(fixture_studies[0])
    ident = impostor["protocolSection"]["identificationModule"]
    real_id, ident["nctId"], ident["briefTitle"] = ident["nctId"], ident["nctId"] + "\n", "IMPOSTOR"
    api.set_studies(copy.deepcopy(fixture_studies) + [impostor])
    dataset, result = refresh_dataset(settings, ALL, session=build_session(settings))
    titles = {s["protocolSection"]["identificationModule"]["nctId"]:
              s["protocolSection"]["identificationModule"]["briefTitle"] for s in dataset.studies}
    assert len(titles) == len(fixture_studies) and titles[real_id] != "IMPOSTOR"
    assert result.warnings == ["1 record without a valid NCT id was skipped"]
