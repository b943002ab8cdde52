"""The fake ClinicalTrials.gov API v2 server (tests/apiserver.py) behaves as documented."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
import requests
from apiserver import (
    FIXTURES_DIR,
    ApiServer,
    Request,
    load_fixture_studies,
    replicate,
)

TIMEOUT = 5


@pytest.fixture(scope="module")
def studies() -> list[dict]:
    return load_fixture_studies()


@pytest.fixture(scope="module")
def server(studies):
    with ApiServer(studies) as srv:
        yield srv


@pytest.fixture
def api(server, studies):
    """the shared server, with an empty log, no faults and the fixture data set"""
    server.clear_faults()
    server.set_studies(studies)
    server.reset_log()
    yield server
    server.clear_faults()


@pytest.fixture
def session():
    with requests.Session() as s:
        yield s


def nct(study: dict) -> str:
    return study["protocolSection"]["identificationModule"]["nctId"]


def get(api, path="/studies", session=None, **params):
    return (session or requests).get(f"{api.url}{path}", params=params, timeout=TIMEOUT)


def page_through(api, session, **params) -> tuple[list[dict], list[dict]]:
    """every study of every page, and every page (minus its studies)"""
    out, pages, token = [], [], None
    for _ in range(10_000):
        p = dict(params)
        if token:
            p["pageToken"] = token
        r = get(api, session=session, **p)
        assert r.status_code == 200, r.text
        body = r.json()
        out.extend(body["studies"])
        pages.append({k: v for k, v in body.items() if k != "studies"} | {"n": len(body["studies"])})
        token = body.get("nextPageToken")
        if not token:
            return out, pages
    raise AssertionError("paging does not end")


# -- paging ------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [10, 1000])
def test_paging_visits_every_study_once(api, session, studies, size):
    got, pages = page_through(api, session, pageSize=size, countTotal="true")
    ids = [nct(s) for s in got]
    assert sorted(ids) == sorted(nct(s) for s in studies)
    assert len(set(ids)) == len(ids) == len(studies)
    assert ids == sorted(ids)  # stable order: by nctId
    assert len(pages) == -(-len(studies) // size)
    assert pages[0]["totalCount"] == len(studies)
    assert all("totalCount" not in p for p in pages[1:])
    assert "nextPageToken" not in pages[-1]
    assert all(p["n"] == size for p in pages[:-1])


def test_total_count_only_when_asked(api):
    assert "totalCount" not in get(api, pageSize=5).json()
    assert get(api, pageSize=5, countTotal="TRUE").json()["totalCount"] == 377
    assert "totalCount" not in get(api, pageSize=5, countTotal="false").json()
    assert get(api, countTotal="maybe").status_code == 400


def test_count_total_is_ignored_on_later_pages(api):
    first = get(api, pageSize=100, countTotal="true").json()
    second = get(api, pageSize=100, countTotal="true", pageToken=first["nextPageToken"]).json()
    assert "totalCount" not in second and len(second["studies"]) == 100


def test_page_size_default_cap_and_errors(api, studies):
    assert len(get(api).json()["studies"]) == 10
    assert len(get(api, pageSize=0).json()["studies"]) == 10
    assert len(get(api, pageSize=7).json()["studies"]) == 7
    api.set_studies(replicate(studies, 1200))
    body = get(api, pageSize=5000, countTotal="true").json()
    assert len(body["studies"]) == 1000 and body["totalCount"] == 1200 and "nextPageToken" in body
    for bad in ("-1", "ten", "1.5"):
        r = get(api, pageSize=bad)
        assert r.status_code == 400 and r.headers["Content-Type"].startswith("text/plain")


def test_page_size_may_change_between_pages(api, session, studies):
    first = get(api, pageSize=3).json()
    second = get(api, pageSize=50, pageToken=first["nextPageToken"]).json()
    assert [nct(s) for s in first["studies"] + second["studies"]] == [nct(s) for s in studies][:53]


def test_bad_page_tokens_are_400(api):
    token = get(api, pageSize=5, **{"query.cond": "AML"}).json()["nextPageToken"]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert get(api, pageSize=5, pageToken=token, **{"query.cond": "AML"}).status_code == 200
    # a token belongs to its query: other params -> 400
    other = get(api, pageSize=5, pageToken=token, **{"query.cond": "leukemia"})
    assert other.status_code == 400 and "pageToken" in other.text
    assert get(api, pageSize=5, pageToken=token).status_code == 400
    assert get(api, pageToken="not-a-token!!").status_code == 400
    assert get(api, pageToken="eyJmb28iOjF9").status_code == 400  # valid base64 JSON, wrong shape


def test_response_shape_and_headers(api):
    r = get(api, pageSize=2, countTotal="true", fields="NCTId")
    assert r.headers["Content-Type"] == "application/json"
    assert int(r.headers["Content-Length"]) == len(r.content)
    assert set(r.json()) == {"studies", "totalCount", "nextPageToken"}


# -- fields ------------------------------------------------------------------------------------


def test_fields_dotted_paths(api, studies):
    fields = "protocolSection.identificationModule,protocolSection.sponsorCollaboratorsModule.leadSponsor"
    got = get(api, pageSize=1000, fields=fields).json()["studies"]
    full = {nct(s): s for s in studies}
    for s in got:
        ps = s["protocolSection"]
        assert set(s) == {"protocolSection"}
        assert set(ps) <= {"identificationModule", "sponsorCollaboratorsModule"}
        original = full[nct(s)]["protocolSection"]
        assert ps["identificationModule"] == original["identificationModule"]
        if "leadSponsor" in original.get("sponsorCollaboratorsModule", {}):
            assert ps["sponsorCollaboratorsModule"] == {
                "leadSponsor": original["sponsorCollaboratorsModule"]["leadSponsor"]
            }
        else:
            assert "sponsorCollaboratorsModule" not in ps


def test_fields_through_lists(api):
    [study] = get(api, fields="protocolSection.contactsLocationsModule.locations.geoPoint|NCTId",
                  **{"filter.ids": "NCT02204020"}).json()["studies"]
    assert study == {
        "protocolSection": {
            "identificationModule": {"nctId": "NCT02204020"},
            "contactsLocationsModule": {"locations": [{"geoPoint": {"lat": 40.44062, "lon": -79.99589}}]},
        }
    }


def test_fields_piece_and_area_names(api, studies):
    first = studies[0]
    [s] = get(api, pageSize=1, fields="NCTId,BriefTitle,OverallStatus,LastUpdatePostDate,HasResults").json()["studies"]
    assert s["hasResults"] == first["hasResults"]
    ident, status = s["protocolSection"]["identificationModule"], s["protocolSection"]["statusModule"]
    assert ident == {"nctId": nct(first), "briefTitle": first["protocolSection"]["identificationModule"]["briefTitle"]}
    assert status["overallStatus"] == first["protocolSection"]["statusModule"]["overallStatus"]
    assert set(status) <= {"overallStatus", "lastUpdatePostDateStruct"}
    for name in ("ProtocolSection", "protocolSection"):
        [s] = get(api, pageSize=1, fields=name).json()["studies"]
        assert s == {"protocolSection": first["protocolSection"]}
    [s] = get(api, pageSize=1, fields="ConditionsModule|EligibilityModule").json()["studies"]
    assert set(s["protocolSection"]) == {"conditionsModule", "eligibilityModule"}
    assert get(api, pageSize=1).json()["studies"][0] == first  # no fields: whole record


@pytest.mark.parametrize(
    "fields",
    ["NoSuchField", "protocolSection.noSuchModule", "protocolSection.identificationModule.nope",
     "protocolsection.identificationModule", "", ",", "hasResults.x"],
)
def test_unknown_fields_are_400(api, fields):
    r = get(api, fields=fields)
    assert r.status_code == 400 and r.headers["Content-Type"].startswith("text/plain"), fields


# -- filters and queries -----------------------------------------------------------------------


def statuses_of(api, **params) -> Counter:
    got = get(api, pageSize=1000, fields="NCTId,OverallStatus", **params).json()["studies"]
    return Counter(s["protocolSection"]["statusModule"]["overallStatus"] for s in got)


def test_status_filter(api, studies):
    expected = Counter(s["protocolSection"]["statusModule"]["overallStatus"] for s in studies)
    assert statuses_of(api, **{"filter.overallStatus": "RECRUITING"}) == {"RECRUITING": expected["RECRUITING"]}
    both = statuses_of(api, **{"filter.overallStatus": "RECRUITING|NOT_YET_RECRUITING"})
    assert both == {k: expected[k] for k in ("RECRUITING", "NOT_YET_RECRUITING")}
    assert statuses_of(api, **{"filter.overallStatus": "RECRUITING,NOT_YET_RECRUITING"}) == both
    assert get(api, **{"filter.overallStatus": "RECRUITING,OPEN"}).status_code == 400


def test_ids_filter(api):
    ids = ["NCT02204020", "NCT00002517", "nct00000589"]
    got = get(api, **{"filter.ids": ",".join(ids)}).json()["studies"]
    assert [nct(s) for s in got] == ["NCT00000589", "NCT00002517", "NCT02204020"]
    assert get(api, **{"filter.ids": "NCT99999999"}).json()["studies"] == []
    assert get(api, **{"filter.ids": "NCT123"}).status_code == 400


def ids_for(api, **params) -> set[str]:
    return {nct(s) for s in get(api, pageSize=1000, fields="NCTId", **params).json()["studies"]}


def cond_text(study: dict) -> str:
    ps = study["protocolSection"]
    ident = ps["identificationModule"]
    parts = ps["conditionsModule"].get("conditions", []) + ps["conditionsModule"].get("keywords", [])
    parts += [ident.get("briefTitle", ""), ident.get("officialTitle", ""), ident.get("acronym", "")]
    return " | ".join(parts).lower()


def test_query_cond_whole_words_case_insensitive(api, studies):
    aml = ids_for(api, **{"query.cond": "AML"})
    expected = {nct(s) for s in studies if re.search(r"\baml\b", cond_text(s))}
    assert aml == expected and 0 < len(aml) < len(studies)
    assert ids_for(api, **{"query.cond": "aml"}) == aml
    assert ids_for(api, **{"query.cond": "leukemi"}) == set()  # whole words only


def test_query_cond_phrases_and_or(api, studies):
    phrase = ids_for(api, **{"query.cond": '"acute myeloid leukemia"'})
    assert phrase == {nct(s) for s in studies if re.search(r"\bacute myeloid leukemia\b", cond_text(s))}
    either = ids_for(api, **{"query.cond": '"acute myeloid leukemia" OR AML'})
    assert either == phrase | ids_for(api, **{"query.cond": "AML"})
    # parentheses, AND, juxtaposition, NOT
    both = ids_for(api, **{"query.cond": '("acute myeloid leukemia") AND AML'})
    assert both == phrase & ids_for(api, **{"query.cond": "AML"})
    assert ids_for(api, **{"query.cond": '"acute myeloid leukemia" AML'}) == both
    assert ids_for(api, **{"query.cond": '"acute myeloid leukemia" NOT AML'}) == phrase - both
    # lower-case "or" is a word, not an operator
    assert ids_for(api, **{"query.cond": "leukemia or AML"}) != ids_for(api, **{"query.cond": "leukemia OR AML"})


def test_query_term_searches_all_text(api):
    # a word only in an eligibility criteria text / a sponsor name is found by query.term, not query.cond
    term = ids_for(api, **{"query.term": "relapsed OR refractory"})
    assert term
    assert ids_for(api, **{"query.term": "Pittsburgh"}) >= {"NCT02204020"}
    assert "NCT02204020" not in ids_for(api, **{"query.cond": "Pittsburgh"})
    combined = ids_for(api, **{"query.cond": "AML", "query.term": "relapsed OR refractory",
                               "filter.overallStatus": "RECRUITING"})
    assert combined == ids_for(api, **{"query.cond": "AML"}) & term & ids_for(
        api, **{"filter.overallStatus": "RECRUITING"})


def test_query_of_only_nct_ids_ignores_filters(api):
    got = ids_for(api, **{"query.term": "NCT02204020, NCT00000589", "filter.overallStatus": "WITHDRAWN"})
    assert got == {"NCT02204020", "NCT00000589"}


def test_unsupported_and_unknown_parameters_are_400(api):
    assert get(api, **{"query.term": "AREA[LastUpdatePostDate]RANGE[2023-01-15,MAX]"}).status_code == 400
    r = get(api, **{"filter.phase": "PHASE3"})
    assert r.status_code == 400 and "`filter.phase` is unknown parameter" in r.text
    assert get(api, sort="LastUpdatePostDate").status_code == 400
    assert get(api, format="csv").status_code == 400
    assert get(api, format="json").status_code == 200


# -- other endpoints ---------------------------------------------------------------------------


def test_single_study(api, studies):
    r = get(api, "/studies/NCT02204020")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    assert r.json() == next(s for s in studies if nct(s) == "NCT02204020")
    assert get(api, "/studies/nct02204020").json()["protocolSection"]["identificationModule"]["nctId"] == "NCT02204020"
    assert get(api, "/studies/NCT02204020", fields="NCTId").json() == {
        "protocolSection": {"identificationModule": {"nctId": "NCT02204020"}}}
    missing = get(api, "/studies/NCT99999999")
    assert missing.status_code == 404 and missing.headers["Content-Type"].startswith("text/plain")
    assert get(api, "/studies/12345").status_code == 400
    assert get(api, "/studies/NCT02204020", fields="Nope").status_code == 400


def test_version_and_unknown_paths(api):
    assert get(api, "/version").json() == {"apiVersion": "2.0.5", "dataTimestamp": "2026-11-20T08:00:00"}
    for path in ("/nope", "/studies/NCT02204020/extra", "/"):
        assert get(api, path).status_code == 404, path
    assert requests.get(api.url.replace("/api/v2", "/studies"), timeout=TIMEOUT).status_code == 404


def test_request_log(api):
    get(api, pageSize=2)
    get(api, "/studies/NCT02204020")
    get(api, "/version")
    get(api, pageSize="x")
    log = api.requests
    assert [r.path for r in log] == ["/studies", "/studies/NCT02204020", "/version", "/studies"]
    assert [r.status for r in log] == [200, 200, 200, 400]
    assert log[0].params == {"pageSize": "2"} and log[0].nbytes > 0 and isinstance(log[0], Request)
    assert [r.params for r in api.studies_requests()] == [{"pageSize": "2"}, {"pageSize": "x"}]
    api.reset_log()
    assert api.requests == []


def test_set_studies_swaps_the_data(api, studies):
    api.set_studies(studies[:5])
    assert get(api, countTotal="true").json()["totalCount"] == 5
    api.set_studies(studies)
    assert get(api, countTotal="true").json()["totalCount"] == len(studies)


def test_concurrent_clients(api, studies):
    results = []

    def worker():
        with requests.Session() as s:
            results.append(len(page_through(api, s, pageSize=50)[0]))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [len(studies)] * 8


# -- faults ------------------------------------------------------------------------------------


def test_fault_status_with_retry_after(api):
    api.inject("status", status=429, retry_after=3)
    r = get(api)
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"
    assert r.headers["Content-Type"].startswith("text/plain")
    assert get(api).status_code == 200  # used up
    for code in (500, 502, 503, 504, 400):
        api.inject("status", status=code)
        r = get(api)
        assert r.status_code == code and "Retry-After" not in r.headers
    assert api.requests[0].fault == "status" and api.requests[1].fault is None


def test_fault_slow_triggers_read_timeout(api):
    api.inject("slow", delay=1.0)
    with pytest.raises(requests.Timeout):
        requests.get(f"{api.url}/studies", timeout=(1, 0.2))
    assert get(api).status_code == 200


def test_fault_truncated(api):
    full = get(api, pageSize=20).content
    api.inject("truncated")
    r = get(api, pageSize=20)
    assert r.status_code == 200 and len(r.content) == int(r.headers["Content-Length"]) == len(full) // 2
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)
    assert get(api, pageSize=20).content == full


def test_fault_html(api):
    api.inject("html")
    r = get(api)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "<html>" in r.text
    with pytest.raises(ValueError):
        r.json()


def test_fault_empty_with_token(api, studies):
    api.inject("empty_with_token")
    first = get(api, pageSize=5, countTotal="true").json()
    assert first["studies"] == [] and first["totalCount"] == len(studies) and first["nextPageToken"]
    # following the token gives the page that was held back
    second = get(api, pageSize=5, pageToken=first["nextPageToken"]).json()
    assert [nct(s) for s in second["studies"]] == [nct(s) for s in studies[:5]]


def test_fault_repeat_token(api):
    first = get(api, pageSize=5).json()
    api.inject("repeat_token")
    second = get(api, pageSize=5, pageToken=first["nextPageToken"]).json()
    assert second["nextPageToken"] == first["nextPageToken"] and len(second["studies"]) == 5
    api.inject("repeat_token")
    again = get(api, pageSize=5).json()  # page 1: a token for page 1 itself
    assert get(api, pageSize=5, pageToken=again["nextPageToken"]).json() == first


def test_fault_reset(api):
    api.inject("reset")
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        requests.get(f"{api.url}/studies", params={"pageSize": 200}, timeout=TIMEOUT)
    [entry] = api.requests
    assert entry.fault == "reset" and 0 < entry.nbytes
    assert get(api).status_code == 200


def test_fault_duplicate(api, studies):
    ids = [nct(s) for s in studies]
    first = get(api, pageSize=5).json()
    api.inject("duplicate")
    second = get(api, pageSize=5, pageToken=first["nextPageToken"]).json()
    assert [nct(s) for s in second["studies"]] == ids[:10]
    api.inject("duplicate")
    assert [nct(s) for s in get(api, pageSize=5).json()["studies"]] == [ids[0]] + ids[:5]


def test_fault_bad_token(api):
    first = get(api, pageSize=5).json()
    api.inject("bad_token")
    r = get(api, pageSize=5, pageToken=first["nextPageToken"])
    assert r.status_code == 400 and r.text == "invalid pageToken"
    assert get(api, pageSize=5, pageToken=first["nextPageToken"]).status_code == 200


def test_fault_redirect_to_another_host_and_to_itself(api, studies):
    with ApiServer(studies[:3], host="127.0.0.2") as other:
        api.inject("redirect", to=f"127.0.0.2:{other.port}")
        r = requests.get(f"{api.url}/studies", params={"pageSize": 2}, timeout=TIMEOUT, allow_redirects=False)
        assert r.status_code == 302
        assert r.headers["Location"] == f"http://127.0.0.2:{other.port}/api/v2/studies?pageSize=2"
        api.inject("redirect", to=f"127.0.0.2:{other.port}")
        followed = get(api, countTotal="true")  # requests follows it: the other host's data
        assert followed.json()["totalCount"] == 3 and followed.history[0].status_code == 302
    api.inject("redirect", status=301)
    r = get(api, countTotal="true")
    assert r.history[0].status_code == 301 and r.json()["totalCount"] == len(studies)
    assert r.history[0].headers["Location"].startswith(api.url)


def test_fault_gzip_bomb_inflates_to_its_size(api):
    api.inject("gzip_bomb", size=5_000_000)
    r = requests.get(f"{api.url}/studies", timeout=TIMEOUT, stream=True)
    assert r.headers["Content-Encoding"] == "gzip" and int(r.headers["Content-Length"]) < 20_000
    body = r.content  # (decoded by requests)
    assert len(body) == 5_000_000 and json.loads(body)["studies"] == []


@pytest.mark.parametrize("chunked", [False, True])
def test_fault_oversize(api, chunked):
    normal = get(api, pageSize=3).json()
    api.inject("oversize", size=3_000_000, chunked=chunked)
    r = get(api, pageSize=3)
    assert len(r.content) == 3_000_000 and r.json() == normal
    assert ("Content-Length" in r.headers) is not chunked
    assert r.headers.get("Transfer-Encoding") == ("chunked" if chunked else None)


@pytest.mark.parametrize("headers", [False, True])
def test_fault_drip_sends_a_byte_at_a_time(api, headers):
    import time

    api.inject("drip", interval=0.05, headers=headers)
    start = time.perf_counter()
    with socket.create_connection((api.host, api.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"GET /api/v2/studies?pageSize=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(100_000)
        time.sleep(0.3)
        later = sock.recv(100_000)
    assert time.perf_counter() - start < 2
    if headers:
        assert len(first) <= 2 and 1 <= len(later) <= 10  # ~6 bytes in 0.3 s
    else:
        head, _, body = first.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and len(body) <= 2 and 1 <= len(later) <= 10


def test_fault_endless_tokens_without_total_count(api, studies):
    api.inject("endless", times=100)
    token, seen, ids = None, set(), []
    for _ in range(len(studies) // 100 + 3):  # past the end: it starts again
        params = {"pageSize": 100, "countTotal": "true", **({"pageToken": token} if token else {})}
        page = get(api, **params).json()
        assert "totalCount" not in page
        ids += [nct(s) for s in page["studies"]]
        token = page["nextPageToken"]
        assert token not in seen
        seen.add(token)
    assert len(ids) > len(studies) and ids[len(studies)] == nct(studies[0])


def test_fault_nested_is_valid_json_too_deep_to_parse(api):
    api.inject("nested", depth=50_000)
    body = get(api).content
    assert body.startswith(b'{"studies":[[[') and body.count(b"[") == body.count(b"]") == 50_000
    with pytest.raises(RecursionError):
        json.loads(body)


def test_fault_empty_listing_and_json_body(api):
    api.inject("empty_listing")
    assert get(api, countTotal="true").json() == {"studies": [], "totalCount": 0}
    assert get(api, "/version").json()["apiVersion"]  # list-only: /version passes
    api.inject("json_body", path="/version", body={"dataTimestamp": "\x1b]0;x\x07"})
    assert get(api, "/version").json() == {"dataTimestamp": "\x1b]0;x\x07"}


def test_fault_times_and_skip(api):
    api.inject("status", status=503, times=2, skip=1)
    codes = [get(api).status_code for _ in range(5)]
    assert codes == [200, 503, 503, 200, 200]


def test_faults_queue_in_order(api):
    api.inject("status", status=500, times=2)
    api.inject("status", status=502)
    assert [get(api).status_code for _ in range(4)] == [500, 500, 502, 200]


def test_fault_path_matching(api):
    api.inject("status", status=500, path="/version")
    assert get(api).status_code == 200
    assert get(api, "/version").status_code == 500
    # the default path "/studies" is a prefix: the single-study endpoint matches too ...
    api.inject("status", status=500)
    assert get(api, "/studies/NCT02204020").status_code == 500
    # ... but list-only kinds wait for the list endpoint
    api.inject("duplicate")
    assert get(api, "/studies/NCT02204020").status_code == 200
    assert len(get(api, pageSize=3).json()["studies"]) == 4


def test_clear_faults(api):
    api.inject("status", status=500, times=10)
    api.clear_faults()
    assert get(api).status_code == 200


def test_inject_rejects_nonsense(api):
    with pytest.raises(ValueError):
        api.inject("explode")
    with pytest.raises(ValueError):
        api.inject("status")  # no status given
    with pytest.raises(ValueError):
        api.inject("html", times=0)


def test_faults_are_consumed_atomically(api):
    api.inject("status", status=503, times=7)
    codes: list[int] = []
    lock = threading.Lock()

    def worker():
        with requests.Session() as s:
            for _ in range(5):
                code = get(api, session=s, pageSize=1, fields="NCTId").status_code
                with lock:
                    codes.append(code)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(codes) == {503: 7, 200: 23}


# -- helpers -----------------------------------------------------------------------------------


def test_load_fixture_studies(studies):
    assert FIXTURES_DIR == Path(__file__).parent.parent / "fixtures" / "aml-studies"
    assert len(studies) == len(list(FIXTURES_DIR.glob("NCT*.json")))
    assert all(re.fullmatch(r"NCT\d{8}", nct(s)) for s in studies)


def test_replicate(studies):
    copies = replicate(studies, 2000, seed=1)
    ids = [nct(s) for s in copies]
    assert len(copies) == 2000 and len(set(ids)) == 2000
    assert all(re.fullmatch(r"NCT9\d{7}", i) for i in ids)
    assert [nct(s) for s in replicate(studies, 50, seed=1)] == ids[:50]  # deterministic
    assert replicate(studies, 50, seed=2) != replicate(studies, 50, seed=1)
    # geoPoints moved slightly, originals untouched (deep copies)
    source = next(s for s in studies if nct(s) == "NCT02204020")
    k = studies.index(source)
    copy = copies[k]
    geo = copy["protocolSection"]["contactsLocationsModule"]["locations"][0]["geoPoint"]
    assert geo != {"lat": 40.44062, "lon": -79.99589}
    assert abs(geo["lat"] - 40.44062) < 0.1 and abs(geo["lon"] + 79.99589) < 0.1
    assert source["protocolSection"]["contactsLocationsModule"]["locations"][0]["geoPoint"] == {
        "lat": 40.44062, "lon": -79.99589}
    assert nct(source) == "NCT02204020"
    assert copy["protocolSection"]["conditionsModule"] == source["protocolSection"]["conditionsModule"]
    copy["protocolSection"]["conditionsModule"]["conditions"].append("x")
    assert "x" not in source["protocolSection"]["conditionsModule"]["conditions"]


def test_server_on_replicated_data(studies):
    with ApiServer(replicate(studies, 3000)) as srv, requests.Session() as s:
        got, pages = page_through(srv, s, pageSize=1000, countTotal="true", fields="NCTId")
        assert len({nct(x) for x in got}) == 3000 and len(pages) == 3
        assert srv.url != "" and len(srv.studies_requests()) == 3


def test_duplicate_ids_rejected(studies):
    with pytest.raises(ValueError):
        ApiServer(studies + studies[:1])


def test_runs_as_a_script():
    script = Path(__file__).with_name("apiserver.py")
    proc = subprocess.Popen([sys.executable, str(script), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://\S+/api/v2", line).group(0)
        assert requests.get(f"{url}/version", timeout=TIMEOUT).json()["apiVersion"] == "2.0.5"
    finally:
        proc.terminate()
        proc.wait(timeout=5)
