"""Issue 19: each user's job, end to end — one set of defaults, radius means radius, phase semantics.

Everything runs on the bundled snapshot (real records), offline: the CLI through click's CliRunner,
the page through Streamlit's AppTest, the filters directly on the tables.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

from trialfinder.cli import cli
from trialfinder.find import filters as F
from trialfinder.find.places import geocode
from trialfinder.find.tables import Tables, build_tables
from trialfinder.labels import DEFAULTS_NOTE, ENROLLING_STATUS_KEYS, enrolment_label
from trialfinder.source.dataset import load_dataset
from trialfinder.source.settings import Settings
from trialfinder.source.vocab import ENROLLING_STATUSES

APP = Path(__file__).resolve().parent.parent / "app.py"
UNSET = ("TRIALFINDER_API_URL", "TRIALFINDER_SNAPSHOT_DIR", "TRIALFINDER_OFFLINE", "TRIALFINDER_DATABASE_URL")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jobs-cache")


@pytest.fixture(scope="module")
def tables(cache_dir: Path) -> Tables:
    dataset = load_dataset(Settings(cache_dir=cache_dir))
    assert dataset.meta.source == "snapshot"
    return build_tables(dataset)


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> Path:
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRIALFINDER_CACHE_DIR", str(cache_dir))
    return cache_dir


def cli_ids(cache_dir: Path, *args: str) -> list[str]:
    env: dict[str, str | None] = {name: None for name in UNSET}
    env["TRIALFINDER_CACHE_DIR"] = str(cache_dir)
    result = CliRunner().invoke(cli, ["search", "--format", "csv", *args], env=env)
    assert result.exit_code == 0, result.stderr
    return [row["nct_id"] for row in csv.DictReader(io.StringIO(result.stdout))]


def run_app(params: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=90)
    if params:
        at.query_params.update(params)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def app_ids(at: AppTest, table: int = 0) -> list[str]:
    return [url.rsplit("/", 1)[-1] for url in at.dataframe[table].value["url"]]


# --- 1. one set of defaults -----------------------------------------------------------------------

def test_enrolling_statuses_agree_between_vocab_and_labels() -> None:
    assert ENROLLING_STATUSES == ENROLLING_STATUS_KEYS == F.DEFAULT.statuses
    assert "ACTIVE_NOT_RECRUITING" not in F.DEFAULT.statuses


def test_default_search_is_enrolling_statuses_and_keeps_unstated_settings(tables: Tables) -> None:
    result = F.search(tables, F.DEFAULT)
    studies = tables.studies
    wanted = studies["status"].isin(ENROLLING_STATUSES) & studies["disease_setting"].map(
        lambda s: not s or "relapsed_refractory" in s)
    assert set(result.studies.index) == set(studies.index[wanted])
    unstated = result.studies["disease_setting"].map(len) == 0
    assert unstated.any() and (~unstated).any()  # the snapshot has both; neither is hidden
    assert "(or not stated)" in result.describe()


def test_app_and_cli_list_the_same_trials_with_no_filters_set(app_env: Path, tables: Tables) -> None:
    at = run_app()
    from_app = app_ids(at)
    from_cli = cli_ids(app_env)
    assert sorted(from_app) == sorted(from_cli)
    assert len(from_cli) == len(F.search(tables, F.DEFAULT).studies) > 0
    assert DEFAULTS_NOTE in [str(c.value) for c in at.markdown]
    # a study whose setting is not stated is listed, and labelled so
    settings = at.dataframe[0].value["setting"]
    assert "setting not stated" in set(settings)


def test_status_all_and_setting_all_list_every_study(app_env: Path, tables: Tables) -> None:
    assert sorted(cli_ids(app_env, "--status", "all", "--setting", "all")) == sorted(tables.studies.index)
    at = run_app({"status": "all", "setting": "all"})
    assert sorted(app_ids(at)) == sorted(tables.studies.index)
    statuses = set(at.dataframe[0].value["status"])
    assert "Completed (not enrolling)" in statuses and "Active, not recruiting (not enrolling)" in statuses
    assert "Recruiting" in statuses and "Not yet recruiting" in statuses


def test_search_help_states_the_defaults() -> None:
    text = CliRunner().invoke(cli, ["search", "--help"]).stdout
    flat = " ".join(text.split())
    assert "Defaults (the same as the app's): trials a patient can enrol in" in flat
    assert "--status all and --setting all lift them" in flat
    assert "[default: recruiting, not_yet_recruiting, enrolling_by_invitation]" in flat
    assert "[default: relapsed_refractory]" in flat


@pytest.mark.parametrize("key,label", [("RECRUITING", "Recruiting"), ("NOT_YET_RECRUITING", "Not yet recruiting"),
                                       ("ENROLLING_BY_INVITATION", "Enrolling by invitation"),
                                       ("ACTIVE_NOT_RECRUITING", "Active, not recruiting (not enrolling)"),
                                       ("COMPLETED", "Completed (not enrolling)"), (None, "")])
def test_enrolment_label(key: str | None, label: str) -> None:
    assert enrolment_label(key) == label


# --- 3. radius means radius -----------------------------------------------------------------------

def test_radius_keeps_only_trials_with_a_located_site_inside_it(tables: Tables) -> None:
    spec = F.FilterSpec(place=geocode("85719"), radius=250.0)
    result = F.search(tables, spec)
    assert len(result.studies) > 0
    assert (result.studies["distance_mi"] <= 250.0).all()  # (NaN is not <= 250: none unlocated)
    apart = result.unlocated_studies
    assert apart is not None and result.unlocated == len(apart) > 0
    assert apart["distance_mi"].isna().all()
    assert not set(apart.index) & set(result.studies.index)
    # every trial with no located site is in the separate group, none is lost
    everything = F.search(tables, F.FilterSpec(place=spec.place))
    no_site = set(everything.studies.index[everything.studies["distance_mi"].isna()])
    assert set(apart.index) == no_site
    assert result.left_after()["distance"] == len(result.studies)


def test_without_a_radius_unlocated_trials_are_listed_last(tables: Tables) -> None:
    result = F.search(tables, F.FilterSpec(place=geocode("85719")))
    assert result.unlocated_studies is None
    distances = result.studies["distance_mi"]
    assert distances.isna().sum() == result.unlocated > 0
    assert distances.iloc[-result.unlocated:].isna().all()


def test_app_shows_the_unlocated_trials_as_a_counted_group(app_env: Path, tables: Tables) -> None:
    at = run_app({"near": "85719", "radius": "250"})
    expected = F.search(tables, F.DEFAULT.with_(place=geocode("85719"), radius=250.0))
    assert sorted(app_ids(at)) == sorted(expected.studies.index)
    labels = [e.label for e in at.expander]
    heading = f"{expected.unlocated} trials whose sites could not be located"
    assert any(label.startswith(heading) for label in labels), labels
    assert sorted(app_ids(at, 1)) == sorted(expected.unlocated_studies.index)


def test_cli_counts_the_unlocated_trials_apart(app_env: Path) -> None:
    env: dict[str, str | None] = {name: None for name in UNSET}
    env["TRIALFINDER_CACHE_DIR"] = str(app_env)
    result = CliRunner().invoke(cli, ["search", "--near", "85719", "--radius", "7", "--format", "csv"], env=env)
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert all(row["distance_mi"] and float(row["distance_mi"]) <= 7 for row in rows)
    assert "more trials have no site we could locate, so they are not counted as within the radius" in result.stderr


# --- 7. phase semantics ---------------------------------------------------------------------------

def _phase_sets(tables: Tables, *keys: str) -> set[frozenset[str]]:
    result = F.search(tables, F.FilterSpec(phases=keys))
    return {frozenset(p) for p in result.studies["phases"]}


def test_phase_1_includes_1_2_and_1_2_is_the_combined_phase_alone(tables: Tables) -> None:
    one = F.search(tables, F.FilterSpec(phases=F.parse_phase("1"))).studies
    combined = F.search(tables, F.FilterSpec(phases=F.parse_phase("1/2"))).studies
    assert F.parse_phase("1/2") == ("PHASE1_PHASE2",) == F.parse_phase("Phase 1/2")
    assert _phase_sets(tables, "PHASE1_PHASE2") == {frozenset({"PHASE1", "PHASE2"})}
    assert set(combined.index) < set(one.index)
    assert frozenset({"PHASE1"}) in {frozenset(p) for p in one["phases"]}
    assert _phase_sets(tables, "PHASE2_PHASE3") <= {frozenset({"PHASE2", "PHASE3"})}
    both = F.search(tables, F.FilterSpec(phases=("PHASE1", "PHASE2"))).studies
    assert len(both) > len(combined)  # 1 or 2 is wider than the combined phase


def test_phase_choice_round_trips_through_the_url() -> None:
    from trialfinder.present.urlstate import spec_from_params, spec_to_params

    spec = F.DEFAULT.with_(phases=("PHASE1_PHASE2", "EARLY_PHASE1", "PHASE3"))
    params = spec_to_params(spec)
    assert params["phase"] == ["1/2", "early1", "3"]
    assert spec_from_params(params)[0] == spec


def test_unknown_combined_phase_is_refused() -> None:
    with pytest.raises(Exception, match="1/2, 2/3"):
        F.parse_phase("1/3")


def test_results_frames_share_one_layout(tables: Tables) -> None:
    from trialfinder.present import views

    result = F.search(tables, F.DEFAULT.with_(place=geocode("85719"), radius=100.0))
    assert result.unlocated_studies is not None
    main, apart = views.results_frame(result), views.results_frame(result, result.unlocated_studies)
    assert list(main.columns) == list(apart.columns)
    assert set(apart["distance"]) == {"not located"}
    assert isinstance(apart, pd.DataFrame)


# --- 2. honest gaps -------------------------------------------------------------------------------

SNAPSHOT = Path(__file__).resolve().parent.parent / "fixtures" / "aml-studies"
FULL = "NCT02204020"  # a full API v2 record (MANIFEST: api-v2-json)
PARTIAL = "NCT00392353"  # converted from a website CSV export (MANIFEST: website-csv)


def _manifest() -> dict[str, str]:
    with (SNAPSHOT / "MANIFEST.csv").open(encoding="utf-8", newline="") as handle:
        return {row["nct_id"]: row["source_format"] for row in csv.DictReader(handle)}


def test_each_study_knows_whether_its_record_is_partial(tables: Tables) -> None:
    manifest = _manifest()
    partial = tables.studies["partial_record"]
    assert partial.dtype == bool
    assert set(partial.index[partial]) == {n for n, fmt in manifest.items() if fmt == "website-csv"}
    assert manifest[FULL] == "api-v2-json" and not partial[FULL] and partial[PARTIAL]


def test_gaps_of_a_partial_record_say_refresh_and_of_a_full_record_say_not_stated(
        tmp_path: Path, tables: Tables) -> None:
    """A copy of a real full record with its eligibility criteria and phases removed (edited in a
    temporary snapshot folder) says "not stated in the registry record"; a website-CSV record says
    "not in this snapshot"."""
    import json
    import shutil

    from trialfinder.present.trial import render_text, trial_view

    folder = tmp_path / "snapshot"
    folder.mkdir()
    record = json.loads((SNAPSHOT / f"{FULL}.json").read_text(encoding="utf-8"))
    del record["protocolSection"]["eligibilityModule"]["eligibilityCriteria"]
    del record["protocolSection"]["designModule"]["phases"]
    (folder / f"{FULL}.json").write_text(json.dumps(record), encoding="utf-8")
    shutil.copy(SNAPSHOT / f"{PARTIAL}.json", folder)
    shutil.copy(SNAPSHOT / "MANIFEST.csv", folder)
    edited = build_tables(load_dataset(Settings(cache_dir=tmp_path / "cache", snapshot_dir=folder)))
    full = render_text(trial_view(edited, FULL))
    assert "Eligibility criteria:\n  (not stated in the registry record)" in full
    assert "Phase: (not stated in the registry record)" in full
    assert "not in this snapshot" not in full
    part = render_text(trial_view(edited, PARTIAL))
    assert "Partial snapshot record" in part
    assert "Eligibility criteria:\n  (not in this snapshot — refresh for the full record)" in part
    assert "Ages: not in this snapshot — refresh for the full record" in part


def test_an_absent_site_status_reads_unknown_never_not_recruiting(tables: Tables) -> None:
    from trialfinder.present import views
    from trialfinder.present.trial import render_text, trial_view

    result = F.search(tables, F.DEFAULT.with_(place=geocode("85719"), radius=250.0))
    frame = views.results_frame(result)
    no_status = result.studies["nearest_site_status"].fillna("") == ""
    assert no_status.any()
    assert set(frame["site_status"][no_status.to_numpy()]) == {"status unknown"}
    assert not frame["site_status"].str.contains("not listed").any()
    nct = result.studies.index[no_status.to_numpy()][0]
    view = trial_view(tables, nct, place=geocode("85719"))
    assert "status unknown" in set(views.sites_frame(view)["status"])
    assert "[status unknown]" in render_text(view) and "not listed" not in render_text(view)


def test_ages_not_stated_are_labelled_and_ranked_after_trials_that_admit_the_age(tables: Tables) -> None:
    from trialfinder.present import views

    result = F.search(tables, F.DEFAULT.with_(age=58.0))
    unstated = (result.studies["min_age_years"].isna() & result.studies["max_age_years"].isna()).to_numpy()
    assert unstated.any() and (~unstated).any()
    first_unstated = int(unstated.argmax())
    assert unstated[first_unstated:].all()  # every unstated one after every stated one
    ages = views.results_frame(result)["ages"]
    assert set(ages[unstated]) == {"ages not stated"}
    assert "ages not stated" not in set(ages[~unstated])


# --- 9. places --------------------------------------------------------------------------------------

def test_the_region_list_holds_only_states_and_regions(tables: Tables) -> None:
    from trialfinder.find import regions

    choices = regions.region_choices(tables.sites)
    assert {"Arizona", "Texas", "Ontario", "Bayern"} <= set(choices)
    raw = set(tables.sites["state"].dropna())
    assert {"TO", "AL", "Turin"} & raw  # the registry's field holds codes and cities...
    assert not {"TO", "AL", "Turin"} & set(choices)  # ...which the list leaves out
    assert all(len(c) > 2 for c in choices)


@pytest.mark.parametrize("typed,suggested", [("Tex", "Texas"), ("Arizonna", "Arizona"), ("Ontaro", "Ontario")])
def test_an_unknown_region_gets_close_suggestions(typed: str, suggested: str) -> None:
    with pytest.raises(Exception, match=f"did you mean .*'{suggested}'"):
        F.parse_state(typed)
    assert F.parse_state("tx") == F.parse_state("texas") == "Texas"


@pytest.mark.parametrize("typed,suggested", [("Tuscon", "Tucson, AZ"), ("Tuscon, AZ", "Tucson, AZ"),
                                             ("Pariss, France", "Paris, France")])
def test_a_misspelled_city_gets_close_suggestions(typed: str, suggested: str) -> None:
    with pytest.raises(Exception, match=f"did you mean .*'{suggested}'"):
        geocode(typed)


def test_cli_state_typo_is_a_usage_error_with_a_suggestion(app_env: Path) -> None:
    env: dict[str, str | None] = {name: None for name in UNSET}
    env["TRIALFINDER_CACHE_DIR"] = str(app_env)
    result = CliRunner().invoke(cli, ["search", "--state", "Tex"], env=env)
    assert result.exit_code == 2 and "did you mean 'Texas'" in result.stderr


@pytest.mark.parametrize("place,unit", [("85719", "mi"), ("Paris, France", "km"), ("London, United Kingdom", "mi"),
                                        ("Toronto, Canada", "km")])
def test_distances_follow_the_local_custom(place: str, unit: str) -> None:
    from trialfinder.find.places import default_unit

    assert default_unit(geocode(place)) == unit


def test_cli_abroad_shows_km_unless_asked(app_env: Path) -> None:
    env: dict[str, str | None] = {name: None for name in UNSET}
    env["TRIALFINDER_CACHE_DIR"] = str(app_env)
    paris = CliRunner().invoke(cli, ["search", "--near", "Paris, France", "--radius", "100", "--format", "csv",
                                     *("--status", "all")], env=env)
    assert paris.exit_code == 0 and "within 100 km of Paris" in paris.stderr
    assert "distance_km" in paris.stdout.splitlines()[0]
    miles = CliRunner().invoke(cli, ["search", "--near", "Paris, France", "--unit", "mi", "--format", "csv"], env=env)
    assert "distance_mi" in miles.stdout.splitlines()[0]


def test_app_abroad_switches_to_km_and_labels_the_place_box(app_env: Path) -> None:
    at = run_app({"near": "Paris, France"})
    assert at.radio(key="unit").value == "km"
    assert at.text_input(key="near").label == "Where do you live? (ZIP code or city)"
    at = run_app({"near": "Paris, France", "unit": "mi"})  # a unit in the link is kept
    assert at.radio(key="unit").value == "mi"


def test_updated_since_says_how_many_have_no_date(tables: Tables, app_env: Path) -> None:
    import datetime as dt

    spec = F.FilterSpec(updated_since=dt.date(2024, 1, 1))
    result = F.search(tables, spec)
    assert result.undated == int(tables.studies["last_update_date"].isna().sum()) > 0
    env: dict[str, str | None] = {name: None for name in UNSET}
    env["TRIALFINDER_CACHE_DIR"] = str(app_env)
    out = CliRunner().invoke(cli, ["search", "--updated-since", "2024-01-01", "--status", "all", "--setting", "all"],
                             env=env)
    assert f"note: {result.undated} trials have no update date" in out.stderr
    at = run_app({"since": "2024-01-01", "status": "all", "setting": "all"})
    assert any(f"{result.undated} without an update date left out" in str(c.value) for c in at.markdown)


# --- 11. refresh with no network --------------------------------------------------------------------

def _refresh_seconds(url: str, cache: Path) -> tuple[float, str]:
    import time

    from trialfinder.errors import TrialFinderError
    from trialfinder.source.dataset import refresh_dataset

    settings = Settings(api_url=url, cache_dir=cache)  # default retries and backoff, as a user has them
    start = time.monotonic()
    with pytest.raises(TrialFinderError) as info:
        refresh_dataset(settings, refresh=True)
    return time.monotonic() - start, str(info.value)


def test_refresh_with_no_network_fails_within_5_s_with_one_clear_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from conftest import closed_port

    refused, refused_line = _refresh_seconds(f"http://127.0.0.1:{closed_port()}/api/v2", tmp_path / "a")
    real = socket.getaddrinfo

    def no_dns(host, *args, **kw):  # type: ignore[no-untyped-def]
        if host == "clinicaltrials.example":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    unresolved, unresolved_line = _refresh_seconds("http://clinicaltrials.example/api/v2", tmp_path / "b")
    assert refused < 5 and unresolved < 5
    for line in (refused_line, unresolved_line):
        assert line.startswith("cannot reach ClinicalTrials.gov at ") and "check your internet connection" in line


def test_retries_with_backoff_stay_for_429_and_5xx_not_for_connect_errors() -> None:
    from trialfinder.source.session import CONNECT_RETRIES, make_retry

    retry = make_retry(Settings(), None)
    assert retry.connect == CONNECT_RETRIES == 1
    assert retry.status == Settings().max_retries >= 3 and retry.backoff_factor > 0
    assert {429, 500, 502, 503, 504} <= set(retry.status_forcelist or ())


# --- 12. summaries as plain text ----------------------------------------------------------------------

def test_summaries_show_no_escape_characters(tables: Tables, app_env: Path) -> None:
    """NCT05183035's real summary has '\\[GO\\]' in the registry's markdown."""
    from trialfinder.present.trial import render_text, trial_view

    raw = tables.studies.loc["NCT05183035", "brief_summary"]
    assert "\\[GO\\]" in raw
    text = render_text(trial_view(tables, "NCT05183035"))
    assert "[GO]" in text and "\\[" not in text and "\\]" not in text
    escaped = [n for n, s in tables.studies["brief_summary"].items() if "\\" in (s or "")]
    for nct in escaped:
        view = trial_view(tables, nct)
        assert "\\[" not in view.summary and "\\<" not in view.eligibility and "\\*" not in view.summary
    env: dict[str, str | None] = {name: None for name in UNSET}
    env["TRIALFINDER_CACHE_DIR"] = str(app_env)
    shown = CliRunner().invoke(cli, ["show", "NCT05183035"], env=env)
    assert "[GO]" in shown.stdout and "\\[GO" not in shown.stdout


# --- 8. what changed ------------------------------------------------------------------------------

def _record(nct: str) -> dict:
    import json

    return json.loads((SNAPSHOT / f"{nct}.json").read_text(encoding="utf-8"))


def _edited_pair() -> tuple[list[dict], list[dict], str]:
    """Before: copies of three real records. After: the first with its overall status changed, one
    site closed (RECRUITING -> COMPLETED), one started recruiting (COMPLETED -> RECRUITING), one
    removed and one added (a copy of another real site); the second unchanged; the third gone; a
    fourth real record new."""
    import copy

    a, b, c, d = (_record(n) for n in ("NCT01251575", "NCT00719888", "NCT02204020", "NCT05722171"))
    before = [a, b, c]
    edited = copy.deepcopy(a)
    edited["protocolSection"]["statusModule"]["overallStatus"] = "ACTIVE_NOT_RECRUITING"
    locations = edited["protocolSection"]["contactsLocationsModule"]["locations"]
    recruiting = next(loc for loc in locations if loc.get("status") == "RECRUITING")
    completed = next(loc for loc in locations if loc.get("status") == "COMPLETED")
    recruiting["status"], completed["status"] = "COMPLETED", "RECRUITING"
    removed = next(loc for loc in locations if loc is not recruiting and loc is not completed)
    locations.remove(removed)
    added = copy.deepcopy(d["protocolSection"]["contactsLocationsModule"]["locations"][0])
    locations.append(added)
    return before, [edited, copy.deepcopy(b), d], removed["status"]


def test_compare_lists_each_change_with_before_and_after() -> None:
    from trialfinder.find.changes import compare

    from trialfinder.labels import status_label

    before, after, removed = _edited_pair()
    table = compare(before, after)
    by_kind = {kind: group for kind, group in table.groupby("change")}
    assert set(by_kind) == {"new trial", "trial status changed", "site opened", "site started recruiting",
                            "site closed", "trial no longer in the data set"}
    assert list(by_kind["new trial"]["nct_id"]) == ["NCT05722171"]
    status = by_kind["trial status changed"].iloc[0]
    assert (status["nct_id"], status["before"], status["after"]) == ("NCT01251575", "Recruiting",
                                                                     "Active, not recruiting")
    started = by_kind["site started recruiting"].iloc[0]
    assert (started["before"], started["after"]) == ("Completed", "Recruiting")
    closed = by_kind["site closed"]
    assert sorted(zip(closed["before"], closed["after"], strict=True)) == sorted(
        [("Recruiting", "Completed"), (status_label(removed), "not listed")])
    opened = by_kind["site opened"].iloc[0]
    assert opened["before"] == "not listed" and opened["after"] == "Recruiting"
    assert "PersonGen" in opened["site"]
    assert list(by_kind["trial no longer in the data set"]["nct_id"]) == ["NCT02204020"]
    assert "NCT00719888" not in set(table["nct_id"])  # unchanged: not listed
    assert compare(before, before).empty


def test_changes_command_and_csv_from_two_stored_refreshes(tmp_path: Path) -> None:
    from trialfinder.source.database import open_store
    from trialfinder.source.store import Dataset, DatasetMeta

    settings = Settings(cache_dir=tmp_path / "cache")
    store = open_store(settings)
    env: dict[str, str | None] = {name: None for name in UNSET}
    env["TRIALFINDER_CACHE_DIR"] = str(settings.cache_dir)
    none_yet = CliRunner().invoke(cli, ["changes"], env=env)
    assert none_yet.exit_code == 1 and "no earlier data set to compare with yet" in none_yet.stderr
    before, after, _ = _edited_pair()
    store.save(Dataset(before, DatasetMeta(source="live", data_timestamp="2026-11-01", fetched_at="2026-11-01")))
    store.save(Dataset(after, DatasetMeta(source="live", data_timestamp="2026-11-08", fetched_at="2026-11-08")))
    table = CliRunner().invoke(cli, ["changes"], env=env)
    assert table.exit_code == 0, table.stderr
    assert "1 new trial" in table.stderr and "NCT05722171" in table.stdout
    out = tmp_path / "changes.csv"
    result = CliRunner().invoke(cli, ["changes", "--format", "csv", "-o", str(out)], env=env)
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert list(rows[0]) == ["change", "nct_id", "title", "site", "before", "after", "url"]
    assert {r["change"] for r in rows} >= {"new trial", "trial status changed", "site started recruiting"}


def test_app_lists_what_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trialfinder.source.database import open_store
    from trialfinder.source.store import Dataset, DatasetMeta

    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRIALFINDER_CACHE_DIR", str(tmp_path / "cache"))
    at = run_app()
    assert any("second refresh" in str(t.value) for t in at.text)
    store = open_store(Settings(cache_dir=tmp_path / "cache"))
    before, after, _ = _edited_pair()
    store.save(Dataset(before, DatasetMeta(source="live", data_timestamp="2026-11-01", fetched_at="2026-11-01")))
    store.save(Dataset(after, DatasetMeta(source="live", data_timestamp="2026-11-08", fetched_at="2026-11-08")))
    from trialfinder.source import freshness

    freshness.forget(Settings(cache_dir=tmp_path / "cache"))  # (the app sees a new set within TRIALFINDER_VERSION_CHECK s)
    at = run_app()
    expander = next(e for e in at.expander if e.label.startswith("What changed since the last refresh"))
    frames = [f.value for f in expander.dataframe]
    assert frames and "NCT05722171" in set(frames[0]["nct_id"])
    assert set(frames[0]["change"]) >= {"new trial", "trial status changed", "site started recruiting"}


# --- 6. exports people can read ---------------------------------------------------------------------

def test_export_columns_keep_todays_order_and_add_the_contact_after(tables: Tables) -> None:
    from trialfinder.find import export

    plain = export.export_frame(F.search(tables, F.DEFAULT))
    assert list(plain.columns) == export.COLUMNS + export.ELIGIBILITY_COLUMNS  # (issue 18: eligibility last)
    near = export.export_frame(F.search(tables, F.DEFAULT.with_(place=geocode("85719"), radius=500.0)))
    assert list(near.columns) == [*export.COLUMNS, "nearest_site", "nearest_site_status", "distance_mi",
                                  "nearest_site_contact", *export.ELIGIBILITY_COLUMNS]


def test_labelled_export_reads_as_labels_and_says_why_a_field_is_empty(tables: Tables) -> None:
    from trialfinder.find import export

    result = F.search(tables, F.FilterSpec(statuses=(), disease_settings=(), place=geocode("85719")))
    codes, labels = export.export_frame(result), export.export_frame(result, labels=True)
    assert list(codes.columns) == list(labels.columns) and len(codes) == len(labels)
    assert set(codes["status"]) >= {"RECRUITING", "COMPLETED"}
    assert set(labels["status"]) >= {"Recruiting", "Completed (not enrolling)"}
    assert "PHASE1;PHASE2" in set(codes["phases"]) and "Phase 1/2" in set(labels["phases"])
    partial = result.studies["partial_record"].to_numpy()
    no_sponsor = (result.studies["sponsor"].fillna("") == "").to_numpy()
    if (no_sponsor & partial).any():
        assert set(labels["sponsor"][no_sponsor & partial]) == {"not in this snapshot — refresh for the full record"}
    no_update = (result.studies["last_update"].fillna("") == "").to_numpy()
    assert set(labels["last_update"][no_update & partial]) == {"not in this snapshot — refresh for the full record"}
    assert set(labels["last_update"][no_update & ~partial]) <= {"not stated in the registry record"}
    located = result.studies["nearest_site"].notna().to_numpy()
    unknown = located & (result.studies["nearest_site_status"].fillna("") == "").to_numpy()
    assert unknown.any() and set(labels["nearest_site_status"][unknown]) == {"status unknown"}


def test_cli_labels_flag_and_contact_column(app_env: Path) -> None:
    env: dict[str, str | None] = {name: None for name in UNSET}
    env["TRIALFINDER_CACHE_DIR"] = str(app_env)
    args = ["search", "--format", "csv", "--status", "all", "--near", "Hefei, China", "--radius", "50"]
    plain = CliRunner().invoke(cli, args, env=env)
    labelled = CliRunner().invoke(cli, [*args, "--labels"], env=env)
    rows = list(csv.DictReader(io.StringIO(labelled.stdout)))
    assert plain.stdout.splitlines()[0] == labelled.stdout.splitlines()[0]
    assert rows and all(r["status"] and r["status"] == r["status"].capitalize() for r in rows)
    # the one full API record with a site there (NCT05722171) has its site's contact in the record
    assert [r["nearest_site_contact"] for r in rows if r["nct_id"] == "NCT05722171"] == [
        "Huimin Meng, Doctor · +86-18015580390 · huimin.meng@persongen.com"]


# --- 5. a list to hand the doctor (PDF) ------------------------------------------------------------

def _poppler(tool: str) -> str:
    import shutil

    found = shutil.which(tool)
    if found is None:
        pytest.skip(f"{tool} (poppler-utils) is not installed; .ci/run installs it")
    return found


def test_pdf_for_the_doctor_reads_back_as_text_and_renders(app_env: Path, tmp_path: Path, tables: Tables) -> None:
    import subprocess

    env: dict[str, str | None] = {name: None for name in UNSET}
    env["TRIALFINDER_CACHE_DIR"] = str(app_env)
    out = tmp_path / "doctor.pdf"
    result = CliRunner().invoke(cli, ["search", "--near", "85719", "--radius", "250", "--age", "58",
                                      "--format", "pdf", "-o", str(out)], env=env)
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes().startswith(b"%PDF")
    text = subprocess.run([_poppler("pdftotext"), "-layout", str(out), "-"], capture_output=True, text=True,
                          check=True).stdout
    flat = " ".join(text.split())
    expected = F.search(tables, F.DEFAULT.with_(place=geocode("85719"), radius=250.0, age=58.0))
    assert "within 250 mi of Tucson, AZ 85719" in flat and "admits age 58" in flat
    assert "data as of 2025-03" in flat and "Information only, not medical advice" in flat
    for nct in expected.studies.index:
        assert f"https://clinicaltrials.gov/study/{nct}" in flat
    assert "Ziftomenib" in flat and "menin inhibitor" in flat  # a category with its evidence
    assert "Banner MD Anderson Cancer Center" in flat and "≈ 90 mi" in flat  # the nearest site, distance
    assert "status unknown" in flat and "Ages: 18 and over" in flat and "Sex: all" in flat
    prefix = tmp_path / "page"
    subprocess.run([_poppler("pdftoppm"), "-r", "40", "-png", "-f", "1", "-l", "1", str(out), str(prefix)],
                   check=True, capture_output=True)
    page = next(tmp_path.glob("page*.png"))
    assert page.stat().st_size > 2000  # a rendered page with text on it, not a blank one


def test_pdf_carries_site_contacts_when_the_record_has_them(tmp_path: Path, tables: Tables) -> None:
    import subprocess

    from trialfinder.present.pdf import to_pdf

    result = F.search(tables, F.FilterSpec(place=geocode("Hefei, China"), radius=50.0))
    assert "NCT05722171" in result.studies.index
    out = tmp_path / "contacts.pdf"
    out.write_bytes(to_pdf(result, tables))
    text = subprocess.run([_poppler("pdftotext"), str(out), "-"], capture_output=True, text=True, check=True).stdout
    assert "huimin.meng@persongen.com" in " ".join(text.split())


def test_pdf_needs_an_output_file(app_env: Path) -> None:
    env: dict[str, str | None] = {name: None for name in UNSET}
    env["TRIALFINDER_CACHE_DIR"] = str(app_env)
    result = CliRunner().invoke(cli, ["search", "--format", "pdf"], env=env)
    assert result.exit_code == 2 and "--format pdf needs --output" in result.stderr


@pytest.mark.parametrize("region, kinds, ids", [
    # Utah: the trial with a site there changed its status and that site started recruiting; the other
    # states' site changes, the new trial in China and the trial gone from Pennsylvania are elsewhere
    ({"states": ("Utah",)}, {"trial status changed", "site started recruiting"}, {"NCT01251575"}),
    # China: the edited trial opened its first site there (a site opened, not a new trial); a new trial
    ({"countries": ("china",)}, {"new trial", "trial status changed", "site opened"}, {"NCT01251575", "NCT05722171"}),
    ({"states": ("Pennsylvania",)}, {"trial no longer in the data set"}, {"NCT02204020"}),
    ({"states": ("Texas",)}, set(), set()),
])
def test_changes_in_a_region(region: dict, kinds: set, ids: set) -> None:
    from trialfinder.find.changes import Region, compare

    before, after, _ = _edited_pair()
    table = compare(before, after, Region(**region))
    assert set(table["change"]) == kinds and set(table["nct_id"]) == ids
    if region == {"states": ("Utah",)}:
        assert all("Utah" in site for site in table.loc[table["site"] != "", "site"])
    assert compare(before, after, Region()).equals(compare(before, after))


def test_changes_command_in_a_region(tmp_path: Path) -> None:
    from trialfinder.source.database import open_store
    from trialfinder.source.store import Dataset, DatasetMeta

    settings = Settings(cache_dir=tmp_path / "cache")
    env: dict[str, str | None] = {name: None for name in UNSET}
    env["TRIALFINDER_CACHE_DIR"] = str(settings.cache_dir)
    before, after, _ = _edited_pair()
    store = open_store(settings)
    store.save(Dataset(before, DatasetMeta(source="live", data_timestamp="2026-11-01", fetched_at="2026-11-01")))
    store.save(Dataset(after, DatasetMeta(source="live", data_timestamp="2026-11-08", fetched_at="2026-11-08")))
    utah = CliRunner().invoke(cli, ["changes", "--state", "UT", "--format", "csv"], env=env)
    assert utah.exit_code == 0, utah.stderr
    rows = list(csv.DictReader(io.StringIO(utah.stdout)))
    assert {r["change"] for r in rows} == {"trial status changed", "site started recruiting"}
    assert "sites in Utah" in utah.stderr
    typo = CliRunner().invoke(cli, ["changes", "--state", "Utha"], env=env)
    assert typo.exit_code == 2 and "did you mean 'Utah'" in typo.stderr and "Traceback" not in typo.stderr
