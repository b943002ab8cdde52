"""The `trialfinder` command line through click's CliRunner: every command, every filter option.

Data is the bundled snapshot (TRIALFINDER_CACHE_DIR points at an empty temporary folder). Building
the tables from it takes seconds, so most filter tests use ``fast``: ``cli_search._load`` replaced by
a function that reports the source and returns tables built once per session by the real
``load_dataset`` + ``build_tables``. Tests of the loading path itself (data line on stderr, fetch
then search, a damaged/stopped API) run the real ``_load``. ``fetch`` runs against the loopback
``api`` fixture, never the internet.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from trialfinder import __version__
from trialfinder.cli import cli
from trialfinder.cli.common import report_source
from trialfinder.find import export
from trialfinder.labels import PHASE_ORDER

UNSET = ("TRIALFINDER_API_URL", "TRIALFINDER_SNAPSHOT_DIR", "TRIALFINDER_OFFLINE", "TRIALFINDER_TIMEOUT",
         "TRIALFINDER_BACKOFF", "TRIALFINDER_MAX_REQUESTS_PER_MINUTE")
TUCSON = (32.2319, -110.9501)  # ZIP 85719, roughly


# --- helpers ----------------------------------------------------------------------------------

def base_env(cache_dir: Path, **extra: str) -> dict[str, str | None]:
    env: dict[str, str | None] = {name: None for name in UNSET}
    env["TRIALFINDER_CACHE_DIR"] = str(cache_dir)
    env.update(extra)
    return env


def invoke(args: list[str], env: dict[str, str | None]) -> Result:
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{args}: {result.exception!r}\n{result.stderr}"
    )
    assert "Traceback" not in result.output
    return result


def ok(args: list[str], env: dict[str, str | None]) -> Result:
    result = invoke(args, env)
    assert result.exit_code == 0, f"{args}: exit {result.exit_code}\n{result.stderr}"
    return result


def error_lines(stderr: str) -> list[str]:
    """stderr without the data-source report (printed before a late error)."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(("data:", "warning:"))]


def assert_one_line_error(result: Result, code: int, *needles: str) -> str:
    assert result.exit_code == code, f"exit {result.exit_code}, wanted {code}\n{result.stderr}"
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("trialfinder: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert result.stdout == ""
    return lines[0]


def rows_of(result: Result) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(result.stdout)))


def header_of(result: Result) -> list[str]:
    return next(csv.reader(io.StringIO(result.stdout)))


def dist(value: str) -> float:
    return float(value) if value != "" else np.nan


def stderr_count(result: Result) -> int:
    match = re.search(r"^(\d+) trials · ", result.stderr, re.M)
    assert match, result.stderr
    return int(match.group(1))


# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def tables(tmp_path_factory: pytest.TempPathFactory):
    """The bundled snapshot's tables, built once by the production code path (do not mutate)."""
    from trialfinder.find.tables import build_tables
    from trialfinder.source.dataset import load_dataset
    from trialfinder.source.settings import Settings

    dataset = load_dataset(Settings(cache_dir=tmp_path_factory.mktemp("snapshot-cache")))
    assert dataset.meta.source == "snapshot"
    return build_tables(dataset)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str | None]:
    return base_env(tmp_path / "cache")


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch, tables, env):
    """search/show/categories read the session's snapshot tables instead of rebuilding them."""
    import trialfinder.cli.search as cli_search

    def _load(api_url, cache_dir):  # type: ignore[no-untyped-def]
        report_source(tables.meta)
        return tables

    monkeypatch.setattr(cli_search, "_load", _load)
    return env


#: what lifts the search defaults (enrolling statuses, relapsed/refractory setting), so that a test
#: sees one filter alone; the defaults have tests of their own (test_search_defaults_*)
EVERY_STUDY = ("--status", "all", "--setting", "all")


def lifted(args: tuple[str, ...] | list[str]) -> list[str]:
    """``args`` with the defaults lifted, except a default the args set themselves."""
    extra = [] if "--status" in args else ["--status", "all"]
    return [*args, *extra, *([] if "--setting" in args else ["--setting", "all"])]


def search_csv(env: dict[str, str | None], *args: str) -> tuple[Result, list[dict[str, str]]]:
    result = ok(["search", "--format", "csv", *lifted(args)], env)
    rows = rows_of(result)
    assert stderr_count(result) == len(rows)
    return result, rows


def ids(rows: list[dict[str, str]]) -> set[str]:
    return {r["nct_id"] for r in rows}


# --- help, version, usage ------------------------------------------------------------------------

@pytest.mark.parametrize("command", [[], ["fetch"], ["search"], ["show"], ["categories"]])
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_on_every_command(command: list[str], flag: str, env) -> None:
    result = ok([*command, flag], env)
    assert result.stdout.startswith("Usage: ")
    assert "--help" in result.stdout
    if command:
        assert "--cache-dir" in result.stdout and "--api-url" in result.stdout


def test_search_help_lists_every_filter(env) -> None:
    text = ok(["search", "--help"], env).stdout
    for option in ("--near", "--radius", "--km", "--category", "--setting", "--phase", "--status", "--age",
                   "--sex", "--biomarker", "--country", "--state", "--text", "--updated-since", "--sort",
                   "--format", "--output"):
        assert option in text


def test_fetch_help_lists_its_options(env) -> None:
    text = ok(["fetch", "--help"], env).stdout
    for option in ("--refresh", "--status", "--record", "--api-url", "--cache-dir", "TRIALFINDER_API_URL",
                   "TRIALFINDER_CACHE_DIR"):
        assert option in text


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag: str, env) -> None:
    result = ok([flag], env)
    assert result.stdout.strip() == f"trialfinder, version {__version__}"


def test_unknown_command_and_option_are_usage_errors(env) -> None:
    for args in (["frobnicate"], ["search", "--no-such-option"], ["search", "--format", "pdf"], ["show"]):
        result = invoke(args, env)
        assert result.exit_code == 2, args
        assert "rror" in result.stderr and result.stdout == ""


# --- search: output formats and the data-source report --------------------------------------------

def test_search_default_table_reports_source_on_stderr_only(env, tables) -> None:
    """The real loading path: bundled snapshot, data line on stderr, a table on stdout."""
    result = ok(["search"], env)
    assert "data: bundled snapshot · data as of 2025-03" in result.stderr
    assert "data:" not in result.stdout
    default = tables.studies["status"].isin(["RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION"]) & \
        tables.studies["disease_setting"].map(lambda s: not s or "relapsed_refractory" in s)
    assert (f"{int(default.sum())} trials · recruiting or not yet recruiting or enrolling by invitation · "
            "relapsed/refractory (or not stated)") in result.stderr
    assert "NCT id" in result.stdout and "Categories" in result.stdout
    assert "NCT0" in result.stdout


def test_search_csv_lists_every_trial_of_the_snapshot(fast, tables) -> None:
    result, rows = search_csv(fast)
    assert header_of(result) == export.COLUMNS + export.ELIGIBILITY_COLUMNS
    assert ids(rows) == set(tables.studies.index)
    assert len(rows) == len(tables.studies) == 377
    assert "data:" in result.stderr and "data:" not in result.stdout
    assert {r["data_timestamp"] for r in rows} == {"2025-03"}
    assert all(r["url"] == f"https://clinicaltrials.gov/study/{r['nct_id']}" for r in rows)
    # default order: last update, newest first
    updates = [r["last_update"] for r in rows if r["last_update"]]
    assert updates == sorted(updates, reverse=True)


def test_search_json_parses_and_counts(fast) -> None:
    result = ok(["search", "--format", "json", "--category", "targeted", *EVERY_STUDY], fast)
    payload = json.loads(result.stdout)
    assert payload["count"] == len(payload["trials"]) == stderr_count(result) > 0
    assert payload["search"]["data_timestamp"] == "2025-03"
    assert "bundled snapshot" in payload["search"]["data_source"]
    assert payload["search"]["filters"] == "targeted therapy"
    assert list(payload["trials"][0]) == export.COLUMNS + ["eligibility"]
    assert all("targeted" in t["categories"].split(";") for t in payload["trials"])
    assert "data:" not in result.stdout


def test_search_csv_to_output_file(fast, tmp_path: Path) -> None:
    out = tmp_path / "trials.csv"
    piped = ok(["search", "--format", "csv", "--status", "recruiting"], fast).stdout
    result = ok(["search", "--format", "csv", "--status", "recruiting", "--output", str(out)], fast)
    assert result.stdout == ""
    assert f"wrote {out}" in result.stderr
    assert out.read_text(encoding="utf-8") == piped


def test_search_json_to_output_file(fast, tmp_path: Path) -> None:
    out = tmp_path / "trials.json"
    result = ok(["search", "--format", "json", "-o", str(out), "--age", "58"], fast)
    assert result.stdout == ""
    assert json.loads(out.read_text(encoding="utf-8"))["count"] == stderr_count(result)


def test_search_xlsx_has_trials_and_search_sheets(fast, tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    out = tmp_path / "trials.xlsx"
    result = ok(["search", "--format", "xlsx", "--output", str(out), "--category", "targeted",
                 "--near", "85719", "--radius", "500"], fast)
    assert result.stdout == ""
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["Trials", "Search"]
    trials = list(book["Trials"].iter_rows(values_only=True))
    assert list(trials[0]) == (export.COLUMNS + export.NEAR_COLUMNS + ["distance_mi"] + export.NEAR_EXTRA_COLUMNS
                               + export.ELIGIBILITY_COLUMNS)
    assert len(trials) - 1 == stderr_count(result) > 0
    search = {row[0]: row[1] for row in book["Search"].iter_rows(min_row=2, values_only=True)}
    assert "targeted therapy" in search["filters"] and "within 500 mi of Tucson, AZ 85719" in search["filters"]
    assert search["data timestamp"] == "2025-03"
    assert "bundled snapshot" in search["data source"]


def test_search_xlsx_needs_output(fast) -> None:
    assert_one_line_error(invoke(["search", "--format", "xlsx"], fast), 2, "--output")


# --- search: each filter --------------------------------------------------------------------------

def test_category_targeted(fast, tables) -> None:
    _, rows = search_csv(fast, "--category", "targeted")
    want = {n for n, cats in tables.studies["categories"].items() if "targeted" in cats}
    assert rows and ids(rows) == want
    assert all("targeted" in r["categories"].split(";") for r in rows)


def test_category_is_repeatable_any_of(fast, tables) -> None:
    _, targeted = search_csv(fast, "--category", "targeted")
    _, transplant = search_csv(fast, "--category", "transplant")
    _, both = search_csv(fast, "--category", "targeted", "--category", "transplant")
    assert ids(both) == ids(targeted) | ids(transplant)
    assert all({"targeted", "transplant"} & set(r["categories"].split(";")) for r in both)


@pytest.mark.parametrize("alias,key", [("chemo", "chemotherapy"), ("Immunotherapy", "immunotherapy"),
                                       ("supportive care", "supportive"), ("stem-cell-transplant", "transplant")])
def test_category_aliases(fast, alias: str, key: str) -> None:
    _, rows = search_csv(fast, "--category", alias)
    _, canonical = search_csv(fast, "--category", key)
    assert rows and ids(rows) == ids(canonical)


def test_category_other_means_no_category(fast, tables) -> None:
    _, rows = search_csv(fast, "--category", "other")
    assert ids(rows) == {n for n, cats in tables.studies["categories"].items() if not cats or "other" in cats}
    assert all(r["categories"] == "other" for r in rows)


@pytest.mark.parametrize("value,key", [("relapsed_refractory", "relapsed_refractory"), ("rr", "relapsed_refractory"),
                                       ("newly diagnosed", "newly_diagnosed"), ("post-transplant", "post_transplant")])
def test_setting(fast, tables, value: str, key: str) -> None:
    _, rows = search_csv(fast, "--setting", value)
    # trials whose setting is not stated are kept (issue 19): the filter never hides them
    assert ids(rows) == {n for n, s in tables.studies["disease_setting"].items() if key in s or not s}
    assert rows and all(key in r["setting"].split(";") or r["setting"] == "" for r in rows)
    assert any(r["setting"] == "" for r in rows) and any(r["setting"] for r in rows)


@pytest.mark.parametrize("value,wanted", [("2", {"PHASE2"}), ("phase 3", {"PHASE3"}), ("1", {"PHASE1"}),
                                          ("early1", {"EARLY_PHASE1"}), ("na", {"NA"})])
def test_phase(fast, tables, value: str, wanted: set[str]) -> None:
    _, rows = search_csv(fast, "--phase", value)
    assert ids(rows) == {n for n, p in tables.studies["phases"].items() if wanted & set(p)}
    assert rows and all(wanted & set(r["phases"].split(";")) for r in rows)


@pytest.mark.parametrize("value", ["1/2", "phase 1/2", "PHASE1_PHASE2", "1-2"])
def test_phase_1_2_is_the_combined_phase_and_phase_1_includes_it(fast, tables, value: str) -> None:
    _, combined = search_csv(fast, "--phase", value)
    assert ids(combined) == {n for n, p in tables.studies["phases"].items() if set(p) == {"PHASE1", "PHASE2"}}
    assert combined and {r["phases"] for r in combined} == {"PHASE1;PHASE2"}
    _, one = search_csv(fast, "--phase", "1")
    _, two = search_csv(fast, "--phase", "2")
    assert ids(combined) < ids(one) and ids(combined) < ids(two)
    assert any(r["phases"] == "PHASE1" for r in one)


def test_phase_is_repeatable(fast) -> None:
    _, one = search_csv(fast, "--phase", "1")
    _, three = search_csv(fast, "--phase", "3")
    _, both = search_csv(fast, "--phase", "1", "--phase", "3")
    assert ids(both) == ids(one) | ids(three)


def test_status(fast, tables) -> None:
    _, rows = search_csv(fast, "--status", "recruiting")
    assert len(rows) == int((tables.studies["status"] == "RECRUITING").sum()) > 0
    assert {r["status"] for r in rows} == {"RECRUITING"}


def test_status_repeatable_comma_and_spelling(fast, tables) -> None:
    _, rows = search_csv(fast, "--status", "Recruiting", "--status", "active not recruiting,COMPLETED")
    want = {"RECRUITING", "ACTIVE_NOT_RECRUITING", "COMPLETED"}
    assert {r["status"] for r in rows} == want
    assert len(rows) == int(tables.studies["status"].isin(want).sum())


def test_status_all_is_no_restriction(fast, tables) -> None:
    _, rows = search_csv(fast, "--status", "all")
    assert len(rows) == len(tables.studies)
    _, rows = search_csv(fast, "--status", "recruiting", "--status", "all")
    assert len(rows) == len(tables.studies)


def test_age_58(fast, tables) -> None:
    _, rows = search_csv(fast, "--age", "58")
    for r in rows:
        assert r["min_age_years"] == "" or float(r["min_age_years"]) <= 58
        assert r["max_age_years"] == "" or float(r["max_age_years"]) >= 58
    low, high = tables.studies["min_age_years"], tables.studies["max_age_years"]
    assert len(rows) == int(((low.isna() | (low <= 58)) & (high.isna() | (high >= 58))).sum())
    assert 0 < len(rows) < len(tables.studies)


def test_age_child_excludes_adult_only_trials(fast, tables) -> None:
    _, rows = search_csv(fast, "--age", "5")
    assert rows
    assert all(r["min_age_years"] == "" or float(r["min_age_years"]) <= 5 for r in rows)
    adult_only = set(tables.studies.index[tables.studies["min_age_years"] >= 18])
    assert adult_only and not (ids(rows) & adult_only)


def test_sex(fast, tables) -> None:
    for value, allowed in (("female", {"ALL", "FEMALE"}), ("M", {"ALL", "MALE"})):
        _, rows = search_csv(fast, "--sex", value)
        assert {r["sex"] for r in rows} <= allowed
        assert len(rows) == int(tables.studies["sex"].isin(allowed).sum())


def test_biomarker(fast, tables) -> None:
    _, rows = search_csv(fast, "--biomarker", "flt3")
    assert rows and all("FLT3" in r["biomarkers"].split(";") for r in rows)
    assert ids(rows) == {n for n, b in tables.studies["biomarkers"].items() if "FLT3" in b}


def test_biomarker_mll_means_kmt2a(fast, tables) -> None:
    from trialfinder.classify.biomarkers import BIOMARKER_KEYS

    kmt2a = next(k for k in BIOMARKER_KEYS if k.upper().startswith("KMT2A"))
    _, rows = search_csv(fast, "--biomarker", "MLL")
    _, direct = search_csv(fast, "--biomarker", kmt2a)
    assert ids(rows) == ids(direct)
    assert all(kmt2a in r["biomarkers"].split(";") for r in rows)


def _with_site(tables, column: str, value: str) -> set[str]:
    sites = tables.sites
    return set(sites.loc[sites[column] == value, "nct_id"])


def test_country(fast, tables) -> None:
    _, rows = search_csv(fast, "--country", "France")
    assert rows and ids(rows) == _with_site(tables, "country", "France")
    _, usa = search_csv(fast, "--country", "USA")
    assert ids(usa) == _with_site(tables, "country", "United States")
    _, either = search_csv(fast, "--country", "France", "--country", "USA")
    assert ids(either) == ids(rows) | ids(usa)


def test_state(fast, tables) -> None:
    _, rows = search_csv(fast, "--state", "AZ")
    assert rows and ids(rows) == _with_site(tables, "state", "Arizona")
    _, named = search_csv(fast, "--state", "arizona")
    assert ids(named) == ids(rows)


def test_text(fast, tables) -> None:
    _, rows = search_csv(fast, "--text", "Venetoclax")
    s = tables.studies
    hay = (s["title"] + " " + s["interventions"] + " " + s["sponsor"] + " " + s["nct_id"] + " "
           + s["category_evidence"] + " " + s["official_title"]).str.lower()
    assert rows and ids(rows) == set(s.index[hay.str.contains("venetoclax", regex=False)])


def test_text_finds_drug_classes_and_a_comma_means_or(fast, tables) -> None:
    _, menin = search_csv(fast, "--text", "menin inhibitor")
    assert menin and all("menin" in r["category_evidence"].lower() for r in menin)
    _, flt3 = search_csv(fast, "--text", "FLT3")
    _, both = search_csv(fast, "--text", "menin inhibitor, FLT3")
    assert ids(both) == ids(menin) | ids(flt3) and len(ids(both)) > max(len(menin), len(flt3))


def test_text_finds_an_nct_id(fast, tables) -> None:
    nct = tables.studies.index[0]
    _, rows = search_csv(fast, "--text", nct.lower())
    assert ids(rows) == {nct}


def test_updated_since(fast, tables) -> None:
    _, rows = search_csv(fast, "--updated-since", "2020-01-01")
    assert rows and all(r["last_update"] >= "2020-01-01" for r in rows)
    dates = pd.to_datetime(tables.studies["last_update"], errors="coerce", format="mixed")
    assert len(rows) == int((dates >= "2020-01-01").sum()) < len(tables.studies)
    # a year or a month is a date too
    _, year = search_csv(fast, "--updated-since", "2020")
    _, month = search_csv(fast, "--updated-since", "2020-01")
    assert ids(year) == ids(month) == ids(rows)


def test_combined_filters_are_anded(fast) -> None:
    _, targeted = search_csv(fast, "--category", "targeted")
    _, recruiting = search_csv(fast, "--status", "recruiting")
    result, both = search_csv(fast, "--category", "targeted", "--status", "recruiting")
    assert ids(both) == ids(targeted) & ids(recruiting)
    assert "recruiting · targeted therapy" in result.stderr


# --- search --near ------------------------------------------------------------------------------------

def test_near_with_radius_in_miles(fast, tables) -> None:
    result, rows = search_csv(fast, "--near", "85719", "--radius", "250")
    assert header_of(result) == (export.COLUMNS + ["nearest_site", "nearest_site_status", "distance_mi",
                                                  "nearest_site_contact"] + export.ELIGIBILITY_COLUMNS)
    assert "within 250 mi of Tucson, AZ 85719" in result.stderr
    distances = [dist(r["distance_mi"]) for r in rows]
    located = [d for d in distances if d == d]
    assert located and all(d <= 250 for d in located)
    assert located == sorted(located)
    # trials without a locatable site come last
    assert all(d != d for d in distances[len(located):])
    for r in rows:
        if r["distance_mi"]:
            assert r["nearest_site"] and r["nearest_site_status"] is not None
    # the distance really is the one to a site of that trial
    sites = tables.sites
    for r in rows[:5]:
        own = sites[sites["nct_id"] == r["nct_id"]]
        from trialfinder.find.places import haversine

        d = haversine(*TUCSON, own["latitude"].to_numpy(), own["longitude"].to_numpy())
        assert np.nanmin(d) <= dist(r["distance_mi"]) + 3


def test_near_without_radius_keeps_everything_sorted_by_distance(fast, tables) -> None:
    result, rows = search_csv(fast, "--near", "Tucson, AZ")
    assert len(rows) == len(tables.studies)
    distances = [dist(r["distance_mi"]) for r in rows]
    located = [d for d in distances if d == d]
    assert located == sorted(located) and all(d != d for d in distances[len(located):])
    if len(located) < len(rows):
        assert "have no site we could locate" in result.stderr


def test_km(fast) -> None:
    result, km_rows = search_csv(fast, "--near", "85719", "--radius", "400", "--km")
    assert header_of(result)[-2 - len(export.ELIGIBILITY_COLUMNS):][:2] == ["distance_km", "nearest_site_contact"]
    assert "within 400 km" in result.stderr
    located = [dist(r["distance_km"]) for r in km_rows if r["distance_km"]]
    assert located and max(located) <= 400 and located == sorted(located)
    _, mi_rows = search_csv(fast, "--near", "85719")
    miles = {r["nct_id"]: dist(r["distance_mi"]) for r in mi_rows}
    for r in km_rows:
        if r["distance_km"]:
            assert abs(dist(r["distance_km"]) - miles[r["nct_id"]] * 1.609344) < 0.25


def test_near_a_city_abroad_in_a_table(fast) -> None:
    result = ok(["search", "--near", "Paris, France", "--radius", "100", "--km", "--country", "France"], fast)
    assert "Nearest site" in result.stdout and "km" in result.stdout
    assert "within 100 km of Paris, France" in result.stderr


def test_sort_updated_and_phase(fast) -> None:
    _, rows = search_csv(fast, "--sort", "updated", "--near", "85719")
    updates = [r["last_update"] for r in rows if r["last_update"]]
    assert updates == sorted(updates, reverse=True)
    _, rows = search_csv(fast, "--sort", "phase")
    ranks = [max((PHASE_ORDER.get(p, -1) for p in r["phases"].split(";") if p), default=-1) for r in rows]
    assert ranks == sorted(ranks, reverse=True)


def test_sort_distance_explicit(fast) -> None:
    _, rows = search_csv(fast, "--sort", "distance", "--near", "85719", "--radius", "1000")
    located = [dist(r["distance_mi"]) for r in rows if r["distance_mi"]]
    assert located == sorted(located)


# --- show -------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def a_trial(tables) -> str:
    """A trial with categories, several sites (some in the US) and eligibility text."""
    s = tables.studies
    us = set(tables.sites.loc[tables.sites["country"] == "United States", "nct_id"])
    pick = s[(s["sites_count"] >= 3) & s["categories"].map(bool) & (s["eligibility_text"] != "") & s.index.isin(us)]
    return str(pick.index[0])


def test_show_prints_the_whole_trial(fast, tables, a_trial: str) -> None:
    from trialfinder.labels import CATEGORY_LABELS

    result = ok(["show", a_trial], fast)
    row = tables.studies.loc[a_trial]
    out = result.stdout
    assert out.startswith(f"{a_trial}  {row['title']}")
    assert f"https://clinicaltrials.gov/study/{a_trial}" in out
    assert "Status: " in out and "Last update: " in out
    assert "Categories:" in out
    for key in row["categories"]:
        evidence = row["evidence"].get(key, "")
        assert f"  - {CATEGORY_LABELS[key]}: {evidence}" in out
    assert "Setting: " in out and "Biomarkers: " in out and "Eligibility criteria:" in out
    assert f"Sites ({row['sites_count']}):" in out
    assert out.count("\n  - ") >= row["sites_count"]
    assert "not medical advice" in out
    assert "data: bundled snapshot" in result.stderr and "data:" not in out


def test_show_accepts_lower_case_and_spaces(fast, a_trial: str) -> None:
    assert ok(["show", f"  {a_trial.lower()} "], fast).stdout.startswith(a_trial)


def _site_distances(out: str, unit: str) -> list[float]:
    return [float(m.replace(",", "")) for m in re.findall(rf"≈([\d,]+) {unit}$", out, re.M)]


def test_show_near_sorts_sites_nearest_first(fast, a_trial: str) -> None:
    out = ok(["show", a_trial, "--near", "85719"], fast).stdout
    assert "nearest first from Tucson, AZ 85719" in out
    miles = _site_distances(out, "mi")
    assert len(miles) >= 2 and miles == sorted(miles)
    km = _site_distances(ok(["show", a_trial, "--near", "85719", "--km"], fast).stdout, "km")
    assert len(km) == len(miles) and abs(km[0] - miles[0] * 1.609344) <= 2


def test_show_real_loading_path(env, a_trial: str) -> None:
    result = ok(["show", a_trial], env)
    assert result.stdout.startswith(a_trial)
    assert "data: bundled snapshot · data as of 2025-03" in result.stderr


# --- categories --------------------------------------------------------------------------------------

def test_categories_lists_descriptions_and_counts(fast, tables) -> None:
    from trialfinder.classify.categories import CATEGORY_KEYS
    from trialfinder.labels import CATEGORY_DESCRIPTIONS, CATEGORY_LABELS

    result = ok(["categories"], fast)
    lines = result.stdout.splitlines()
    assert len(lines) == len(CATEGORY_KEYS) + 2
    for key, line in zip((*CATEGORY_KEYS, "other"), lines):
        count = int(tables.studies["categories"].map(lambda c: key in c).sum())
        assert line.split()[:2] == [key, str(count)]
        assert CATEGORY_LABELS[key] in line and CATEGORY_DESCRIPTIONS[key] in line
    assert lines[-1].split()[:2] == ["(all)", str(len(tables.studies))]
    assert "data: bundled snapshot" in result.stderr and "data:" not in result.stdout


def test_categories_counts_match_search(fast) -> None:
    lines = ok(["categories"], fast).stdout.splitlines()
    counts = {line.split()[0]: int(line.split()[1]) for line in lines}
    for key in ("targeted", "transplant", "other"):
        _, rows = search_csv(fast, "--category", key)
        assert counts[key] == len(rows)


def test_categories_real_loading_path(env) -> None:
    result = ok(["categories"], env)
    assert "targeted" in result.stdout
    assert "data: bundled snapshot · data as of 2025-03" in result.stderr


# --- input errors: one line, the right exit code, never a traceback ---------------------------------------

ERRORS = [
    (["search", "--category", "nosuch"], 2, ["unknown category 'nosuch'", "targeted"]),
    (["search", "--near", "Xyzzyville"], 2, ["Xyzzyville", "ZIP"]),
    (["search", "--near", "00000"], 2, ["00000", "ZIP"]),
    (["search", "--near", "85719", "--radius", "-5"], 2, ["-5", "positive"]),
    (["search", "--near", "85719", "--radius", "far"], 2, ["'far'", "number"]),
    (["search", "--radius", "10"], 2, ["--near"]),
    (["search", "--sort", "distance"], 2, ["--near"]),
    (["search", "--updated-since", "yesterday"], 2, ["'yesterday' is not a date", "YYYY-MM-DD"]),
    (["search", "--updated-since", "2025-02-30"], 2, ["not a date", "YYYY-MM-DD"]),
    (["search", "--age", "old"], 2, ["'old'", "number"]),
    (["search", "--age", "-1"], 2, ["out of range"]),
    (["search", "--status", "sleeping"], 2, ["unknown status 'sleeping'", "recruiting"]),
    (["search", "--phase", "7"], 2, ["unknown phase '7'", "early1"]),
    (["search", "--sex", "robot"], 2, ["unknown sex 'robot'", "female"]),
    (["search", "--setting", "elsewhere"], 2, ["unknown disease setting", "relapsed_refractory"]),
    (["search", "--biomarker", "XYZ1"], 2, ["unknown biomarker 'XYZ1'", "FLT3"]),
    (["search", "--text", "x" * 300], 2, ["longer than 200"]),
    (["search", "--state", " "], 2, ["state"]),
    (["search", "--country", "y" * 100], 2, ["country"]),
    (["show", "NCT123"], 2, ["'NCT123' is not an NCT number", "NCT01234567"]),
    (["show", "12345678"], 2, ["not an NCT number"]),
    (["show", "NCT99999999"], 1, ["NCT99999999 is not in the current data set"]),
    (["show", "NCT00000589", "--near", "Xyzzyville"], 2, ["Xyzzyville"]),
    (["fetch", "--status", "sleeping"], 2, ["unknown status 'sleeping'"]),
]


@pytest.mark.parametrize("args,code,needles", ERRORS, ids=[" ".join(a)[:40] for a, _, _ in ERRORS])
def test_input_errors_are_one_line(fast, args: list[str], code: int, needles: list[str]) -> None:
    assert_one_line_error(invoke(args, fast), code, *needles)


def test_bad_environment_number_is_a_usage_error(tmp_path: Path) -> None:
    env = base_env(tmp_path / "cache", TRIALFINDER_TIMEOUT="soon")
    assert_one_line_error(invoke(["categories"], env), 2, "TRIALFINDER_TIMEOUT")


def test_missing_snapshot_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    env = base_env(tmp_path / "cache", TRIALFINDER_SNAPSHOT_DIR=str(tmp_path / "empty"))
    assert_one_line_error(invoke(["search"], env), 1, "snapshot")


def test_unknown_sort_is_a_one_line_usage_error(fast) -> None:
    result = invoke(["search", "--sort", "alphabetical"], fast)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == "trialfinder: error: unknown --sort 'alphabetical'; use one of: distance, updated, phase\n"


# --- fetch against the loopback API ---------------------------------------------------------------------

SUMMARY_RE = re.compile(
    r"^(\d+) studies, (\d+) pages?, (\d+) requests? sent, (live|from cache[^,]*), data timestamp (\S+)$"
)


@pytest.fixture
def api_env(api, tmp_path: Path) -> dict[str, str | None]:
    return base_env(tmp_path / "cache", TRIALFINDER_API_URL=api.url, TRIALFINDER_BACKOFF="0.01",
                    TRIALFINDER_TIMEOUT="5", TRIALFINDER_MAX_REQUESTS_PER_MINUTE="100000")


def summary(result: Result) -> re.Match[str]:
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    match = SUMMARY_RE.match(lines[0])
    assert match, lines[0]
    return match


def recorded_ids(folder: Path) -> set[str]:
    out: set[str] = set()
    for page in sorted(folder.glob("page-*.json")):
        for study in json.loads(page.read_text(encoding="utf-8"))["studies"]:
            out.add(study["protocolSection"]["identificationModule"]["nctId"])
    return out


def test_fetch_then_search_lists_every_fetched_study(api, api_env, tmp_path: Path) -> None:
    record = tmp_path / "record"
    result = ok(["fetch", "--status", "all", "--record", str(record)], api_env)
    m = summary(result)
    count = int(m.group(1))
    assert m.group(4) == "live" and m.group(5) == api.data_timestamp
    assert int(m.group(2)) == len(list(record.glob("page-*.json"))) >= 1
    assert int(m.group(3)) >= 2  # /version and at least one page
    assert (record / "version.json").exists()
    fetched = recorded_ids(record)
    assert len(fetched) == count > 0
    # every study the API sent is searchable, from the local data set
    listed = ok(["search", "--format", "csv", *EVERY_STUDY], api_env)
    assert ids(rows_of(listed)) == fetched
    assert f"data: from a stored copy · data as of {api.data_timestamp}" in listed.stderr
    assert "data:" not in listed.stdout
    # the server was asked for every status
    assert all("filter.overallStatus" not in r.params for r in api.studies_requests())


def test_second_fetch_is_served_from_the_http_cache(api, api_env) -> None:
    first = summary(ok(["fetch", "--status", "all"], api_env))
    api.reset_log()
    second = summary(ok(["fetch", "--status", "all"], api_env))
    assert api.studies_requests() == []
    assert second.group(1) == first.group(1)
    assert second.group(3) == "0" and second.group(4).startswith("from cache")


def test_fetch_refresh_with_the_api_down_keeps_the_data_set(api, api_env) -> None:
    summary(ok(["fetch", "--status", "all"], api_env))
    before = ids(rows_of(ok(["search", "--format", "csv", *EVERY_STUDY], api_env)))
    api.stop()
    result = invoke(["fetch", "--refresh", "--status", "all"], api_env)
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("trialfinder: error: ") and "reach" in result.stderr
    assert result.stdout == ""
    after = ok(["search", "--format", "csv", *EVERY_STUDY], api_env)
    assert ids(rows_of(after)) == before and before
    assert "from a stored copy" in after.stderr


def test_fetch_default_status_asks_for_actionable_statuses(api, api_env) -> None:
    m = summary(ok(["fetch"], api_env))
    requests = api.studies_requests()
    assert requests and all(
        set(r.params["filter.overallStatus"].split(",")) ==
        {"RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION", "ACTIVE_NOT_RECRUITING"}
        for r in requests
    )
    rows = rows_of(ok(["search", "--format", "csv", *EVERY_STUDY], api_env))
    assert len(rows) == int(m.group(1))
    assert {r["status"] for r in rows} <= {"RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION",
                                           "ACTIVE_NOT_RECRUITING"}


def test_fetch_status_option(api, api_env) -> None:
    m = summary(ok(["fetch", "--status", "recruiting"], api_env))
    assert all(r.params["filter.overallStatus"] == "RECRUITING" for r in api.studies_requests())
    rows = rows_of(ok(["search", "--format", "csv", *EVERY_STUDY], api_env))
    assert len(rows) == int(m.group(1)) > 0 and {r["status"] for r in rows} == {"RECRUITING"}


def test_fetch_api_url_and_cache_dir_options(api, tmp_path: Path) -> None:
    """The options do what the environment variables do."""
    env = base_env(tmp_path / "unused", TRIALFINDER_BACKOFF="0.01", TRIALFINDER_TIMEOUT="5")
    cache = tmp_path / "by-option"
    m = summary(ok(["fetch", "--status", "all", "--api-url", api.url, "--cache-dir", str(cache)], env))
    assert m.group(4) == "live" and api.studies_requests()
    assert (cache / "trialfinder.sqlite").exists()
    assert not (tmp_path / "unused").exists()
    listed = ok(["search", "--format", "csv", "--cache-dir", str(cache), *EVERY_STUDY], env)
    assert len(rows_of(listed)) == int(m.group(1))
    assert "from a stored copy" in listed.stderr


def test_fetch_refresh_asks_the_api_again(api, api_env) -> None:
    summary(ok(["fetch", "--status", "all"], api_env))
    api.reset_log()
    m = summary(ok(["fetch", "--status", "all", "--refresh"], api_env))
    assert api.studies_requests() and m.group(4) == "live"


def test_fetch_unreachable_api_first_time_is_one_line(tmp_path: Path) -> None:
    from conftest import closed_port

    env = base_env(tmp_path / "cache", TRIALFINDER_API_URL=f"http://127.0.0.1:{closed_port()}/api/v2",
                   TRIALFINDER_BACKOFF="0.01", TRIALFINDER_TIMEOUT="2")
    result = invoke(["fetch"], env)
    assert result.exit_code == 1 and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("trialfinder: error: ")
    # nothing was stored: search still works from the bundled snapshot
    assert "bundled snapshot" in ok(["categories"], env).stderr


def test_fetch_api_error_status_is_one_line(api, api_env) -> None:
    api.inject("status", path="/studies", status=400, body="bad parameter", times=10)
    result = invoke(["fetch", "--status", "all"], api_env)
    assert result.exit_code == 1 and len(result.stderr.splitlines()) == 1
    assert "HTTP 400" in result.stderr


def test_fetch_summary_counts_the_requests_sent(api, api_env) -> None:
    summary(ok(["fetch", "--status", "all"], api_env))
    api.reset_log()
    m = summary(ok(["fetch", "--status", "all", "--refresh"], api_env))
    assert int(m.group(3)) == len(api.requests) == 2  # /version and one page


def test_fetch_summary_counts_requests_of_a_new_query(api, api_env) -> None:
    summary(ok(["fetch"], api_env))  # caches /version
    api.reset_log()
    m = summary(ok(["fetch", "--status", "all"], api_env))  # another query: fresh page, fresh /version
    assert int(m.group(3)) == len(api.requests) == 2


# --- files and odd input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_unwritable_output_is_one_line_error(fast, tmp_path: Path, fmt: str) -> None:
    target = tmp_path / "no" / "such" / f"dir.{fmt}"
    result = invoke(["search", "--format", fmt, "--output", str(target), "--status", "recruiting"], fast)
    assert result.exit_code == 1 and result.stdout == ""
    last = result.stderr.splitlines()[-1]
    assert last.startswith("trialfinder: error: ") and str(target) in last
    assert not any(line.startswith("trialfinder:") for line in result.stderr.splitlines()[:-1])


def test_output_that_is_a_folder_is_a_usage_error(fast, tmp_path: Path) -> None:
    result = invoke(["search", "--format", "csv", "--output", str(tmp_path)], fast)
    assert result.exit_code == 2 and "is a directory" in result.stderr


def test_unusable_cache_dir_for_fetch_is_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = base_env(blocker / "cache", TRIALFINDER_API_URL="http://127.0.0.1:9/api/v2")
    result = invoke(["fetch"], env)
    assert result.exit_code == 1 and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("trialfinder: error: ")


@pytest.mark.parametrize("place", ["１２３４５", "٨٥٧١٩"])
def test_unicode_digit_zip_is_an_input_error(fast, place: str) -> None:
    assert_one_line_error(invoke(["search", "--near", place], fast), 2, "ZIP")
