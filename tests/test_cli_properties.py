"""Property tests: arbitrary text for every `search` option value and for `show`'s arguments.

Whatever is typed, the CLI exits 0, 1 or 2, never shows a traceback, and a failure is exactly one
line starting with ``trialfinder: error:`` on stderr (besides the data-source line, printed when
the error is found after loading) with nothing on stdout.

Each example must be cheap, so the snapshot's tables are built ONCE for the module (by the real
``load_dataset`` + ``build_tables``) and ``cli_search._load`` is replaced by a function that
reports the source and returns them.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from trialfinder.cli import cli
from trialfinder.cli.common import report_source

RUNNER = CliRunner()
ENV = {"TRIALFINDER_API_URL": None, "TRIALFINDER_SNAPSHOT_DIR": None, "TRIALFINDER_OFFLINE": None}
SETTINGS = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NASTY = [
    "", " ", "\x00", "\n", "\t", "-", "--", "-h", "--help", "--version", "=1+1", "@SUM(A1)", "'", '"', "\\",
    "%s", "{}", "()", "[]", ",", ",,,", "/", "|", ";", "..", "*", "?",
    "1e308", "-1e308", "1e-320", "-0", "0", "-1", "0.0", "nan", "NaN", "-nan", "inf", "-inf", "Infinity",
    "1_000", "0x10", "1,5", "١٢", "58", "58.5", "130", "130.0001", "25000", "25000.01", "1e3", " 42 ",
    "True", "None", "null", "all", "ALL", "All,recruiting", "recruiting,", ",recruiting",
    "NCT", "NCT0", "NCT00000000", "NCT12345678", "nct00000589", "NCT00000589", " NCT00000589\n", "NCT000005890",
    "85719", "85719-1234", "00000", "99999", "Tucson, AZ", "tucson az", "Paris, France", "Springfield",
    "Portland", "Seoul, Korea, Republic of", "a, b, c", "Zürich", "St. Louis", "東京",
    "2025-01-31", "2025-02-30", "2025", "2025-13", "0001-01-01", "9999-12-31", "1677-09-21", "2262-04-12",
    "targeted", "Targeted", "other", "chemo", "rr", "relapsed/refractory", "phase 1/2", "early1", "na", "N/A",
    "female", "M", "FLT3", "mll", "United States", "USA", "AZ", "arizona", "venetoclax",
    "distance", "updated", "phase",
]
WORDS = st.sampled_from(NASTY)
NUMBERS = st.one_of(st.floats().map(str), st.integers().map(str), st.floats().map(repr),
                    st.decimals(allow_nan=True).map(str), st.floats(0, 200).map(lambda f: f"{f:g}"))
LONG = st.text(max_size=12).map(lambda s: s * 400) | st.just("x" * 100_000)
VALUES = st.one_of(st.text(), WORDS, NUMBERS, LONG, st.lists(WORDS, max_size=4).map(" ".join),
                   st.lists(WORDS | st.text(max_size=5), max_size=4).map(",".join))
ASCII_ZIPS = st.from_regex(r"\A[0-9]{5}(-[0-9]{4})?\Z")
DATES = st.dates().map(str) | st.from_regex(r"\A[0-9]{1,5}(-[0-9]{1,3}){0,3}\Z")

#: option -> (extra arguments, extra values to try besides VALUES)
SEARCH_OPTIONS: dict[str, tuple[list[str], st.SearchStrategy[str]]] = {
    "--near": ([], ASCII_ZIPS),
    "--radius": (["--near", "85719"], NUMBERS),
    "--category": ([], WORDS),
    "--setting": ([], WORDS),
    "--phase": ([], st.from_regex(r"\A(phase ?)?[0-9NnAa/, ]{1,6}\Z")),
    "--status": ([], WORDS),
    "--age": ([], NUMBERS),
    "--sex": ([], WORDS),
    "--biomarker": ([], WORDS),
    "--country": ([], WORDS),
    "--state": ([], WORDS),
    "--text": ([], WORDS),
    "--updated-since": ([], DATES),
    "--sort": (["--near", "85719"], WORDS),
}


@pytest.fixture(scope="module", autouse=True)
def cached_tables(tmp_path_factory: pytest.TempPathFactory):
    import trialfinder.cli.search as cli_search
    from trialfinder.find.tables import build_tables
    from trialfinder.source.dataset import load_dataset
    from trialfinder.source.settings import Settings

    tables = build_tables(load_dataset(Settings(cache_dir=tmp_path_factory.mktemp("cache"))))

    def _load(api_url, cache_dir):  # type: ignore[no-untyped-def]
        report_source(tables.meta)
        return tables

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli_search, "_load", _load)
        yield tables


def check(result: Result, args: list[str], click_usage_ok: bool = False) -> None:
    exc = result.exception
    assert exc is None or isinstance(exc, SystemExit), f"{args!r} raised {exc!r}"
    assert result.exit_code in (0, 1, 2), (args, result.exit_code)
    assert "Traceback" not in result.output, args
    if result.exit_code == 0:
        assert result.stderr.startswith("data: ")
        assert not result.stdout.startswith("data:")
        return
    assert result.stdout == "", args
    if click_usage_ok and result.stderr.startswith("Usage: "):
        assert result.exit_code == 2 and "\nError: " in result.stderr
        return
    lines = [line for line in result.stderr.splitlines() if not line.startswith(("data: ", "warning: "))]
    assert len(lines) == 1, (args, result.stderr)
    assert lines[0].startswith("trialfinder: error: "), (args, lines[0])


@pytest.mark.parametrize("option", list(SEARCH_OPTIONS))
@SETTINGS
@given(data=st.data())
def test_search_option_never_crashes(option: str, data: st.DataObject) -> None:
    extra, special = SEARCH_OPTIONS[option]
    value = data.draw(VALUES | special, label=option)
    args = ["search", "--format", "csv", *extra, f"{option}={value}"]
    check(RUNNER.invoke(cli, args, env=ENV), args)


@SETTINGS
@given(value=VALUES | st.from_regex(r"\A\s*[Nn][Cc][Tt]\d{8}\s*\Z"))
@example("NCT00000589")
@example("NCT99999999")
def test_show_argument_never_crashes(value: str) -> None:
    args = ["show", "--", value]
    result = RUNNER.invoke(cli, args, env=ENV)
    check(result, args)
    if result.exit_code == 0:
        assert value.strip().upper() in result.stdout.splitlines()[0]


@SETTINGS
@given(value=VALUES | ASCII_ZIPS)
def test_show_near_never_crashes(value: str) -> None:
    args = ["show", "NCT00462761", f"--near={value}"]
    check(RUNNER.invoke(cli, args, env=ENV), args)


def test_module_fixture_is_the_snapshot(cached_tables) -> None:
    assert cached_tables.meta.source == "snapshot" and len(cached_tables.studies) > 0
