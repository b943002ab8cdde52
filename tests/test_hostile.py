"""Hostile text and a hostile network at the edges (issue 15): what reaches the terminal, a file or the
HTTP cache. The refresh faults themselves are rows of the fault matrix (tests/faultcases.py).

Registry text: a small snapshot of EDITED COPIES of four real fixture records (fixtures/aml-studies:
NCT04067336, NCT01962636, NCT01597778, NCT02661035), whose titles carry Rich markup, terminal escape
sequences, control characters and a spreadsheet formula. The fixture files are untouched.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from paths import AML_STUDIES

from trialfinder.cli import cli

#: what must never reach a terminal or a cell: C0 controls but tab and newline, DEL, C1 (ESC, BEL, CSI...)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
TITLES = {
    "NCT04067336": "[/x] [bold red]LOUD[/bold red]",  # a stray closing tag made Rich raise MarkupError
    "NCT01962636": "[link=https://e.example]x[/link] :warning:",
    "NCT01597778": "\x1b]0;pwned\x07Venetoclax\x1b[2J\x1b[31m red\x0b\x9b1m",  # retitle, clear, colour, VT, C1
    "NCT02661035": '\x07=HYPERLINK("https://e.example")',  # a formula once the BEL is gone
}
UNSET = ("TRIALFINDER_API_URL", "TRIALFINDER_SNAPSHOT_DIR", "TRIALFINDER_OFFLINE", "TRIALFINDER_TIMEOUT",
         "TRIALFINDER_BACKOFF", "TRIALFINDER_MAX_REQUESTS_PER_MINUTE", "TRIALFINDER_MAX_RESPONSE_MB",
         "TRIALFINDER_REFRESH_DEADLINE", "TRIALFINDER_MAX_PAGES")


def stored_studies(env: dict) -> list:
    """The studies of the data set the commands run with ``env`` stored."""
    from trialfinder.source.database import open_store
    from trialfinder.source.settings import Settings

    return open_store(Settings(cache_dir=Path(env["TRIALFINDER_CACHE_DIR"]))).load().studies


def run(args: list[str], env: dict[str, str | None]) -> Result:
    result = CliRunner().invoke(cli, args, env={**{name: None for name in UNSET}, **env})
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result


def inert(text: str) -> bool:
    return not CONTROL.search(text)


@pytest.fixture(scope="module")
def hostile_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    snapshot = tmp_path_factory.mktemp("hostile-snapshot")
    shutil.copy(AML_STUDIES / "SNAPSHOT.json", snapshot / "SNAPSHOT.json")
    for nct, title in TITLES.items():
        record = json.loads((AML_STUDIES / f"{nct}.json").read_text(encoding="utf-8"))
        record["protocolSection"]["identificationModule"]["briefTitle"] = title
        (snapshot / f"{nct}.json").write_text(json.dumps(record), encoding="utf-8")
    return {"TRIALFINDER_SNAPSHOT_DIR": str(snapshot),
            "TRIALFINDER_CACHE_DIR": str(tmp_path_factory.mktemp("hostile-cache"))}


# --- registry text -----------------------------------------------------------------------------

def test_the_terminal_table_prints_registry_markup_literally(hostile_env) -> None:
    result = run(["search", "--status", "all"], hostile_env)
    assert result.exit_code == 0, result.output
    assert "[/x] [bold red]LOUD[/bold red]" in result.stdout
    assert "[link=https://e.example]x[/link] :warning:" in result.stdout
    assert inert(result.stdout) and inert(result.stderr)
    assert "Venetoclax red" in result.stdout and "pwned" not in result.stdout


def test_show_prints_no_terminal_control_sequences(hostile_env) -> None:
    result = run(["show", "NCT01597778"], hostile_env)
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith("NCT01597778  Venetoclax red") and inert(result.stdout)


def test_csv_and_json_on_stdout_are_inert_and_formulas_neutralised(hostile_env) -> None:
    table = run(["search", "--status", "all", "--format", "csv"], hostile_env)
    assert table.exit_code == 0 and inert(table.stdout)
    titles = {row["nct_id"]: row["title"] for row in csv.DictReader(io.StringIO(table.stdout))}
    assert titles["NCT02661035"] == "'=HYPERLINK(\"https://e.example\")"
    assert titles["NCT04067336"] == TITLES["NCT04067336"]  # markup is text, kept as is
    data = run(["search", "--status", "all", "--format", "json"], hostile_env)
    assert data.exit_code == 0 and inert(data.stdout)
    assert all(inert(t["title"]) for t in json.loads(data.stdout)["trials"])


def test_xlsx_export_with_control_characters_in_titles(hostile_env, tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    out = tmp_path / "trials.xlsx"
    result = run(["search", "--status", "all", "--format", "xlsx", "--output", str(out), "--text", "bad\x1b[31m"],
                 hostile_env)
    assert result.exit_code == 0, result.output  # was: IllegalCharacterError, exit 1
    out2 = tmp_path / "all.xlsx"
    assert run(["search", "--status", "all", "--format", "xlsx", "--output", str(out2)], hostile_env).exit_code == 0
    book = openpyxl.load_workbook(out2)
    rows = list(book["Trials"].iter_rows(values_only=True))
    titles = {row[0]: row[1] for row in rows[1:]}
    assert set(titles) == set(TITLES) and all(inert(t) for t in titles.values())
    assert titles["NCT02661035"].startswith("'=")
    assert all(inert(str(v)) for row in book["Search"].iter_rows(values_only=True) for v in row if v)


def test_the_pdf_export_is_inert(hostile_env, tmp_path: Path) -> None:
    out = tmp_path / "trials.pdf"
    result = run(["search", "--status", "all", "--format", "pdf", "--output", str(out)], hostile_env)
    assert result.exit_code == 0, result.output
    assert inert(result.stderr) and "missing the following glyphs" not in result.stderr
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    import subprocess

    text = subprocess.run([pdftotext, str(out), "-"], capture_output=True, text=True, check=True).stdout
    assert "Venetoclax red" in text and "pwned" not in text and "[2J" not in text
    assert inert(text.replace("\f", ""))  # (pdftotext ends each page with a form feed)
    assert "[/x] [bold red]LOUD[/bold red]" in text


@pytest.mark.parametrize("nct", ["NCT٠٤٠٦٧٣٣٦", "NCT０４０６７３３６", "NCT0406733６"])
def test_show_refuses_ids_with_non_ascii_digits(hostile_env, nct: str) -> None:
    result = run(["show", nct], hostile_env)
    assert result.exit_code == 2 and "is not an NCT number" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


def test_the_client_refuses_an_id_with_a_trailing_newline(settings, session) -> None:
    from trialfinder.errors import InvalidInput
    from trialfinder.source.client import CtGovClient

    client = CtGovClient(session, settings)
    for bad in ("NCT00000589\n", "NCT٠٠٠٠٠٥٨٩"):
        with pytest.raises(InvalidInput):
            client.study(bad)
    assert client.study("NCT00000589")["protocolSection"]["identificationModule"]["nctId"] == "NCT00000589"


# --- what the network sends -----------------------------------------------------------------------

@pytest.fixture
def net_env(api, tmp_path: Path) -> dict[str, str | None]:
    return {"TRIALFINDER_CACHE_DIR": str(tmp_path / "cache"), "TRIALFINDER_API_URL": api.url,
            "TRIALFINDER_BACKOFF": "0.01", "TRIALFINDER_TIMEOUT": "5",
            "TRIALFINDER_MAX_REQUESTS_PER_MINUTE": "100000"}


def test_an_api_error_body_with_escapes_is_printed_inert(api, net_env) -> None:
    api.inject("status", status=400, body="\x1b]0;pwned\x07\x1b[31mbad request\x9b1m", times=20)
    result = run(["fetch", "--refresh", "--status", "all"], net_env)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and inert(result.stderr)
    assert "HTTP 400" in result.stderr and "bad request" in result.stderr


def test_a_version_body_with_escapes_is_dropped_and_never_stored(api, net_env) -> None:
    api.inject("json_body", path="/version", times=20,
               body={"apiVersion": "2.0.5", "dataTimestamp": "\x1b]0;pwned\x07\x1b[2J2026-11-20T08:00:00"})
    fetched = run(["fetch", "--status", "all"], net_env)
    assert fetched.exit_code == 0, fetched.output
    assert inert(fetched.output) and "pwned" not in fetched.output
    assert "warning: /version failed" in fetched.stderr and "data timestamp unknown" in fetched.stdout
    later = run(["search", "--format", "csv"], net_env)
    assert "data as of unknown" in later.stderr and inert(later.output)
    assert "warning:" not in later.stderr  # the download's warning was given once, not stored


def test_a_skipped_record_warning_is_given_by_fetch_only(api, net_env, fixture_studies) -> None:
    """An impostor: a COPY of a real record the search finds, its id with a trailing newline."""
    import copy

    first = run(["fetch", "--status", "all", "--all-settings"], net_env)
    count = int(first.stdout.split()[0])
    found = stored_studies(net_env)
    impostor = copy.deepcopy(next(s for s in fixture_studies if s["protocolSection"]["identificationModule"]["nctId"]
                                  == found[0]["protocolSection"]["identificationModule"]["nctId"]))
    impostor["protocolSection"]["identificationModule"]["nctId"] += "\n"
    api.set_studies(copy.deepcopy(fixture_studies) + [impostor])
    fetched = run(["fetch", "--refresh", "--status", "all", "--all-settings"], net_env)
    assert fetched.exit_code == 0, fetched.output
    assert "warning: 1 record without a valid NCT id was skipped" in fetched.stderr
    assert fetched.stdout.startswith(f"{count} studies")
    for args in (["search", "--format", "csv"], ["categories"]):
        later = run(args, net_env)
        assert later.exit_code == 0 and "warning:" not in later.stderr, later.stderr


def test_fetch_refuses_a_much_smaller_listing_unless_accepted(api, net_env) -> None:
    first = run(["fetch", "--status", "all"], net_env)
    count = int(first.stdout.split()[0])
    before = run(["search", "--format", "csv"], net_env).stdout
    api.inject("empty_listing", times=10)
    refused = run(["fetch", "--refresh", "--status", "all"], net_env)
    assert refused.exit_code == 1 and refused.stdout == ""
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "returned 0 studies" in lines[0] and f"under half of the {count} stored" in lines[0]
    assert "`trialfinder fetch --accept-smaller`" in lines[0]
    assert run(["search", "--format", "csv"], net_env).stdout == before  # the data set is kept
    accepted = run(["fetch", "--refresh", "--status", "all", "--accept-smaller"], net_env)
    assert accepted.exit_code == 0 and accepted.stdout.startswith("0 studies"), accepted.output
    for args in (["search"], ["search", "--near", "85719", "--format", "xlsx", "--output", os.devnull],
                 ["categories"]):  # an empty data set is still a data set: no crash
        empty = run(args, net_env)
        assert empty.exit_code == 0 and re.search(r"\b0 +trials", empty.output), (args, empty.output)


def test_changes_prints_registry_text_inert(api, net_env, fixture_studies, tmp_path: Path) -> None:
    """The second download holds an edited COPY of a record the first one found: its status changed and
    its title carrying markup and escapes. `trialfinder changes` lists it as text."""
    import copy

    assert run(["fetch", "--status", "all"], net_env).exit_code == 0
    found = stored_studies(net_env)
    nct = found[0]["protocolSection"]["identificationModule"]["nctId"]
    studies = copy.deepcopy(fixture_studies)
    record = next(s for s in studies if s["protocolSection"]["identificationModule"]["nctId"] == nct)
    record["protocolSection"]["identificationModule"]["briefTitle"] = "[/x] \x1b]0;pwned\x07\x1b[31mChanged\x9b1m"
    status = record["protocolSection"]["statusModule"]
    status["overallStatus"] = "COMPLETED" if status.get("overallStatus") != "COMPLETED" else "WITHDRAWN"
    api.set_studies(studies)
    assert run(["fetch", "--refresh", "--status", "all"], net_env).exit_code == 0
    table = run(["changes"], net_env)
    assert table.exit_code == 0, table.output  # was: MarkupError on "[/x]"
    assert "[/x] Changed" in table.stdout and inert(table.output) and "pwned" not in table.stdout
    out = tmp_path / "changes.csv"
    assert run(["changes", "--format", "csv", "--output", str(out)], net_env).exit_code == 0
    written = out.read_text(encoding="utf-8")
    assert "[/x] Changed" in written and inert(written)


def test_credentials_in_the_api_url_are_never_printed_or_stored(api, net_env, tmp_path: Path) -> None:
    secret = "s3cret-pw"
    url = api.url.replace("http://", f"http://alice:{secret}@")
    env = {**net_env, "TRIALFINDER_API_URL": url}
    fetched = run(["fetch", "--status", "all", "--record", str(tmp_path / "record")], env)
    assert fetched.exit_code == 0, fetched.output
    shown = run(["search", "--format", "csv"], env)
    assert "live from" not in shown.stderr or secret not in shown.stderr
    assert secret not in fetched.output + shown.output and "alice" not in fetched.output + shown.output
    encoded = base64.b64encode(f"alice:{secret}".encode())
    for path in [*Path(net_env["TRIALFINDER_CACHE_DIR"]).rglob("*"), *(tmp_path / "record").rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            assert secret.encode() not in data and encoded not in data, path
    api.stop()  # and when the API cannot be reached, the message names the URL without them
    failed = run(["fetch", "--refresh", "--status", "all"], env)
    assert failed.exit_code == 1 and secret not in failed.stderr and "alice" not in failed.stderr
    assert "cannot reach" in failed.stderr


def test_credentials_travel_as_a_basic_auth_header(api, settings) -> None:
    from dataclasses import replace

    from trialfinder.source.session import build_session

    secret_settings = replace(settings, api_url=settings.api_url.replace("http://", "http://alice:pw%40x@"))
    session = build_session(secret_settings)
    assert session.auth == ("alice", "pw@x")
    response = session.get(secret_settings.api_base + "/version", timeout=5)
    assert response.request.headers["Authorization"] == "Basic " + base64.b64encode(b"alice:pw@x").decode()
    assert "alice" not in response.url
    session.close()


def test_requests_cache_log_lines_stay_off_stderr(api, net_env) -> None:
    """In a real process (pytest's own log capture would hide what Python prints when logging is not set up)."""
    import subprocess
    import sys

    first = run(["fetch", "--status", "all"], net_env)
    cache = Path(net_env["TRIALFINDER_CACHE_DIR"]) / "http_cache.sqlite"
    with sqlite3.connect(cache) as db:  # every cached answer damaged: they cannot be read back
        assert db.execute("UPDATE responses SET value = ?", (b"\x00not a pickle",)).rowcount > 0
    env = {k: v for k, v in os.environ.items() if k not in UNSET} | {k: v for k, v in net_env.items() if v}
    again = subprocess.run([sys.executable, "-m", "trialfinder", "fetch", "--status", "all"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "Unable to deserialize" not in again.stderr and "requests_cache" not in again.stderr
    assert again.stderr.count("\n") == 1 and again.stderr.startswith("data: live from")  # fetched again
    assert again.stdout.split(",")[0] == first.stdout.split(",")[0]


def test_files_written_under_umask_000_are_private(api, net_env, hostile_env, tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        record = tmp_path / "record"
        assert run(["fetch", "--status", "all", "--record", str(record)], net_env).exit_code == 0
        outputs = [tmp_path / f"out.{fmt}" for fmt in ("csv", "json", "xlsx")]
        for out in outputs:
            fmt = out.suffix[1:]
            assert run(["search", "--format", fmt, "--output", str(out)], hostile_env).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(record.stat().st_mode) == 0o700
    for path in [*record.iterdir(), *outputs]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


# --- a data file that is not a file ---------------------------------------------------------------

@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["fifo", "dev_zero"])
def test_a_data_file_replaced_by_a_fifo_or_dev_zero_is_refused(api, net_env, kind: str) -> None:
    assert run(["fetch", "--status", "all"], net_env).exit_code == 0
    assert run(["search", "--format", "csv"], net_env).exit_code == 0  # the built tables are cached too
    cache = Path(net_env["TRIALFINDER_CACHE_DIR"])
    current = cache / "trialfinder.sqlite"
    current.unlink()
    os.mkfifo(current) if kind == "fifo" else current.symlink_to("/dev/zero")
    result = run(["search", "--format", "csv"], net_env)  # was: hung (FIFO) or ate all memory (/dev/zero)
    assert result.exit_code == 0, result.output
    assert "is not a regular file" in result.stderr and "moved aside" in result.stderr
    assert "data: bundled snapshot" in result.stderr  # (the previous set was in that file): the snapshot serves
    for table in cache.glob("tables-*"):  # a cache file in a FIFO's or device's place: rebuilt, not read
        table.unlink()
        os.mkfifo(table) if kind == "fifo" else table.symlink_to("/dev/zero")
    assert run(["search", "--format", "csv"], net_env).exit_code == 0
