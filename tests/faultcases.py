"""The fault matrix: ONE table of faults, run by ``tests/test_faults.py`` (which asserts) and by
``benchmarks/faults.py`` (which prints what happened). Also the seeded chaos run used by
``tests/test_chaos.py`` and the same report.

Every case starts from a cache directory holding a complete data set "A" (the fixtures; both
``current.json`` and ``previous.json``, and the HTTP cache full of A's pages). The server then
holds a *different* complete data set (``data``: "B" = fixtures minus 25 studies, every title
edited — on copies; or "odd" = A with 12 records replaced by damaged copies), the fault is
injected, and one attempt is made:

* ``refresh``: ``refresh_dataset(..., refresh=True)`` (what ``trialfinder fetch --refresh`` does);
* ``refresh_cached``: a plain ``refresh_dataset`` (the cache may answer);
* ``load``: ``load_dataset`` after damaging the stored data (a stored set's rows, or the SQLite file).

The matrix runs on both stores (``FaultLab(backend=…)``): the embedded SQLite file and a real
PostgreSQL (tests/pgserver.py), where each case gets its own copy of the baseline schema. A case names
the backends it applies to; the faults of the database server itself (killed mid-save, the connection
dropped, a read-only role) are PostgreSQL's.

Then the data set is checked by content hash: after a success it must be exactly the new complete
set, after an error exactly A — never a mix. Finally a *recovery* refresh without faults (no
``--refresh``, so the HTTP cache answers what it can; ``accept_smaller``, as the server may really
hold much less) must store one complete set, never a mix of the pages left behind by the failed
attempt and the older ones. No case may contact the other host (127.0.0.2) the lab runs, and no
message or warning of a refresh may carry a control character.

The expected outcome is part of the table: "success" (after retries), or the exact error class
with a one-line message (no newline, < 300 characters, says what to do), or for local damage the
data set that must be served and the warning that must say so.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import random
import re
import shutil
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from apiserver import ApiServer, load_fixture_studies

from trialfinder.errors import TrialFinderError
from trialfinder.source.database import DbStore, _engine, open_store
from trialfinder.source.dataset import load_dataset, refresh_dataset
from trialfinder.source.query import SearchQuery
from trialfinder.source.session import build_session
from trialfinder.source.settings import Settings

#: every study the server holds (no condition, no terms, no status filter)
ALL = SearchQuery(condition="", term=None, statuses=())
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
ACTION = re.compile(r"try again|check|run `|unset|report", re.IGNORECASE)


# -- data versions ------------------------------------------------------------------------------


def nct(study: dict) -> str:
    return study["protocolSection"]["identificationModule"]["nctId"]


def content_hash(studies: list[dict]) -> str:
    """SHA-256 of the studies in NCT order, keys sorted: equal iff the same records."""
    ordered = sorted(studies, key=lambda s: str(nct(s)))
    return hashlib.sha256(json.dumps(ordered, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def edited(studies: list[dict], tag: str) -> list[dict]:
    """Copies of ``studies`` with ``tag`` appended to every brief title."""
    out = copy.deepcopy(studies)
    for s in out:
        ident = s["protocolSection"]["identificationModule"]
        ident["briefTitle"] = f"{ident.get('briefTitle') or ''} {tag}"
    return out


ODD_EDITS: list[Callable[[dict], None]] = [
    lambda p: p.pop("statusModule", None),  # a whole module missing
    lambda p: p.update(designModule=None),  # a module that is null
    lambda p: (p.setdefault("designModule", {}).update(phases=["PHASE9"]),
               p.setdefault("statusModule", {}).update(overallStatus="MAYBE_LATER")),  # unknown enums
    lambda p: p.setdefault("contactsLocationsModule", {}).update(
        locations=[None, {}, {"city": None, "country": 7, "geoPoint": {"lat": None, "lon": "x"}}]),
    lambda p: p.update(armsInterventionsModule={"interventions": None, "armGroups": [None]}),
    lambda p: p.update(eligibilityModule={"minimumAge": None, "maximumAge": "ninety", "sex": "SOMETIMES",
                                          "stdAges": ["ELDERLY"], "eligibilityCriteria": None}),
    lambda p: (p.pop("descriptionModule", None), p.update(conditionsModule={})),
    lambda p: p.update(sponsorCollaboratorsModule={"leadSponsor": None}),
    lambda p: p["identificationModule"].update(briefTitle=None, officialTitle=None),
    lambda p: p.setdefault("statusModule", {}).update(
        lastUpdatePostDateStruct={"date": "not a date"}, startDateStruct=None),
    lambda p: p.update(futureModule={"something": ["new"]}),  # a module the schema does not know
    lambda p: p.setdefault("armsInterventionsModule", {}).update(
        interventions=[{"type": "TELEPATHY", "name": None}, {"name": 42}]),
]


def odd_records(studies: list[dict]) -> list[dict]:
    """A copy of ``studies`` in which 12 records are replaced by damaged COPIES of real records
    (missing modules, nulls, unknown enum values, wrong types). The fixture files are untouched."""
    out = copy.deepcopy(studies)
    for i, edit in enumerate(ODD_EDITS):
        edit(out[i * 7]["protocolSection"])
    return out


#: what a valid NCT id is, written here independently of the product: ASCII digits, nothing after
STRICT_NCT = re.compile(r"NCT[0-9]{8}", re.ASCII)
ARABIC_INDIC, FULL_WIDTH = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"), str.maketrans("0123456789", "０１２３４５６７８９")


def odd_ids(studies: list[dict]) -> list[dict]:
    """Copies of ``studies`` (titles edited, "(v3)") plus 3 impostors: COPIES of the first three real
    records whose ids are the real id with a trailing newline, with Arabic-Indic digits and with
    full-width digits, and whose titles say IMPOSTOR. A strict client keeps the 377, drops the 3."""
    out = edited(studies, "(v3)")
    for i, change in enumerate((lambda n: n + "\n", lambda n: n.translate(ARABIC_INDIC),
                                lambda n: n.translate(FULL_WIDTH))):
        impostor = copy.deepcopy(studies[i])
        ident = impostor["protocolSection"]["identificationModule"]
        ident["nctId"], ident["briefTitle"] = change(ident["nctId"]), "IMPOSTOR"
        out.append(impostor)
    return out


def data_versions(fixtures: list[dict]) -> dict[str, list[dict]]:
    a = copy.deepcopy(fixtures)
    return {
        "A": a,
        "B": edited([s for i, s in enumerate(fixtures) if i % 15 != 3], "(v2)"),  # 25 fewer, all edited
        "odd": odd_records(fixtures),
        "C": edited(fixtures[::3], "(v4)"),  # a third of A: under half of the stored set
        "odd-ids": odd_ids(fixtures),
    }


def _strict_ids(dataset: Any, served: list[dict]) -> str | None:
    ids = [nct(s) for s in dataset.studies]
    bad = [i for i in ids if not STRICT_NCT.fullmatch(i)]
    valid = sorted(nct(s) for s in served if STRICT_NCT.fullmatch(nct(s)))
    impostors = [nct(s) for s in dataset.studies if s["protocolSection"]["identificationModule"].get("briefTitle")
                 == "IMPOSTOR"]
    if bad or sorted(ids) != valid or impostors:
        return f"stored {len(ids)} records of {len(valid)} valid ones; odd ids {bad!r}; impostors {impostors!r}"
    return None


def _inert_timestamp(dataset: Any, served: list[dict]) -> str | None:
    stamp = dataset.meta.data_timestamp
    return None if stamp is None else f"a hostile /version timestamp was stored: {stamp!r}"


#: checks of what a successful attempt stored, beyond its content hash (None: fine, else the problem)
STORED_CHECKS: dict[str, Callable[[Any, list[dict]], str | None]] = {"strict-ids": _strict_ids, "inert-timestamp": _inert_timestamp}
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# -- settings -----------------------------------------------------------------------------------


#: the injected faults whose point is the 0.4 s read time-out; every other case reads with CALM_TIMEOUT
TIMED = frozenset({"slow", "drip"})
CALM_TIMEOUT = 5.0


def fault_settings(api_url: str, cache_dir: Path, **changes: Any) -> Settings:
    """Production settings with fast backoff, 2 retries, short time-outs, 100 studies a page."""
    base = Settings(
        api_url=api_url, cache_dir=cache_dir, timeout=0.4, max_retries=2, backoff_factor=0.01,
        backoff_max=0.05, max_retry_after=2.0, max_requests_per_minute=1e9, page_size=100,
    )
    return replace(base, **changes)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/v2"


# -- damage to the stored data -----------------------------------------------------------------


def _rewrite(path: Path, change: Callable[[bytes], bytes]) -> None:
    path.write_bytes(change(path.read_bytes()))


def _db(settings: Settings, statement: str) -> None:
    """Run ``statement`` on the stored sets of ``settings``' database (``{current}``/``{previous}``: ids)."""
    from sqlalchemy import text

    store = DbStore(settings.database)
    with _engine(store.url).begin() as conn:
        ids = conn.execute(text("SELECT current_id, previous_id FROM pointer")).one()
        conn.execute(text(statement.format(current=ids[0], previous=ids[1])))


def _sqlite(settings: Settings) -> Path:
    return settings.cache_dir / "trialfinder.sqlite"


DAMAGE: dict[str, Callable[[Settings], None]] = {
    "record_edited": lambda s: _db(s, "UPDATE studies SET record = record || ' ' "
                                      "WHERE dataset_id = {current} AND position = 7"),
    "record_missing": lambda s: _db(s, "DELETE FROM studies WHERE dataset_id = {current} AND position = 0"),
    "set_checksum": lambda s: _db(s, "UPDATE datasets SET sha256 = 'f00d' WHERE id = {current}"),
    "record_not_json": lambda s: _db(s, "UPDATE studies SET record = '[[[', sha256 = "
                                        "'" + hashlib.sha256(b"[[[").hexdigest() + "' "
                                        "WHERE dataset_id = {current} AND position = 3"),
    "both_sets": lambda s: _db(s, "UPDATE studies SET record = record || ' ' WHERE position = 1"),
    "db_garbage": lambda s: _sqlite(s).write_bytes(random.Random(0).randbytes(64 * 1024)),
    "db_zero_tail": lambda s: _rewrite(_sqlite(s), lambda d: d[:4096] + bytes(len(d) - 4096)),
    "db_empty": lambda s: _sqlite(s).write_bytes(b""),
    "db_directory": lambda s: (_sqlite(s).unlink(), _sqlite(s).mkdir()),
    "db_fifo": lambda s: (_sqlite(s).unlink(), os.mkfifo(_sqlite(s))),
    "db_dev_zero": lambda s: (_sqlite(s).unlink(), _sqlite(s).symlink_to("/dev/zero")),
    "cache_fifo": lambda s: (s.http_cache_path.unlink(), os.mkfifo(s.http_cache_path)),
    "cache_garbage": lambda s: s.http_cache_path.write_bytes(b"this is not an SQLite database\n" * 300),
    "cache_zero_tail": lambda s: _rewrite(s.http_cache_path, lambda d: d[: len(d) // 2] + bytes(len(d) - len(d) // 2)),
}


def copy_schema(pg: Any, database: str, source: str, target: str) -> None:
    """A copy of the store in schema ``source`` as schema ``target`` (PostgreSQL, tests/pgserver.py)."""
    pg.sql(f"CREATE SCHEMA {target}; " + " ".join(
        f"CREATE TABLE {target}.{t} (LIKE {source}.{t} INCLUDING ALL); "
        f"INSERT INTO {target}.{t} SELECT * FROM {source}.{t};"
        for t in ("datasets", "studies", "pointer")), database)  # (ids keep coming from the source's sequence)


# -- the table ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultCase:
    name: str  # test id
    fault: str  # what happens, in words
    expected: str  # "success", an error class name, or for "load": "A" / "snapshot" served
    inject: tuple[tuple[str, dict[str, Any]], ...] = ()  # ApiServer.inject(kind, **opts)
    attempt: str = "refresh"  # refresh | refresh_cached | load
    data: str = "B"  # what the server holds during the attempt
    damage: str | None = None  # key of DAMAGE
    settings: tuple[tuple[str, Any], ...] = ()  # Settings changes for the attempt
    warning: str | None = None  # a warning that must be given (substring)
    gap: str | None = None  # a known shortcoming: expected is what *should* happen
    skip: str | None = None  # why this case cannot run here (None: it can)
    accept_smaller: bool = False  # the user confirmed a much smaller data set (fetch --accept-smaller)
    stores: str | None = None  # the version a success stores, when it is not ``data`` (e.g. "empty")
    check: str | None = None  # key of STORED_CHECKS, run on what a success stored
    backends: tuple[str, ...] = ("sqlite", "postgresql")  # the stores this case applies to
    db_fault: str | None = None  # a fault of the database server during the save: kill | drop | read-only


def _s(status: int, **opts: Any) -> tuple[str, dict[str, Any]]:
    return ("status", {"status": status, **opts})


PERSIST = 20  # more failures than any retry budget
CASES: list[FaultCase] = [
    FaultCase("429-twice", "429 without Retry-After, twice", "success", (_s(429, times=2),)),
    FaultCase("429-retry-after", "429 with Retry-After: 1, once", "success", (_s(429, retry_after=1),)),
    FaultCase("429-persistent", "429 without Retry-After, every time", "RateLimited", (_s(429, times=PERSIST),)),
    FaultCase("429-retry-after-long", "429 with Retry-After: 3600", "RateLimited", (_s(429, retry_after=3600),)),
    *[FaultCase(f"{c}-twice", f"HTTP {c} on page 2, twice", "success", (_s(c, times=2, skip=1),))
      for c in (500, 502, 503, 504)],
    *[FaultCase(f"{c}-persistent", f"HTTP {c} on page 2, every time", "ApiError", (_s(c, times=PERSIST, skip=1),))
      for c in (500, 502, 503, 504)],
    FaultCase("refused", "connection refused (nothing listening)", "ApiUnreachable",
              settings=(("api_url", "closed-port"),)),
    FaultCase("reset-once", "connection reset mid-body on page 3, once", "success", (("reset", {"skip": 2}),)),
    FaultCase("reset-persistent", "connection reset mid-body on page 3, every time", "InvalidResponse",
              (("reset", {"skip": 2, "times": PERSIST}),)),
    FaultCase("timeout-once", "read time-out on page 2 (answer after 0.8 s > 0.4 s), once", "success",
              (("slow", {"delay": 0.8, "skip": 1}),)),
    FaultCase("timeout-persistent", "read time-out on page 2, every time", "ApiUnreachable",
              (("slow", {"delay": 0.8, "skip": 1, "times": PERSIST}),)),
    FaultCase("truncated", "200 with JSON cut in half (Content-Length matches) on page 2", "InvalidResponse",
              (("truncated", {"skip": 1}),)),
    FaultCase("html-200", "200 with an HTML error page (captive portal / proxy) on page 1", "InvalidResponse",
              (("html", {}),)),
    FaultCase("empty-with-token", "page 2 empty but carrying a next-page token", "InvalidResponse",
              (("empty_with_token", {"skip": 1}),)),
    FaultCase("repeat-token", "page 3's next-page token is the one just sent", "InvalidResponse",
              (("repeat_token", {"skip": 2}),)),
    FaultCase("bad-token", "server rejects the page token (400) on page 3", "ApiError", (("bad_token", {"skip": 2}),)),
    FaultCase("duplicates", "page 2 and 3 repeat the previous page's studies", "success",
              (("duplicate", {"skip": 1, "times": 2}),), warning="duplicate records across pages were merged"),
    FaultCase("odd-records", "12 records with missing modules, nulls, unknown enums (edited copies)", "success",
              data="odd"),
    FaultCase("version-500", "/version answers 500 every time", "success",
              (_s(500, path="/version", times=PERSIST),), warning="/version failed"),
    FaultCase("version-html", "/version answers an HTML page", "success",
              (("html", {"path": "/version"}),), warning="/version failed"),
    FaultCase("version-timeout", "/version times out every time", "success",
              (("slow", {"delay": 0.8, "path": "/version", "times": PERSIST}),), warning="/version failed"),
    # a hostile or broken server (issue 15)
    FaultCase("redirect-other-host", "page 1 answers 302 to the same URL on another host (127.0.0.2, serving B)",
              "InvalidResponse", (("redirect", {"to": "other-host"}),)),
    FaultCase("redirect-same-host", "page 2 answers 302 to the same URL on the configured host (followed)", "success",
              (("redirect", {"skip": 1}),)),
    FaultCase("gzip-bomb", "page 2: 1 MB of gzip that inflates to 1 GB (default 50 MB cap)", "InvalidResponse",
              (("gzip_bomb", {"size": 1_000_000_000, "skip": 1}),)),
    FaultCase("oversize", "page 1: 3 MB with Content-Length, cap 2 MB", "InvalidResponse",
              (("oversize", {"size": 3_000_000}),), settings=(("max_response_mb", 2.0),)),
    FaultCase("oversize-chunked", "page 2: 3 MB chunked (no Content-Length), cap 2 MB", "InvalidResponse",
              (("oversize", {"size": 3_000_000, "chunked": True, "skip": 1}),),
              settings=(("max_response_mb", 2.0),)),
    FaultCase("drip-body", "headers, then one byte every 0.1 s (each read within the 0.4 s time-out); "
              "2 s deadline", "ApiUnreachable", (("drip", {"interval": 0.1, "times": PERSIST}),),
              settings=(("refresh_deadline", 2.0),)),
    FaultCase("drip-headers", "status line and headers one byte every 0.1 s; 2 s deadline", "ApiUnreachable",
              (("drip", {"interval": 0.1, "headers": True, "skip": 1, "times": PERSIST}),),
              settings=(("refresh_deadline", 2.0),)),
    FaultCase("endless-pages", "no totalCount and a fresh next-page token on every page; 8-page ceiling",
              "InvalidResponse", (("endless", {"times": 1000}),), settings=(("max_pages", 8),)),
    FaultCase("deep-nesting", "page 1 is valid JSON nested 100,000 deep", "InvalidResponse", (("nested", {}),)),
    FaultCase("empty-listing", '200 {"studies": [], "totalCount": 0} for the stored query', "InvalidResponse",
              (("empty_listing", {}),)),
    FaultCase("empty-listing-accepted", "the same, with --accept-smaller", "success", (("empty_listing", {}),),
              accept_smaller=True, stores="empty"),
    FaultCase("shrink-under-half", "the server holds a third of the stored set (real, edited copies)",
              "InvalidResponse", data="C"),
    FaultCase("odd-ids", "3 impostors: real records copied with ids 'NCT…\\n', Arabic-Indic and full-width digits",
              "success", data="odd-ids", warning="3 records without a valid NCT id were skipped", check="strict-ids"),
    FaultCase("version-escapes", "/version's dataTimestamp carries terminal escape sequences", "success",
              (("json_body", {"path": "/version", "times": PERSIST, "body": {
                  "apiVersion": "2.0.5", "dataTimestamp": "\x1b]0;pwned\x07\x1b[2J2026-11-20T08:00:00"}}),),
              warning="/version", check="inert-timestamp"),
    FaultCase("error-body-escapes", "HTTP 400 whose body carries terminal escape sequences", "ApiError",
              (_s(400, body="\x1b]0;pwned\x07\x1b[31mbad request\x9b1m", times=PERSIST),)),
    # damage to the stored data (the SQLite file, or a stored set's rows on either store)
    FaultCase("set-record-edited", "one study's stored text changed (one space added) in the current set", "A",
              attempt="load", damage="record_edited", warning="checksum mismatch in study 8"),
    FaultCase("set-record-missing", "one study row of the current set deleted", "A", attempt="load",
              damage="record_missing", warning="wrong study count"),
    FaultCase("set-checksum", "the current set's SHA-256 changed", "A", attempt="load", damage="set_checksum",
              warning="checksum mismatch"),
    FaultCase("set-record-not-json", "one study's text replaced by '[[[' with a matching row checksum", "A",
              attempt="load", damage="record_not_json", warning="checksum mismatch"),
    FaultCase("set-both", "a study changed in both the current and the previous set", "snapshot", attempt="load",
              damage="both_sets", warning="damaged"),
    *[FaultCase(f"sqlite-{name}", f"trialfinder.sqlite {what}", "snapshot", attempt="load", damage="db_" + name.replace("-", "_"),
                warning=warning, backends=("sqlite",)) for name, what, warning in [
        ("garbage", "replaced by 64 KB of random bytes", "damaged"),
        ("zero-tail", "zeroed after its first page", "damaged"),
        ("empty", "empty (0 bytes: SQLite reads it as a new database)", None),
        ("directory", "is a directory", "not a regular file"),
        ("fifo", "replaced by a FIFO (nothing writes to it)", "not a regular file"),
        ("dev-zero", "replaced by a symlink to /dev/zero", "not a regular file")]],
    # the database server itself (PostgreSQL)
    FaultCase("db-server-killed", "the PostgreSQL server SIGKILLed during the save (before the pointer switch); "
              "restarted after", "StoreUnavailable", backends=("postgresql",), db_fault="kill"),
    FaultCase("db-connection-dropped", "the connection terminated by the server during the save "
              "(pg_terminate_backend)", "StoreUnavailable", backends=("postgresql",), db_fault="drop"),
    FaultCase("db-read-only", "the refresh runs as a role that may only read", "StoreUnavailable",
              backends=("postgresql",), db_fault="read-only"),
    # the HTTP cache (an SQLite file in the cache folder, whatever the store)
    FaultCase("http-cache-fifo", "http_cache.sqlite replaced by a FIFO", "success", attempt="refresh_cached",
              damage="cache_fifo", warning="HTTP cache"),
    FaultCase("http-cache-garbage", "http_cache.sqlite replaced by garbage", "success", attempt="refresh_cached",
              damage="cache_garbage", warning="HTTP cache was damaged"),
    FaultCase("http-cache-zero-tail", "http_cache.sqlite: second half zeroed (opens, fails on read)", "success",
              attempt="refresh_cached", damage="cache_zero_tail", warning="HTTP cache was damaged"),
]


# -- running a case -----------------------------------------------------------------------------


@dataclass
class Outcome:
    case: FaultCase
    actual: str = ""  # "success", an error class, or the data set served
    message: str = ""  # error message, or the warnings
    warnings: list[str] = field(default_factory=list)
    intact: bool = False
    intact_detail: str = ""
    recovery: str = ""
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)  # differences from what the table expects
    gap_hit: bool = False  # the known gap showed (expected not met, everything else fine)
    skipped: str | None = None

    @property
    def verdict(self) -> str:
        if self.skipped:
            return "skipped"
        if self.problems:
            return "FAIL: " + "; ".join(self.problems)
        return "known gap" if self.gap_hit else "as expected"


class FaultLab:
    """One loopback server, the reference hash of each data version, and a baseline cache
    directory holding A; each case runs in its own copy of that directory. On PostgreSQL (``pg``: a
    tests/pgserver.py server) the baseline store is the schema ``base`` of the database ``faults``,
    and each case runs in its own copy of that schema."""

    def __init__(self, workdir: Path, fixtures: list[dict] | None = None, backend: str = "sqlite",
                 pg: Any = None):
        self.workdir = Path(workdir)
        self.backend, self.pg = backend, pg
        self.schemas = 0
        if backend == "postgresql":
            self.pg.sql("DROP DATABASE IF EXISTS faults")
            self.pg.create_database("faults")
            self.pg.sql("CREATE SCHEMA base", "faults")
        self.versions = data_versions(fixtures if fixtures is not None else load_fixture_studies())
        self.server = ApiServer(copy.deepcopy(self.versions["A"])).start()
        #: another host (127.0.0.2) serving B: a redirect there must never be followed
        self.other = ApiServer(copy.deepcopy(self.versions["B"]), host="127.0.0.2").start()
        self.refs: dict[str, str] = {"empty": content_hash([])}
        for name, studies in self.versions.items():
            self.server.set_studies(copy.deepcopy(studies))
            st = self.settings(self.workdir / f"ref-{name}")
            dataset, _ = refresh_dataset(st, ALL, session=build_session(st))
            self.refs[name] = content_hash(dataset.studies)
        assert len(set(self.refs.values())) == len(self.refs), "data versions must differ"
        from trialfinder.source.store import load_snapshot

        self.refs["snapshot"] = content_hash(load_snapshot(Settings().snapshot_dir).studies)
        self.server.set_studies(copy.deepcopy(self.versions["A"]))
        self.baseline = self.workdir / "baseline"
        st = self.settings(self.baseline, database_url=self._schema_url("base"))
        refresh_dataset(st, ALL, session=build_session(st))
        refresh_dataset(st, ALL, session=build_session(st), refresh=True)  # previous.json = A too
        assert self.stored_hash(st) == self.refs["A"]

    def close(self) -> None:
        self.server.stop()
        self.other.stop()

    def settings(self, cache_dir: Path, **changes: Any) -> Settings:
        return fault_settings(self.server.url, cache_dir, **changes)

    def _schema_url(self, schema: str, user: str = "postgres") -> str:
        if self.backend != "postgresql":
            return ""
        return self.pg.url("faults", user) + f"?options=-csearch_path%3D{schema}"

    def _copy_baseline(self, case: FaultCase) -> str:
        """A copy of the baseline store for ``case`` ("" on SQLite: the file was copied with the folder)."""
        if self.backend != "postgresql":
            return ""
        self.schemas += 1
        schema = f"case{self.schemas}"
        copy_schema(self.pg, "faults", "base", schema)
        if case.db_fault == "read-only":
            self.pg.create_readonly_role("faults")
            self.pg.sql(f"GRANT USAGE ON SCHEMA {schema} TO reader; "
                        f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO reader", "faults")
        return self._schema_url(schema)

    def name_of(self, digest: str | None) -> str:
        return next((k for k, v in self.refs.items() if v == digest), "a MIX" if digest else "nothing")

    @staticmethod
    def stored_hash(settings: Settings) -> str | None:
        dataset = open_store(settings).load("current")
        return content_hash(dataset.studies) if dataset is not None else None

    def run(self, case: FaultCase) -> Outcome:
        out = Outcome(case)
        if self.backend not in case.backends:
            out.skipped = f"a fault of the {'/'.join(case.backends)} store only"
            return out
        if case.skip:
            out.skipped = case.skip
            return out
        cache_dir = self.workdir / case.name / "cache"
        shutil.rmtree(cache_dir.parent, ignore_errors=True)
        shutil.copytree(self.baseline, cache_dir)
        home = self.settings(cache_dir, database_url=self._copy_baseline(case))
        changes = {k: (closed_port_url() if v == "closed-port" else v) for k, v in case.settings}
        if not any(kind in TIMED for kind, _opts in case.inject):
            # (a case not about time-outs gets a long one: on a loaded machine a 0.4 s read can time out,
            # spend one of the two retries and turn "502 twice" into a spurious failure)
            changes.setdefault("timeout", CALM_TIMEOUT)
        if case.db_fault == "read-only":
            changes["database_url"] = home.database_url.replace("postgres@", "reader@")
        st = replace(home, **changes)
        self.server.clear_faults()
        self.server.set_studies(copy.deepcopy(self.versions[case.data]))
        if case.damage:
            DAMAGE[case.damage](st)
        for kind, opts in case.inject:
            self.server.inject(kind, **{k: (f"127.0.0.2:{self.other.port}" if v == "other-host" else v)
                                        for k, v in opts.items()})
        self.other.reset_log()
        start = time.perf_counter()
        try:
            with self._server_fault(case, st):
                if case.attempt == "load":
                    self._load(case, st, out)
                else:
                    self._refresh(case, st, out)
        finally:
            out.seconds = time.perf_counter() - start
            self.server.clear_faults()
            if self.pg is not None and self.pg.process is None:
                self.pg.start()  # (after a kill: the server recovers from its WAL)
        if self.other.requests:
            out.problems.append(f"another host was contacted: {len(self.other.requests)} requests to 127.0.0.2")
        self._recover(home, out)
        return out

    @contextmanager
    def _server_fault(self, case: FaultCase, st: Settings) -> Iterator[None]:
        """For a kill / drop case: when the save is about to switch the pointer (every study written,
        nothing committed), SIGKILL the server, or terminate that connection from another."""
        if case.db_fault not in ("kill", "drop"):
            yield
            return
        from sqlalchemy import event

        engine = _engine(DbStore(st.database).url)
        fired: list[bool] = []

        def hook(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if fired or not statement.lstrip().upper().startswith("UPDATE POINTER"):
                return
            fired.append(True)
            if case.db_fault == "kill":
                self.pg.kill()
            else:
                self.pg.sql(f"SELECT pg_terminate_backend({conn.connection.dbapi_connection.info.backend_pid})")

        event.listen(engine, "before_cursor_execute", hook)
        try:
            yield
        finally:
            event.remove(engine, "before_cursor_execute", hook)
        assert fired, "the save never reached the pointer switch"

    def _refresh(self, case: FaultCase, st: Settings, out: Outcome) -> None:
        studies = None
        try:
            session = build_session(st)
            more = {"accept_smaller": True} if case.accept_smaller else {}
            dataset, result = refresh_dataset(st, ALL, session=session, refresh=case.attempt == "refresh", **more)
            session.close()
            out.actual, out.warnings, studies = "success", list(result.warnings), dataset.studies
            out.message = "; ".join(out.warnings)
        except TrialFinderError as exc:
            out.actual, out.message = type(exc).__name__, str(exc)
        except Exception as exc:  # anything else is a crash: a bug
            out.actual, out.message = f"CRASH {type(exc).__name__}", str(exc)
            out.problems.append(f"crashed with {type(exc).__name__}")
        if self.pg is not None and self.pg.process is None:
            self.pg.start()  # (the server was killed: what it stored is checked after its restart)
        stored = self.stored_hash(replace(st, database_url=self._schema_url(f"case{self.schemas}"))
                                  if case.db_fault else st)
        if CONTROL.search(out.message):
            out.problems.append(f"control characters in what would be printed: {out.message!r}")
        if out.actual == "success":
            want = self.refs[case.stores or case.data]
            out.intact = stored == want == content_hash(studies or [])
            out.intact_detail = f"stored {self.name_of(stored)} (the new complete set)" if out.intact else \
                f"stored {self.name_of(stored)}, expected {case.stores or case.data}"
            if case.check:
                problem = STORED_CHECKS[case.check](dataset, self.versions[case.data])
                out.problems += [problem] if problem else []
            if case.data == "odd" and out.intact:
                from trialfinder.find.tables import build_tables

                tables = build_tables(load_dataset(st))
                if len(tables.studies) != len(studies or []):
                    out.problems.append("build_tables lost odd records")
                else:
                    out.intact_detail += f"; build_tables: {len(tables.studies)} rows"
        else:
            out.intact = stored == self.refs["A"]
            out.intact_detail = f"stored {self.name_of(stored)} (the last complete set)" if out.intact else \
                f"stored {self.name_of(stored)}, expected A"
            if "\n" in out.message or len(out.message) >= 300 or not ACTION.search(out.message):
                out.problems.append(f"message is not one line < 300 chars saying what to do: {out.message!r}")
        self._judge(case, out)

    def _load(self, case: FaultCase, st: Settings, out: Outcome) -> None:
        try:
            dataset = load_dataset(st)
        except Exception as exc:
            out.actual, out.message = f"CRASH {type(exc).__name__}", str(exc)
            out.problems.append(f"load_dataset raised {type(exc).__name__}")
            return
        served = content_hash(dataset.studies)
        out.warnings = list(dataset.meta.warnings)
        out.message = "; ".join(out.warnings)
        out.actual = self.name_of(served)
        if dataset.meta.source == "cache":
            out.actual += " (previous set)" if open_store(st).load_meta("current") is None else " (current set)"
        else:
            out.actual += f" ({dataset.meta.source})"
        out.intact = served == self.refs[case.expected]
        moved = self._set_aside(st)
        out.intact_detail = f"served {self.name_of(served)}; damaged data set aside: {moved or 'NO'}"
        if not moved and case.warning is not None:
            out.problems.append("the damaged data was not set aside")
        self._judge(case, out)

    @staticmethod
    def _set_aside(st: Settings) -> str:
        """What was set aside: the SQLite file moved, or sets marked damaged ("" when nothing)."""
        if list(st.cache_dir.glob("trialfinder.sqlite.corrupt-*")):
            return "the file"
        from sqlalchemy import exc, text

        try:
            with _engine(DbStore(st.database).url).connect() as conn:
                marked = conn.execute(text("SELECT count(*) FROM datasets WHERE damaged_at IS NOT NULL")).scalar()
        except exc.OperationalError:  # (no tables: an empty file)
            return ""
        return f"{marked} set(s) marked damaged" if marked else ""

    def _judge(self, case: FaultCase, out: Outcome) -> None:
        got = out.actual.split(" ")[0]
        if not out.intact:
            out.problems.append(f"data set not intact: {out.intact_detail}")
        if got != case.expected:
            if case.gap and not out.problems:
                out.gap_hit = True
            else:
                out.problems.append(f"expected {case.expected}, got {out.actual}: {out.message[:120]}")
        elif case.gap:
            out.problems.append("the known gap is fixed: update its row in tests/faultcases.py")
        if case.warning and got == case.expected and not any(case.warning in w for w in out.warnings):
            out.problems.append(f"no warning containing {case.warning!r} (warnings: {out.warnings})")

    def _recover(self, home: Settings, out: Outcome) -> None:
        """A plain refresh without faults (the cache answers what it can): one complete set."""
        try:
            session = build_session(home)
            # (the user accepts the server's data as it is: a recovery checks completeness and mixing,
            # and a server that really holds a third of the data would be refused again otherwise)
            dataset, result = refresh_dataset(home, ALL, session=session, accept_smaller=True)
            session.close()
        except Exception as exc:
            out.recovery = f"FAILED {type(exc).__name__}"
            out.problems.append(f"recovery refresh failed: {type(exc).__name__}: {exc}")
            return
        stored = self.stored_hash(home)
        again = load_dataset(home)
        name = self.name_of(stored)
        out.recovery = f"{name} ({'cache' if result.from_cache else 'live'})"
        allowed = {self.refs["A"], self.refs[out.case.data], self.refs[out.case.stores or out.case.data]}
        if stored not in allowed or stored != content_hash(dataset.studies):
            out.problems.append(f"recovery stored {name}")
        damaged = [w for w in again.meta.warnings if "moved aside" in w]
        if damaged or content_hash(again.studies) != stored:
            out.problems.append(f"after recovery the data set does not load cleanly: {damaged}")


# -- chaos --------------------------------------------------------------------------------------

CHAOS_FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("status", {"status": 429}), ("status", {"status": 429, "retry_after": 0}),
    ("status", {"status": 429, "retry_after": 3600}), ("status", {"status": 500}),
    ("status", {"status": 502}), ("status", {"status": 503}), ("status", {"status": 504}),
    ("status", {"status": 400}), ("truncated", {}), ("html", {}), ("empty_with_token", {}),
    ("repeat_token", {}), ("duplicate", {}), ("reset", {}), ("bad_token", {}),
    ("slow", {"delay": 0.3}), ("status", {"status": 500, "path": "/version"}),
    ("html", {"path": "/version"}),
    # hostile answers (issue 15); the slow drip is left to the matrix, its deadline costing seconds
    ("redirect", {"to": "127.0.0.2:9"}), ("redirect", {}), ("gzip_bomb", {"size": 5_000_000}),
    ("oversize", {"size": 2_000_000}), ("endless", {}), ("nested", {}), ("empty_listing", {}),
    ("json_body", {"path": "/version", "body": {"dataTimestamp": "\x1b[2J"}}),
]


@dataclass
class ChaosSummary:
    seed: int
    attempts: int = 0
    successes: int = 0
    failures: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    versions_stored: Counter = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        fails = ", ".join(f"{k} {v}" for k, v in self.failures.most_common()) or "none"
        return [
            f"seed {self.seed}: {self.attempts} refresh attempts in {self.seconds:.1f} s, "
            f"{sum(self.faults.values())} faults injected ({len(self.faults)} kinds)",
            f"successes {self.successes}; failures {sum(self.failures.values())}: {fails}",
            "stored after each attempt: " + ", ".join(f"{k} {v}" for k, v in sorted(self.versions_stored.items())),
            f"integrity violations: {len(self.violations)}",
        ]


def chaos_run(
    seed: int, attempts: int, fixtures: list[dict] | None = None, workdir: Path | None = None
) -> ChaosSummary:
    """``attempts`` refreshes against a server that flips between two versions of the data and
    injects random faults (``random.Random(seed)``). After every attempt the stored data set must
    be exactly one of the complete versions: the one stored before if the attempt failed, the one
    the attempt returned if it succeeded."""
    rng = random.Random(seed)
    fixtures = fixtures if fixtures is not None else load_fixture_studies()
    small = copy.deepcopy(fixtures[:120])
    versions = {"A": small, "B": edited([s for i, s in enumerate(small) if i % 10 != 0], "(v2)")}
    summary = ChaosSummary(seed)
    own_tmp = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="tf-chaos-")) if workdir is None else workdir
    start = time.perf_counter()
    with ApiServer(copy.deepcopy(small)) as server:
        def chaos_settings(cache: Path) -> Settings:
            return fault_settings(server.url, cache, page_size=20, timeout=0.2, max_retries=1, max_retry_after=0.5,
                                  max_pages=12, max_response_mb=1.0)

        # identity of a stored data set: the SHA-256 of its study list as written (DbStore
        # verifies it on every load); refs: that of each complete version, downloaded cleanly
        refs = {}
        for name, studies in versions.items():
            server.set_studies(studies)
            st = chaos_settings(workdir / f"ref-{name}")
            refs[refresh_dataset(st, ALL, session=build_session(st))[0].meta.sha256] = name
        st = chaos_settings(workdir / "cache")
        stored: str | None = None
        session = build_session(st)
        for _ in range(attempts):
            if rng.random() < 0.3:
                server.set_studies(versions[rng.choice("AB")])  # the server never changes them
            if rng.random() < 0.3:
                session.close()
                session = build_session(st)
            for _ in range(rng.choice((0, 1, 1, 1, 2, 2))):
                kind, opts = rng.choice(CHAOS_FAULTS)
                times = rng.choice((1, 1, 2, 3, 20))
                server.inject(kind, skip=rng.randrange(8), times=times, **opts)
                summary.faults[kind if kind != "status" else f"status {opts['status']}"] += 1
            summary.attempts += 1
            try:
                dataset, _ = refresh_dataset(st, ALL, session=session, refresh=rng.random() < 0.5)
            except TrialFinderError as exc:
                summary.failures[type(exc).__name__] += 1
                got = None
            except Exception as exc:
                summary.failures[f"CRASH {type(exc).__name__}"] += 1
                summary.violations.append(f"attempt {summary.attempts}: crashed: {type(exc).__name__}: {exc}")
                got = None
            else:
                summary.successes += 1
                got = dataset.meta.sha256
            server.clear_faults()
            current = open_store(st).load("current")
            now = current.meta.sha256 if current is not None else None
            summary.versions_stored[refs.get(now, "MIX") if now else "none"] += 1
            if now is None and stored is None and got is None:
                pass  # nothing stored yet and nothing to store: still fine
            elif now not in refs:
                summary.violations.append(f"attempt {summary.attempts}: stored data is not a complete version")
            elif got is None and now != stored:
                summary.violations.append(f"attempt {summary.attempts}: a failed refresh changed the data set")
            elif got is not None and now != got:
                summary.violations.append(f"attempt {summary.attempts}: stored data differs from what was returned")
            stored = now
        session.close()
    summary.seconds = time.perf_counter() - start
    if own_tmp:
        shutil.rmtree(workdir, ignore_errors=True)
    return summary
