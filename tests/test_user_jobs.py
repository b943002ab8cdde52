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
UNSET = ("TRIALFINDER_API_URL", "TRIALFINDER_SNAPSHOT_DIR", "TRIALFINDER_OFFLINE")


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
    assert DEFAULTS_NOTE in [str(c.value) for c in at.caption]
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
