"""A loopback HTTP server that behaves like the ClinicalTrials.gov API v2, for tests and benchmarks.

Standard library only (``http.server.ThreadingHTTPServer`` in a background thread)::

    with ApiServer(load_fixture_studies()) as api:
        requests.get(f"{api.url}/studies", params={"pageSize": 50, "countTotal": "true"})

or as a script (serves the fixtures until Ctrl-C)::

    python tests/apiserver.py --port 8765 [--replicate 10000]

Endpoints (base ``http://127.0.0.1:PORT/api/v2``; anything else is a 404 text/plain):

* ``GET /studies`` -- paged list. ``pageSize`` (absent/0 -> 10, >1000 -> 1000, non-integer or
  negative -> 400), ``pageToken`` (opaque: urlsafe base64 of ``{"o": offset, "q": query-hash}``;
  one that does not decode or was issued for other query parameters -> 400; the hash covers every
  parameter except ``pageSize``, ``pageToken`` and ``countTotal``, as the spec requires),
  ``countTotal=true`` -> ``totalCount`` on the first page only, ``nextPageToken`` only when more
  studies follow. Stable order: sorted by nctId. Response ``{"studies", "totalCount"?,
  "nextPageToken"?}``.
* ``GET /studies/{nctId}`` -- one record (``fields`` supported); unknown id -> 404, not an NCT id
  -> 400.
* ``GET /version`` -- ``{"apiVersion", "dataTimestamp"}``.

Parameters. As on the real API an unknown parameter is a 400 (```x` is unknown parameter``). Of
the spec's parameters the mock implements ``format`` (``json`` only), ``fields``,
``filter.overallStatus`` / ``postFilter.overallStatus`` (comma/pipe list; unknown status -> 400),
``filter.ids`` / ``postFilter.ids`` (comma/pipe list of NCT ids; a malformed one -> 400), every
``query.*`` area and the paging parameters. The other spec parameters (``filter.geo``,
``filter.advanced``, ``filter.synonyms``, ``aggFilters``, ``geoDecay``, ``sort``...) are answered
with a 400 saying the mock does not support them, rather than being silently ignored.

``fields`` (comma or pipe separated):

* dotted paths ``section[.module[.field[.anything...]]]`` keep just those subtrees (lists are
  walked through, e.g. ``protocolSection.contactsLocationsModule.locations.geoPoint``); the
  section, module and first field level are checked against the spec's schema, deeper levels are
  accepted as is;
* area / module names, any case: ``ProtocolSection``, ``protocolSection``, ``DerivedSection``,
  ``IdentificationModule``, ``ConditionsModule``...;
* piece names, any case: every module field name (``BriefTitle``, ``OverallStatus``,
  ``Conditions``, ``LeadSponsor``...) plus ``NCTId``, ``HasResults``, ``LastUpdatePostDate``,
  ``StartDate``, ``CompletionDate``, ``Condition``, ``Keyword``, ``Phase``, ``LeadSponsorName``,
  ``Location*``, ``InterventionName``, ``EnrollmentCount`` (see ``_PIECES``).

Anything else -> 400. Studies without any selected field come back as ``{}``.

Search (``query.*``): a small subset of the Essie syntax.

* terms are bare words or ``"quoted phrases"``; matching is case-insensitive on whole words: text
  and query are both split into runs of letters/digits, and a term matches when its words occur
  consecutively inside one field value (so ``AML`` does not match ``AMLX``, ``second-line``
  matches ``second line``; no stemming, no synonyms);
* ``OR``, ``AND``, ``NOT`` (upper case only) and parentheses; juxtaposition means AND;
  precedence NOT > AND > OR; ``a NOT b`` means a AND NOT b; unbalanced parentheses are tolerated;
* a value made only of NCT ids (comma/space separated) matches those ids and makes the filters be
  ignored, as the spec says;
* ``AREA[...]``, ``RANGE[...]``, ``SEARCH[...]`` and other bracket operators -> 400 (unsupported).

Areas searched: ``query.cond`` conditions, keywords, brief/official titles and acronym;
``query.term`` / ``query.patient`` every string value of the record; ``query.titles`` titles and
acronym; ``query.intr`` interventions and arm-group intervention names; ``query.outc`` the
outcomes module; ``query.spons`` lead sponsor and collaborators; ``query.lead`` lead sponsor;
``query.id`` NCT id, aliases, org/secondary ids, acronym; ``query.locn`` locations. All given
``query.*`` and ``filter.*`` parameters must match (AND).

Faults (``ApiServer.inject``), consumed atomically: each queued fault counts the requests whose
path (relative to ``/api/v2``) starts with its ``path``; it lets ``skip`` of them through, then
applies to the next ``times``. When several faults could apply to one request the earliest queued
wins and the others wait. The list-only kinds (``empty_with_token``, ``repeat_token``,
``duplicate``) count only requests to the list endpoint ``/studies``.

* ``status``: ``opts["status"]`` with a text/plain body (``opts["body"]``), optional
  ``opts["retry_after"]`` -> ``Retry-After`` header;
* ``slow``: wait ``opts["delay"]`` seconds (default 2), then answer normally;
* ``truncated``: 200 whose JSON body is cut in half (Content-Length matches the cut body);
* ``html``: ``opts.get("status", 200)`` with a text/html error page;
* ``empty_with_token``: 200 ``{"studies": [], "nextPageToken": t}`` where ``t`` fetches the page
  that should have been returned (a legal, if odd, API answer);
* ``repeat_token``: a normal page whose ``nextPageToken`` is the ``pageToken`` that was sent
  (page 1: a token for page 1 itself), so a naive client loops forever;
* ``reset``: headers with the full Content-Length, half the body, then a TCP RST;
* ``duplicate``: the page is preceded by the studies of the previous page (page 1: by its own first
  study);
* ``bad_token``: 400 ``invalid pageToken``.

Hostile answers (issue 15): each is something a broken or malicious server could send.

* ``redirect``: ``opts.get("status", 302)`` with ``Location`` = the same path and query on
  ``opts["to"]`` (``host:port``; default: this server, i.e. a same-host redirect);
* ``gzip_bomb``: 200 with ``Content-Encoding: gzip`` and a small body that inflates to
  ``opts["size"]`` bytes (default 1 GB) of a JSON document (``{"studies":[],"pad":"000…"}``);
* ``oversize``: 200 with the normal answer padded with spaces to ``opts["size"]`` bytes; with
  ``opts["chunked"]`` it is sent with ``Transfer-Encoding: chunked`` (no Content-Length);
* ``drip``: the normal answer, one byte every ``opts["interval"]`` seconds (default 0.5) after
  the headers; with ``opts["headers"]`` the status line and headers drip too;
* ``endless``: a normal page without ``totalCount`` whose ``nextPageToken`` is always a fresh
  token (after the last page it starts again at the first), so a client only stops by a cap;
* ``nested``: 200 ``{"studies": [[[[…]]]]}`` nested ``opts["depth"]`` deep (default 100,000):
  valid JSON that a recursive parser cannot read;
* ``empty_listing``: 200 ``{"studies": [], "totalCount": 0}`` (well formed, implausible);
* ``json_body``: 200 with ``opts["body"]`` as the JSON answer (e.g. a hostile ``/version``).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import functools
import gzip
import hashlib
import itertools
import json
import random
import re
import socket
import struct
import sys
import threading
import traceback
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import parse_qsl, unquote, urlsplit

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "aml-studies"
BASE_PATH = "/api/v2"
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000

STATUSES = frozenset(
    {
        "ACTIVE_NOT_RECRUITING", "COMPLETED", "ENROLLING_BY_INVITATION", "NOT_YET_RECRUITING",
        "RECRUITING", "SUSPENDED", "TERMINATED", "WITHDRAWN", "AVAILABLE", "NO_LONGER_AVAILABLE",
        "TEMPORARILY_NOT_AVAILABLE", "APPROVED_FOR_MARKETING", "WITHHELD", "UNKNOWN",
    }
)
FAULT_KINDS = frozenset(
    {"status", "slow", "truncated", "html", "empty_with_token", "repeat_token", "reset",
     "duplicate", "bad_token",
     "redirect", "gzip_bomb", "oversize", "drip", "endless", "nested", "empty_listing", "json_body"}
)
LIST_ONLY_FAULTS = frozenset({"empty_with_token", "repeat_token", "duplicate", "endless", "empty_listing"})

_NCT_RE = re.compile(r"^(NCT|nct)\d{8}$")
_NCT_ONLY_RE = re.compile(r"^[\s,]*(?:NCT\d{8}[\s,]*)+$", re.IGNORECASE)

_QUERY_AREAS = ("cond", "term", "locn", "titles", "intr", "outc", "spons", "lead", "id", "patient")
_LIST_PARAMS = frozenset(
    {"format", "fields", "countTotal", "pageSize", "pageToken",
     "filter.overallStatus", "filter.ids", "postFilter.overallStatus", "postFilter.ids"}
    | {f"query.{a}" for a in _QUERY_AREAS}
)
_LIST_UNSUPPORTED = frozenset(
    {"filter.geo", "filter.advanced", "filter.synonyms", "postFilter.geo", "postFilter.advanced",
     "postFilter.synonyms", "aggFilters", "geoDecay", "sort"}
)
_PAGING_PARAMS = frozenset({"pageSize", "pageToken", "countTotal"})

# -- the spec's Study schema down to the first field level (from ctg-oas-v2.yaml) -------------

_SCHEMA: dict[str, dict[str, tuple[str, ...]]] = {
    "protocolSection": {
        "identificationModule": ("nctId", "nctIdAliases", "orgStudyIdInfo", "secondaryIdInfos",
                                 "briefTitle", "officialTitle", "acronym", "organization"),
        "statusModule": ("statusVerifiedDate", "overallStatus", "lastKnownStatus",
                         "delayedPosting", "whyStopped", "expandedAccessInfo", "startDateStruct",
                         "primaryCompletionDateStruct", "completionDateStruct",
                         "studyFirstSubmitDate", "studyFirstSubmitQcDate",
                         "studyFirstPostDateStruct", "resultsFirstSubmitDate",
                         "resultsFirstSubmitQcDate", "resultsFirstPostDateStruct",
                         "dispFirstSubmitDate", "dispFirstSubmitQcDate", "dispFirstPostDateStruct",
                         "lastUpdateSubmitDate", "lastUpdatePostDateStruct"),
        "sponsorCollaboratorsModule": ("responsibleParty", "leadSponsor", "collaborators"),
        "oversightModule": ("oversightHasDmc", "isFdaRegulatedDrug", "isFdaRegulatedDevice",
                            "isUnapprovedDevice", "isPpsd", "isUsExport", "fdaaa801Violation"),
        "descriptionModule": ("briefSummary", "detailedDescription"),
        "conditionsModule": ("conditions", "keywords"),
        "designModule": ("studyType", "nPtrsToThisExpAccNctId", "expandedAccessTypes",
                         "patientRegistry", "targetDuration", "phases", "designInfo", "bioSpec",
                         "enrollmentInfo"),
        "armsInterventionsModule": ("armGroups", "interventions"),
        "outcomesModule": ("primaryOutcomes", "secondaryOutcomes", "otherOutcomes"),
        "eligibilityModule": ("eligibilityCriteria", "healthyVolunteers", "sex", "genderBased",
                              "genderDescription", "minimumAge", "maximumAge", "stdAges",
                              "studyPopulation", "samplingMethod"),
        "contactsLocationsModule": ("centralContacts", "overallOfficials", "locations"),
        "referencesModule": ("references", "seeAlsoLinks", "availIpds"),
        "ipdSharingStatementModule": ("ipdSharing", "description", "infoTypes", "timeFrame",
                                      "accessCriteria", "url"),
    },
    "resultsSection": {
        "participantFlowModule": ("preAssignmentDetails", "recruitmentDetails",
                                  "typeUnitsAnalyzed", "groups", "periods"),
        "baselineCharacteristicsModule": ("populationDescription", "typeUnitsAnalyzed", "groups",
                                          "denoms", "measures"),
        "outcomeMeasuresModule": ("outcomeMeasures",),
        "adverseEventsModule": ("frequencyThreshold", "timeFrame", "description",
                                "allCauseMortalityComment", "eventGroups", "seriousEvents",
                                "otherEvents"),
        "moreInfoModule": ("limitationsAndCaveats", "certainAgreement", "pointOfContact"),
    },
    "annotationSection": {"annotationModule": ("unpostedAnnotation", "violationAnnotation")},
    "documentSection": {"largeDocumentModule": ("noSap", "largeDocs")},
    "derivedSection": {
        "miscInfoModule": ("versionHolder", "removedCountries", "submissionTracking",
                           "modelPredictions"),
        "conditionBrowseModule": ("meshes", "ancestors", "browseLeaves", "browseBranches"),
        "interventionBrowseModule": ("meshes", "ancestors", "browseLeaves", "browseBranches"),
    },
}

Path_ = tuple[str, ...]


def _build_pieces() -> dict[str, list[Path_]]:
    """lower-cased area / module / piece name -> the dotted paths it selects"""
    pieces: dict[str, list[Path_]] = {"hasresults": [("hasResults",)]}

    def add(name: str, path: Path_) -> None:
        paths = pieces.setdefault(name.lower(), [])
        if path not in paths:
            paths.append(path)

    for section, modules in _SCHEMA.items():
        add(section, (section,))
        for module, fields in modules.items():
            add(module, (section, module))
            for f in fields:
                add(f, (section, module, f))
    ps = "protocolSection"
    ident, status, spons = (ps, "identificationModule"), (ps, "statusModule"), (ps, "sponsorCollaboratorsModule")
    locs = (ps, "contactsLocationsModule", "locations")
    intr = (ps, "armsInterventionsModule", "interventions")
    extra: dict[str, Path_] = {
        "NCTId": ident + ("nctId",),
        "Condition": (ps, "conditionsModule", "conditions"),
        "Keyword": (ps, "conditionsModule", "keywords"),
        "Phase": (ps, "designModule", "phases"),
        "StdAge": (ps, "eligibilityModule", "stdAges"),
        "EnrollmentCount": (ps, "designModule", "enrollmentInfo", "count"),
        "LeadSponsorName": spons + ("leadSponsor", "name"),
        "LeadSponsorClass": spons + ("leadSponsor", "class"),
        "Collaborator": spons + ("collaborators",),
        "Location": locs,
        "LocationFacility": locs + ("facility",),
        "LocationStatus": locs + ("status",),
        "LocationCity": locs + ("city",),
        "LocationState": locs + ("state",),
        "LocationZip": locs + ("zip",),
        "LocationCountry": locs + ("country",),
        "LocationGeoPoint": locs + ("geoPoint",),
        "Intervention": intr,
        "InterventionName": intr + ("name",),
        "InterventionType": intr + ("type",),
        "ArmGroup": (ps, "armsInterventionsModule", "armGroups"),
    }
    for date in ("StartDate", "PrimaryCompletionDate", "CompletionDate", "StudyFirstPostDate",
                 "ResultsFirstPostDate", "DispFirstPostDate", "LastUpdatePostDate"):
        extra[date] = status + (date[0].lower() + date[1:] + "Struct", "date")
    for name, path in extra.items():
        add(name, path)
    return pieces


_PIECES = _build_pieces()


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def parse_fields(value: str) -> dict | None:
    """``fields`` value -> a selection tree (nested dicts, ``True`` = whole subtree)."""
    names = [n.strip() for n in re.split(r"[,|]", value)]
    if not any(names):
        raise ApiError(400, "`fields` parameter must be a non-empty list of fields")
    tree: dict = {}
    for name in names:
        if not name:
            continue
        for path in _resolve_field(name):
            node = tree
            for i, key in enumerate(path):
                if i == len(path) - 1:
                    node[key] = True
                else:
                    nxt = node.get(key)
                    if nxt is True:
                        break  # an ancestor is selected whole already
                    node = node.setdefault(key, {})
    return tree


def _resolve_field(name: str) -> list[Path_]:
    if "." in name:
        path = tuple(name.split("."))
        section = path[0]
        ok = all(path)
        if ok and section == "hasResults":
            ok = len(path) == 1
        elif ok:
            modules = _SCHEMA.get(section)
            ok = modules is not None
            if ok and len(path) > 1:
                ok = path[1] in modules
                if ok and len(path) > 2:
                    ok = path[2] in modules[path[1]]
        if ok:
            return [path]
    elif name.lower() in _PIECES:
        return _PIECES[name.lower()]
    raise ApiError(400, f"Unknown field `{name}` in `fields` parameter")


_MISSING = object()


def _prune(obj: Any, tree: Any) -> Any:
    if tree is True:
        return obj
    if isinstance(obj, list):
        out = [p for p in (_prune(x, tree) for x in obj) if p is not _MISSING]
        return out if out else _MISSING
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            sub = tree.get(k)
            if sub is not None:
                p = _prune(v, sub)
                if p is not _MISSING:
                    out[k] = p
        return out if out else _MISSING
    return _MISSING


def select_fields(study: dict, tree: dict | None) -> dict:
    if tree is None:
        return study
    out = _prune(study, tree)
    return {} if out is _MISSING else out


# -- search ------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+")
_QTOKEN = re.compile(r'"[^"]*"?|\(|\)|[^\s()"]+')


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def _get(obj: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(k)
    return obj


def _area_strings(area: str, study: dict) -> Iterable[str]:
    ps = study.get("protocolSection") or {}
    ident = ps.get("identificationModule") or {}
    titles = [ident.get("briefTitle"), ident.get("officialTitle"), ident.get("acronym")]
    if area in ("term", "patient"):
        return _strings(study)
    if area == "cond":
        cm = ps.get("conditionsModule") or {}
        return _strings([cm.get("conditions"), cm.get("keywords"), titles])
    if area == "titles":
        return _strings(titles)
    if area == "intr":
        aim = ps.get("armsInterventionsModule") or {}
        groups = [g.get("interventionNames") for g in aim.get("armGroups") or [] if isinstance(g, dict)]
        return _strings([aim.get("interventions"), groups])
    if area == "outc":
        return _strings(ps.get("outcomesModule"))
    if area == "spons":
        scm = ps.get("sponsorCollaboratorsModule") or {}
        return _strings([_get(scm, "leadSponsor", "name"),
                         [_get(c, "name") for c in scm.get("collaborators") or []]])
    if area == "lead":
        return _strings(_get(ps, "sponsorCollaboratorsModule", "leadSponsor", "name"))
    if area == "id":
        return _strings([ident.get("nctId"), ident.get("nctIdAliases"),
                         _get(ident, "orgStudyIdInfo", "id"),
                         [_get(s, "id") for s in ident.get("secondaryIdInfos") or []],
                         ident.get("acronym")])
    if area == "locn":
        return _strings(_get(ps, "contactsLocationsModule", "locations"))
    raise ValueError(area)


def _search_text(area: str, study: dict, memo: dict[str, str] | None = None) -> str:
    """' w1 w2 | w3 ... ' -- words of each value, values separated by '|' so phrases don't span.
    ``memo`` caches the words of repeated strings (replicated data sets repeat a lot)."""
    memo = {} if memo is None else memo
    parts = []
    for s in _area_strings(area, study):
        words = memo.get(s)
        if words is None:
            words = memo[s] = " ".join(_words(s))
        parts.append(words)
    return " " + " | ".join(parts) + " "


# query AST: ("phrase", " a b "), ("and", [..]), ("or", [..]), ("not", node)


def parse_query(text: str) -> tuple | None:
    tokens = _QTOKEN.findall(text)
    for t in tokens:
        if "[" in t and not t.startswith('"'):
            raise ApiError(400, f"the mock API server does not support Essie operator {t!r}")
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def or_expr() -> tuple | None:
        nonlocal pos
        parts = []
        while True:
            node = and_expr()
            if node is not None:
                parts.append(node)
            if peek() == "OR":
                pos += 1
                continue
            return _combine("or", parts)

    def and_expr() -> tuple | None:
        nonlocal pos
        parts = []
        while True:
            t = peek()
            if t is None or t in (")", "OR"):
                return _combine("and", parts)
            if t == "AND":
                pos += 1
                continue
            node = unary()
            if node is not None:
                parts.append(node)

    def unary() -> tuple | None:
        nonlocal pos
        if peek() == "NOT":
            pos += 1
            node = unary()
            return None if node is None else ("not", node)
        return atom()

    def atom() -> tuple | None:
        nonlocal pos
        t = peek()
        if t is None or t in (")", "OR", "AND"):
            return None
        pos += 1
        if t == "(":
            node = or_expr()
            if peek() == ")":
                pos += 1
            return node
        words = _words(t.strip('"'))
        return ("phrase", " " + " ".join(words) + " ") if words else None

    result = None
    while pos < len(tokens):  # stray ')' at top level: skip and go on
        node = or_expr()
        if node is not None:
            result = node if result is None else ("and", [result, node])
        if peek() == ")":
            pos += 1
    return result


def _combine(op: str, parts: list) -> tuple | None:
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else (op, parts)


def _matches(node: tuple, text: str) -> bool:
    op = node[0]
    if op == "phrase":
        return node[1] in text
    if op == "and":
        return all(_matches(n, text) for n in node[1])
    if op == "or":
        return any(_matches(n, text) for n in node[1])
    return not _matches(node[1], text)


# -- data set ----------------------------------------------------------------------------------


class _DataSet:
    """An immutable snapshot of the studies plus lazily built search caches."""

    def __init__(self, studies: list[dict]):
        ids = [_get(s, "protocolSection", "identificationModule", "nctId") for s in studies]
        bad = [i for i in ids if not isinstance(i, str) or not _NCT_RE.match(i)]
        if bad:
            raise ValueError(f"studies without a valid nctId: {bad[:5]}")
        pairs = sorted(zip((i.upper() for i in ids), studies), key=lambda p: p[0])
        self.ids = [p[0] for p in pairs]
        self.studies = [p[1] for p in pairs]
        self.by_id = dict(pairs)
        if len(self.by_id) != len(self.studies):
            raise ValueError("duplicate nctIds in the data set")
        self._lock = threading.Lock()
        self._texts: dict[str, list[str]] = {}
        self._results: dict[tuple, list[int]] = {}

    def texts(self, area: str) -> list[str]:
        with self._lock:
            texts = self._texts.get(area)
            if texts is None:
                memo: dict[str, str] = {}
                texts = [_search_text(area, s, memo) for s in self.studies]
                # query.term and query.patient search the same text
                for a in ((area,) if area not in ("term", "patient") else ("term", "patient")):
                    self._texts[a] = texts
            return texts

    def search(self, key: tuple, predicate: Callable[[], list[int]]) -> list[int]:
        with self._lock:
            hit = self._results.get(key)
        if hit is None:
            hit = predicate()
            with self._lock:
                if len(self._results) > 64:
                    self._results.clear()
                self._results[key] = hit
        return hit


# -- the server --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    path: str  # relative to /api/v2, e.g. "/studies", "/studies/NCT01234567", "/version"
    params: dict[str, str]
    status: int
    nbytes: int  # body bytes sent
    fault: str | None = None  # the injected fault kind applied, if any


@dataclass
class _Fault:
    kind: str
    path: str
    times: int
    skip: int
    opts: dict


@dataclass
class _Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def _json(obj: Any, status: int = 200) -> _Response:
    return _Response(status, json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode())


def _text(status: int, message: str) -> _Response:
    return _Response(status, message.encode(), "text/plain; charset=utf-8")


def _split_list(value: str) -> list[str]:
    return [v.strip() for v in re.split(r"[,|]", value) if v.strip()]


class ApiServer:
    """See the module docstring."""

    def __init__(
        self,
        studies: list[dict],
        *,
        data_timestamp: str = "2026-11-20T08:00:00",
        api_version: str = "2.0.5",
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.data_timestamp = data_timestamp
        self.api_version = api_version
        self.host = host
        self.port = port
        self._data = _DataSet(studies)
        self._lock = threading.Lock()
        self._log: list[Request] = []
        self._faults: list[_Fault] = []
        self._stopping = threading.Event()
        self._nonces = itertools.count(1)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        #: unexpected exceptions raised while answering (each also answered with a 500)
        self.errors: list[str] = []

    # -- lifecycle --

    def start(self) -> "ApiServer":
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HTTPServer((self.host, self.port), _Handler)
        httpd.api = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"ApiServer:{self.port}", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes up "slow" handlers
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "ApiServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("ApiServer is not started")
        return f"http://{self.host}:{self.port}{BASE_PATH}"

    # -- log --

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._log)

    def studies_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path == "/studies"]

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()

    def _record(self, req: Request) -> None:
        with self._lock:
            self._log.append(req)

    # -- data --

    def set_studies(self, studies: list[dict]) -> None:
        """Swap the data set atomically. Page tokens hold an offset into the (sorted) result, so
        a client paging across the swap sees what a client of a live, changing registry sees."""
        data = _DataSet(studies)
        with self._lock:
            self._data = data

    @property
    def studies(self) -> list[dict]:
        """the current data set, sorted by nctId"""
        return list(self._data.studies)

    # -- faults --

    def inject(self, kind: str, *, path: str = "/studies", times: int = 1, skip: int = 0, **opts: Any) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {sorted(FAULT_KINDS)}")
        if kind == "status" and "status" not in opts:
            raise ValueError("inject('status') needs status=...")
        if times < 1 or skip < 0:
            raise ValueError("times must be >= 1 and skip >= 0")
        with self._lock:
            self._faults.append(_Fault(kind, path, times, skip, dict(opts)))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending_faults(self) -> int:
        """how many queued faults are not used up yet"""
        with self._lock:
            return len(self._faults)

    def _take_fault(self, path: str) -> _Fault | None:
        chosen = None
        with self._lock:
            for f in self._faults:
                if not path.startswith(f.path):
                    continue
                if f.kind in LIST_ONLY_FAULTS and path != "/studies":
                    continue
                if f.skip > 0:
                    f.skip -= 1
                elif chosen is None:
                    chosen = f
                    f.times -= 1
            if chosen is not None and chosen.times <= 0:
                self._faults.remove(chosen)
        return chosen

    # -- request handling (runs in handler threads) --

    def _answer(self, path: str, params: dict[str, str], fault: _Fault | None) -> _Response:
        data = self._data
        if path == "/studies":
            return self._list(data, params, fault)
        if path.startswith("/studies/") and "/" not in path[len("/studies/"):]:
            rest = path[len("/studies/"):]
            if rest in ("metadata", "search-areas", "enums"):
                return _text(404, f"{BASE_PATH}{path} is not implemented by the mock API server")
            return self._single(data, rest, params)
        if path == "/version":
            if params:
                raise ApiError(400, f"`{next(iter(params))}` is unknown parameter")
            return _json({"apiVersion": self.api_version, "dataTimestamp": self.data_timestamp})
        return _text(404, f"Not found: {BASE_PATH}{path}")

    @staticmethod
    def _check_format(params: dict[str, str], allowed: tuple[str, ...] = ("json",)) -> None:
        fmt = params.get("format", "json")
        if fmt not in allowed:
            raise ApiError(400, f"the mock API server supports only format=json, not {fmt!r}")

    def _single(self, data: _DataSet, nct_id: str, params: dict[str, str]) -> _Response:
        if not _NCT_RE.match(nct_id):
            raise ApiError(400, f"`{nct_id}` is not a valid NCT number")
        for name in params:
            if name not in ("format", "fields"):
                raise ApiError(400, f"`{name}` is unknown parameter")
        self._check_format(params)
        tree = parse_fields(params["fields"]) if "fields" in params else None
        study = data.by_id.get(nct_id.upper())
        if study is None:
            return _text(404, f"Study {nct_id.upper()} not found")
        return _json(select_fields(study, tree))

    def _list(self, data: _DataSet, params: dict[str, str], fault: _Fault | None) -> _Response:
        for name in params:
            if name in _LIST_UNSUPPORTED:
                raise ApiError(400, f"the mock API server does not support `{name}`")
            if name not in _LIST_PARAMS:
                raise ApiError(400, f"`{name}` is unknown parameter")
        self._check_format(params)

        size_text = params.get("pageSize", "").strip()
        if size_text == "":
            size = DEFAULT_PAGE_SIZE
        else:
            try:
                size = int(size_text)
            except ValueError:
                raise ApiError(400, f"`pageSize` must be an integer, not {size_text!r}") from None
            if size < 0:
                raise ApiError(400, "`pageSize` must be non-negative")
            size = DEFAULT_PAGE_SIZE if size == 0 else min(size, MAX_PAGE_SIZE)

        count_text = params.get("countTotal", "false").lower()
        if count_text not in ("true", "false"):
            raise ApiError(400, f"`countTotal` must be true or false, not {params['countTotal']!r}")

        tree = parse_fields(params["fields"]) if "fields" in params else None
        qhash = _query_hash(params)
        token = params.get("pageToken")
        if token is not None:
            offset = _decode_token(token, qhash)
        else:
            offset = 0

        matches = self._matching(data, params)
        total = len(matches)
        page = matches[offset:offset + size]
        if fault is not None and fault.kind == "duplicate":
            previous = matches[max(0, offset - size):offset] if offset > 0 else page[:1]
            page = previous + page
        next_offset = offset + size if offset + size < total else None

        out: dict[str, Any] = {"studies": [select_fields(data.studies[i], tree) for i in page]}
        if token is None and count_text == "true":
            out["totalCount"] = total
        if next_offset is not None:
            out["nextPageToken"] = _encode_token(next_offset, qhash)
        if fault is not None and fault.kind == "empty_with_token":
            out["studies"] = []
            out["nextPageToken"] = token if token is not None else _encode_token(0, qhash)
        elif fault is not None and fault.kind == "repeat_token":
            out["nextPageToken"] = token if token is not None else _encode_token(0, qhash)
        elif fault is not None and fault.kind == "endless":
            out.pop("totalCount", None)
            out["nextPageToken"] = _encode_token(next_offset or 0, qhash, nonce=next(self._nonces))
        elif fault is not None and fault.kind == "empty_listing":
            out = {"studies": [], "totalCount": 0}
        return _json(out)

    def _matching(self, data: _DataSet, params: dict[str, str]) -> list[int]:
        queries: list[tuple[str, str]] = []
        ids_only: set[str] | None = None
        for area in _QUERY_AREAS:
            value = params.get(f"query.{area}")
            if value is None or not value.strip():
                continue
            if _NCT_ONLY_RE.match(value):
                found = {m.upper() for m in re.findall(r"nct\d{8}", value, re.IGNORECASE)}
                ids_only = found if ids_only is None else ids_only & found
            else:
                queries.append((area, value))
        asts = [(area, parse_query(value)) for area, value in queries]
        statuses: set[str] | None = None
        ids: set[str] | None = None
        for prefix in ("filter", "postFilter"):
            if f"{prefix}.overallStatus" in params:
                values = _split_list(params[f"{prefix}.overallStatus"])
                for v in values:
                    if v not in STATUSES:
                        raise ApiError(400, f"`{prefix}.overallStatus` has unknown value `{v}`")
                statuses = set(values) if statuses is None else statuses & set(values)
            if f"{prefix}.ids" in params:
                values = _split_list(params[f"{prefix}.ids"])
                for v in values:
                    if not _NCT_RE.match(v):
                        raise ApiError(400, f"`{prefix}.ids` has invalid NCT number `{v}`")
                found = {v.upper() for v in values}
                ids = found if ids is None else ids & found
        if ids_only is not None:  # "If any query parameter contains only NCT IDs, filters are ignored"
            statuses, ids = None, None

        key = (
            tuple(queries),
            tuple(sorted(ids_only)) if ids_only is not None else None,
            tuple(sorted(statuses)) if statuses is not None else None,
            tuple(sorted(ids)) if ids is not None else None,
        )

        def compute() -> list[int]:
            texts = [(data.texts(area), ast) for area, ast in asts if ast is not None]
            out = []
            for i, nct in enumerate(data.ids):
                if ids_only is not None and nct not in ids_only:
                    continue
                if ids is not None and nct not in ids:
                    continue
                if statuses is not None:
                    st = _get(data.studies[i], "protocolSection", "statusModule", "overallStatus")
                    if st not in statuses:
                        continue
                if all(_matches(ast, t[i]) for t, ast in texts):
                    out.append(i)
            return out

        return data.search(key, compute)


def _query_hash(params: dict[str, str]) -> str:
    relevant = {k: v for k, v in params.items() if k not in _PAGING_PARAMS}
    relevant.setdefault("format", "json")
    blob = json.dumps(sorted(relevant.items()), separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _encode_token(offset: int, qhash: str, nonce: int | None = None) -> str:
    fields: dict[str, Any] = {"o": offset, "q": qhash}
    if nonce is not None:  # a fresh token for the same offset (the ``endless`` fault)
        fields["n"] = nonce
    raw = json.dumps(fields, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, qhash: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        obj = json.loads(raw)
        offset = obj["o"]
        ok = isinstance(offset, int) and offset >= 0 and obj["q"] == qhash
    except (binascii.Error, ValueError, TypeError, KeyError):
        ok = False
    if not ok:
        raise ApiError(400, "invalid pageToken")
    return offset


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    api: ApiServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return  # client went away: not our business
        self.api.errors.append(traceback.format_exc())


_HTML_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    "<body><h1>Bad Gateway</h1><p>The proxy server received an invalid response from an "
    "upstream server.</p></body></html>\n"
)


@functools.lru_cache(maxsize=4)
def _gzip_bomb(size: int) -> bytes:
    """A gzip body that inflates to ``size`` bytes of JSON, about 1000:1: gzip members (RFC 1952
    allows several in a row) of 1 MiB of zeros each, the JSON's start and end in the first and last."""
    head, tail, mib = b'{"studies":[],"pad":"', b'"}', 1 << 20
    zeros = max(0, size - len(head) - len(tail))
    full, rest = divmod(zeros, mib)
    return (gzip.compress(head, 9) + gzip.compress(b"0" * mib, 9) * full
            + gzip.compress(b"0" * rest + tail, 9))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        api = self.server.api
        split = urlsplit(self.path)
        raw_path = unquote(split.path)
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        under_base = raw_path.startswith(BASE_PATH + "/")
        path = (raw_path[len(BASE_PATH):].rstrip("/") or "/") if under_base else raw_path
        fault = api._take_fault(path)
        kind = fault.kind if fault is not None else None
        opts = fault.opts if fault is not None else {}

        if kind == "status":
            status = int(opts["status"])
            resp = _text(status, str(opts.get("body", f"injected HTTP {status}")))
            if opts.get("retry_after") is not None:
                resp.headers = (("Retry-After", str(opts["retry_after"])),)
        elif kind == "bad_token":
            resp = _text(400, "invalid pageToken")
        elif kind == "html":
            resp = _Response(int(opts.get("status", 200)), _HTML_PAGE.encode(), "text/html; charset=utf-8")
        elif kind in _HOSTILE_ANSWERS:
            resp = _HOSTILE_ANSWERS[kind](self, opts)
        else:
            resp = self._normal(api, path, params, fault, under_base)
        if kind == "oversize":
            resp.body = resp.body + b" " * max(0, int(opts["size"]) - len(resp.body))

        body = resp.body
        if kind in ("truncated", "reset"):
            cut = body[: len(body) // 2]
        else:
            cut = body
        nbytes = len(cut)
        api._record(Request(path, params, resp.status, nbytes, kind))

        if kind == "slow":
            if api._stopping.wait(float(opts.get("delay", 2.0))):
                self.close_connection = True
                return
        if kind == "drip" or (kind == "oversize" and opts.get("chunked")):
            self._send_raw(api, resp, kind, opts)
            return
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(body) if kind == "reset" else len(cut)))
        for name, value in resp.headers:
            self.send_header(name, value)
        if kind in ("truncated", "reset"):
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(cut)
        if kind == "reset":
            self.wfile.flush()
            sock = self.connection
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # RST with Content-Length bytes still owed

    def _redirect(self, opts: dict) -> _Response:
        target = opts.get("to") or f"{self.server.api.host}:{self.server.api.port}"
        return _Response(int(opts.get("status", 302)), b"", "text/plain; charset=utf-8",
                         (("Location", f"http://{target}{self.path}"),))

    def _gzip_bomb(self, opts: dict) -> _Response:
        return _Response(200, _gzip_bomb(int(opts.get("size", 1 << 30))), "application/json",
                         (("Content-Encoding", "gzip"),))

    def _nested(self, opts: dict) -> _Response:
        depth = int(opts.get("depth", 100_000))
        return _Response(200, b'{"studies":' + b"[" * depth + b"]" * depth + b"}")

    def _json_body(self, opts: dict) -> _Response:
        return _json(opts["body"])

    def _send_raw(self, api: ApiServer, resp: _Response, kind: str, opts: dict) -> None:
        """Write the answer by hand: dripping (``drip``) or chunked without a length (``oversize``)."""
        self.close_connection = True
        chunked = kind == "oversize"
        head = [f"HTTP/1.1 {resp.status} {self.responses.get(resp.status, ('',))[0]}",
                f"Content-Type: {resp.content_type}", "Connection: close",
                "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(resp.body)}",
                *(f"{name}: {value}" for name, value in resp.headers)]
        header = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        try:
            if chunked:
                self.wfile.write(header)
                for at in range(0, len(resp.body), 65536):
                    piece = resp.body[at:at + 65536]
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
                return
            interval = float(opts.get("interval", 0.5))
            if not opts.get("headers"):
                self.wfile.write(header)
                header = b""
            for byte in (header + resp.body):
                self.wfile.write(bytes((byte,)))
                self.wfile.flush()
                if api._stopping.wait(interval):
                    return
        except OSError:  # the client gave up: that is the point
            return

    def _normal(
        self, api: ApiServer, path: str, params: dict[str, str], fault: _Fault | None, under_base: bool
    ) -> _Response:
        if not under_base:
            return _text(404, f"Not found: {path}")
        try:
            return api._answer(path, params, fault)
        except ApiError as e:
            return _text(e.status, e.message)
        except Exception:  # a bug in the mock: make it loud but keep serving
            tb = traceback.format_exc()
            api.errors.append(tb)
            return _text(500, tb)

    def _not_allowed(self) -> None:
        body = b"method not allowed"
        self.send_response(405)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_DELETE = do_PATCH = _not_allowed


#: the hostile kinds whose answer does not depend on the data (the others change a normal answer)
_HOSTILE_ANSWERS: dict[str, Callable[[_Handler, dict], _Response]] = {
    "redirect": _Handler._redirect,
    "gzip_bomb": _Handler._gzip_bomb,
    "nested": _Handler._nested,
    "json_body": _Handler._json_body,
}


# -- fixtures ----------------------------------------------------------------------------------


def load_fixture_studies(path: Path | str = FIXTURES_DIR) -> list[dict]:
    """The recorded API v2 study objects (``NCT*.json``), sorted by file name."""
    files = sorted(Path(path).glob("NCT*.json"))
    if not files:
        raise FileNotFoundError(f"no NCT*.json study files in {path}")
    return [json.loads(f.read_text(encoding="utf-8")) for f in files]


def replicate(studies: list[dict], n: int, seed: int = 0) -> list[dict]:
    """``n`` deep copies of ``studies`` (cycled) with fresh unique ids ``NCT9xxxxxxx`` and every
    location's geoPoint moved by up to +-0.05 degrees. Deterministic for a given seed."""
    if n < 0:
        raise ValueError("n must be >= 0")
    if n and not studies:
        raise ValueError("nothing to replicate")
    if n > 10_000_000:
        raise ValueError("at most 10,000,000 NCT9xxxxxxx ids exist")
    rng = random.Random(seed)
    numbers = rng.sample(range(10_000_000), n)
    blobs = [json.dumps(s) for s in studies]  # json round trip: a fast deep copy
    out = []
    for k, number in enumerate(numbers):
        study = json.loads(blobs[k % len(blobs)])
        ident = study.setdefault("protocolSection", {}).setdefault("identificationModule", {})
        ident["nctId"] = f"NCT9{number:07d}"
        locs = _get(study, "protocolSection", "contactsLocationsModule", "locations") or []
        for loc in locs:
            geo = loc.get("geoPoint") if isinstance(loc, dict) else None
            if isinstance(geo, dict) and "lat" in geo and "lon" in geo:
                geo["lat"] = round(max(-90.0, min(90.0, geo["lat"] + rng.uniform(-0.05, 0.05))), 5)
                geo["lon"] = round(max(-180.0, min(180.0, geo["lon"] + rng.uniform(-0.05, 0.05))), 5)
        out.append(study)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the AML fixtures like ClinicalTrials.gov API v2")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--replicate", type=int, metavar="N", help="serve N replicated studies")
    parser.add_argument("--fixtures", default=str(FIXTURES_DIR))
    args = parser.parse_args(argv)
    studies = load_fixture_studies(args.fixtures)
    if args.replicate:
        studies = replicate(studies, args.replicate)
    server = ApiServer(studies, host=args.host, port=args.port).start()
    print(f"serving {len(studies)} studies at {server.url}  (Ctrl-C to stop)", flush=True)
    try:
        server._stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
