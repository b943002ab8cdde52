"""The Streamlit page (app.py) driven headless with streamlit.testing.v1.AppTest.

Every test runs on the bundled snapshot (TRIALFINDER_CACHE_DIR points at an empty temporary
folder), offline. The tables are cached per data set, so only the first test pays for
building them.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import closed_port
from streamlit.testing.v1 import AppTest

from trialfinder.find import export
from trialfinder.find.filters import search
from trialfinder.find.tables import build_tables
from trialfinder.labels import DISCLAIMER
from trialfinder.present.urlstate import spec_from_params
from trialfinder.source.dataset import load_dataset
from trialfinder.source.settings import Settings
from paths import AML_STUDIES

APP = Path(__file__).resolve().parent.parent / "app.py"
MARKDOWN_ELEMENTS = ("markdown", "caption", "info", "warning", "error", "success", "title", "header", "subheader")


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("app-cache")


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, shared_cache: Path) -> Path:
    for name in ("TRIALFINDER_API_URL", "TRIALFINDER_SNAPSHOT_DIR", "TRIALFINDER_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRIALFINDER_CACHE_DIR", str(shared_cache))
    return shared_cache


def run_app(query_params: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    if query_params:
        at.query_params.update(query_params)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown_count(at: AppTest) -> int:
    heading = next(s.value for s in at.header if "found" in s.value)
    return int(heading.split()[0])


def results(at: AppTest) -> pd.DataFrame:
    return at.dataframe[0].value


def texts(at: AppTest, kind: str) -> list[str]:
    return [str(e.value) for e in getattr(at, kind)]


def test_default_run_shows_results_banner_and_disclaimer(app_env: Path) -> None:
    at = run_app()
    assert shown_count(at) == len(results(at)) > 0
    banner = " ".join(texts(at, "info"))
    assert "bundled snapshot" in banner and "offline" in banner and "2025" in banner
    assert DISCLAIMER in texts(at, "warning")
    # the default filters: actionable statuses, relapsed/refractory
    statuses = at.multiselect(key="statuses")
    assert "NOT_YET_RECRUITING" in statuses.value and "COMPLETED" not in statuses.value
    assert "Not yet recruiting" in statuses.options
    assert at.multiselect(key="disease_settings").value == ["relapsed_refractory"]
    assert any("trials left" in c for c in texts(at, "markdown"))


def test_changing_a_filter_changes_the_row_count(app_env: Path) -> None:
    at = run_app()
    before = len(results(at))
    at.multiselect(key="categories").select("targeted").run()
    assert not at.exception
    after = len(results(at))
    assert 0 < after < before
    assert shown_count(at) == after
    assert "targeted therapy" in " ".join(texts(at, "markdown")).lower()
    assert at.query_params.get("cat") == "targeted"


@pytest.mark.parametrize("bad", ["00000", "asdf"])
def test_a_bad_place_gives_a_message_not_a_traceback(app_env: Path, bad: str) -> None:
    at = run_app()
    before = len(results(at))
    at.text_input(key="near").input(bad).run()
    assert not at.exception
    warnings = " ".join(texts(at, "warning"))
    assert "not found" in warnings or "No place" in warnings
    assert "ZIP" in warnings
    assert len(results(at)) == before  # the search goes on, without distances


def test_an_ambiguous_city_offers_suggestions(app_env: Path) -> None:
    at = run_app()
    at.text_input(key="near").input("Springfield").run()
    assert not at.exception
    assert any("Several places" in w for w in texts(at, "warning"))
    labels = [b.label for b in at.button]
    assert any("Springfield, IL" in label for label in labels)
    choice = next(b for b in at.button if "Springfield, IL" in b.label)
    choice.click().run()
    assert not at.exception
    assert at.text_input(key="near").value == "Springfield, IL"
    assert not any("Several places" in w for w in texts(at, "warning"))
    assert "Distance" in at.dataframe[0].value.columns or "distance" in at.dataframe[0].value.columns


@pytest.fixture
def media_files(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every in-memory media storage AppTest creates, so a download button's bytes can be read."""
    import streamlit.testing.v1.app_test as app_test_module
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    stores: list[MemoryMediaFileStorage] = []

    class Recording(MemoryMediaFileStorage):
        def __init__(self, endpoint: str) -> None:
            super().__init__(endpoint)
            stores.append(self)

    monkeypatch.setattr(app_test_module, "MemoryMediaFileStorage", Recording)
    return stores


def download_bytes(at: AppTest, stores: list, label: str) -> bytes:
    button = next(b for b in at.download_button if b.label == label)
    url = button.proto.url
    assert url, f"{label} has no eager data"
    return stores[-1].get_file(url.rsplit("/", 1)[-1]).content


def test_csv_download_holds_exactly_the_filtered_rows(app_env: Path, media_files: list) -> None:
    at = run_app({"near": "85719", "radius": "500", "cat": "targeted"})
    shown = results(at)
    csv = download_bytes(at, media_files, "Download CSV").decode("utf-8")
    exported = pd.read_csv(io.StringIO(csv))
    assert len(exported) == len(shown) == shown_count(at)
    assert list(exported["url"]) == list(shown["url"])  # same rows, same order
    assert "distance_mi" in exported.columns
    # and it is byte-for-byte what the library writes for the same filter state
    tables = build_tables(load_dataset(Settings.from_env()))
    spec, problems = spec_from_params({"near": "85719", "radius": "500", "cat": "targeted"})
    assert not problems
    assert csv == export.to_csv(search(tables, spec))
    excel = next(b for b in at.download_button if b.label == "Download Excel")
    assert excel.proto.deferred_file_id or excel.proto.url  # generated on click


def test_url_query_params_restore_a_search(app_env: Path) -> None:
    params = {"near": "85719", "radius": "100", "unit": "km", "cat": ["targeted", "immunotherapy"],
              "phase": ["1", "2"], "status": "recruiting", "age": "58", "sex": "female", "q": "menin",
              "since": "2020-01-01", "sort": "phase", "bio": "FLT3"}
    at = run_app(params)
    assert at.text_input(key="near").value == "85719"
    assert at.selectbox(key="radius").value == "100"
    assert at.radio(key="unit").value == "km"
    assert at.multiselect(key="categories").value == ["targeted", "immunotherapy"]
    assert at.multiselect(key="phases").value == ["PHASE1", "PHASE2"]
    assert at.multiselect(key="statuses").value == ["RECRUITING"]
    assert at.multiselect(key="biomarkers").value == ["FLT3"]
    assert at.number_input(key="age").value == 58
    assert at.selectbox(key="sex").value == "FEMALE"
    assert at.text_input(key="text").value == "menin"
    assert str(at.date_input(key="updated_since").value) == "2020-01-01"
    assert at.selectbox(key="sort").value == "phase"
    description = " ".join(texts(at, "markdown"))
    assert "within 100 km" in description
    # the URL keeps the search, so it can be sent on
    assert at.query_params["near"] == "85719" and at.query_params["sort"] == "phase"


def test_garbage_in_the_url_is_ignored_and_reported(app_env: Path) -> None:
    at = run_app({"radius": "-5", "cat": ["targeted", "<b>bogus</b>"], "age": "abc", "since": "yesterday",
                  "sort": "random", "near": "x" * 500})
    assert at.multiselect(key="categories").value == ["targeted"]
    assert at.number_input(key="age").value is None
    problems = [w for w in texts(at, "warning") if w.startswith("From the link")]
    assert len(problems) == 6  # radius, cat, age, since, sort, near
    assert not any("<b>" in w for w in problems)  # quoted text is escaped, not rendered
    assert shown_count(at) > 0


def test_registry_markup_renders_only_as_inert_text(app_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    """The record is an edited COPY of a real fixture record (NCT01962636, a recruiting R/R trial
    of fixtures/aml-studies): its title, summary and eligibility text are changed to carry an HTML
    script tag and a markdown javascript: link. They must reach the page only as plain text."""
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    for name in ("SNAPSHOT.json", "NCT01597778.json", "NCT02661035.json"):
        shutil.copy(AML_STUDIES / name, snapshot / name)
    record = json.loads((AML_STUDIES / "NCT01962636.json").read_text(encoding="utf-8"))
    evil = "<script>alert(1)</script> [click](javascript:alert(1)) ![x](https://evil.example/x.png)"
    ps = record["protocolSection"]
    ps["identificationModule"]["briefTitle"] = f"Cord blood transplant {evil}"
    ps["descriptionModule"]["briefSummary"] = f"Summary {evil}"
    ps["eligibilityModule"]["eligibilityCriteria"] = f"Inclusion Criteria:\n* relapsed AML {evil}"
    (snapshot / "NCT01962636.json").write_text(json.dumps(record), encoding="utf-8")
    monkeypatch.setenv("TRIALFINDER_SNAPSHOT_DIR", str(snapshot))

    at = run_app({"q": "NCT01962636", "status": "all", "setting": "all"})
    assert shown_count(at) == 1
    assert evil in results(at)["title"].iloc[0]  # in the grid, as a cell value
    assert any(evil in t for t in texts(at, "text"))  # title and summary via st.text
    assert any(evil in c for c in texts(at, "code"))  # eligibility via st.code
    assert evil in at.selectbox(key="detail").options[0]
    for kind in MARKDOWN_ELEMENTS:
        for value in texts(at, kind):
            assert "<script" not in value and "javascript:" not in value and "evil.example" not in value, (kind, value)
    # the results list is HTML we build: the registry text is in it only escaped, and no link but the record's
    shown = " ".join(h.proto.body for h in at.get("html"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown and "<script" not in shown
    assert "javascript:" not in shown.replace("[click](javascript:alert(1))", "")
    assert re.findall(r'href="([^"]*)"', shown) == ["https://clinicaltrials.gov/study/NCT01962636"]


def test_refresh_with_an_unreachable_api_keeps_the_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRIALFINDER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TRIALFINDER_API_URL", f"http://127.0.0.1:{closed_port()}/api/v2")
    monkeypatch.setenv("TRIALFINDER_BACKOFF", "0.01")
    monkeypatch.setenv("TRIALFINDER_TIMEOUT", "2")
    monkeypatch.delenv("TRIALFINDER_SNAPSHOT_DIR", raising=False)
    monkeypatch.delenv("TRIALFINDER_OFFLINE", raising=False)
    at = run_app()
    before = shown_count(at)
    next(b for b in at.button if b.label == "Refresh").click().run()
    assert not at.exception
    errors = texts(at, "error")
    assert len(errors) == 1 and "Refresh failed" in errors[0] and "previous data" in errors[0]
    assert "\n" not in errors[0]
    assert shown_count(at) == before
    assert "bundled snapshot" in " ".join(texts(at, "info"))


def test_a_successful_refresh_replaces_the_data_and_the_banner(api, monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    """The loopback replay server (tests/apiserver.py) stands in for ClinicalTrials.gov."""
    monkeypatch.setenv("TRIALFINDER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TRIALFINDER_API_URL", api.url)
    monkeypatch.setenv("TRIALFINDER_BACKOFF", "0.01")
    monkeypatch.setenv("TRIALFINDER_MAX_REQUESTS_PER_MINUTE", "100000")
    monkeypatch.delenv("TRIALFINDER_SNAPSHOT_DIR", raising=False)
    monkeypatch.delenv("TRIALFINDER_OFFLINE", raising=False)
    at = run_app()
    assert "bundled snapshot" in " ".join(texts(at, "info"))
    next(b for b in at.button if b.label == "Refresh").click().run()
    assert not at.exception
    assert not texts(at, "error")
    success = " ".join(texts(at, "success"))
    assert "Data refreshed" in success and "live from http" in success
    banner = " ".join(texts(at, "info"))  # the stored download is the data set now
    assert "from a stored copy" in banner and "fetched" in banner and "offline" not in banner
    assert "bundled snapshot" not in banner
    assert shown_count(at) > 0
    assert (tmp_path / "cache" / "trialfinder.sqlite").exists()


def test_a_refused_refresh_says_so_and_keeps_the_data(api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Issue 15: a well-formed but implausible listing (0 studies where the same search stored many) is
    refused; the page says so and how to accept it, and keeps showing the stored data."""
    monkeypatch.setenv("TRIALFINDER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TRIALFINDER_API_URL", api.url)
    monkeypatch.setenv("TRIALFINDER_BACKOFF", "0.01")
    monkeypatch.setenv("TRIALFINDER_MAX_REQUESTS_PER_MINUTE", "100000")
    monkeypatch.delenv("TRIALFINDER_SNAPSHOT_DIR", raising=False)
    monkeypatch.delenv("TRIALFINDER_OFFLINE", raising=False)
    at = run_app()
    next(b for b in at.button if b.label == "Refresh").click().run()
    before = shown_count(at)
    assert before > 0 and not texts(at, "error")
    api.inject("empty_listing", times=5)
    next(b for b in at.button if b.label == "Refresh").click().run()
    assert not at.exception
    errors = texts(at, "error")
    assert len(errors) == 1 and "Refresh failed" in errors[0] and "refused as implausible" in errors[0]
    assert "accept" in errors[0] and "smaller" in errors[0] and "previous data" in errors[0]
    assert shown_count(at) == before


def test_sort_offers_nearest_first_only_with_a_place(app_env: Path) -> None:
    """Issue 19: "Sort by: nearest first" was shown with no location set."""
    at = run_app()
    assert at.selectbox(key="sort").options == ["recently updated", "latest phase first"]
    at.text_input(key="near").input("85719").run()
    assert not at.exception
    assert at.selectbox(key="sort").options[0] == "nearest first"
    assert at.selectbox(key="sort").value == "distance"


def test_charts_are_vega_lite_bars_of_the_library_counts(app_env: Path) -> None:
    """The two bar charts are plain Vega-Lite specs (no Altair on the page's path), largest first, and hold
    exactly the counts the library gives for the same search, in the order of their text alternative."""
    import pyarrow as pa

    from trialfinder.present import views

    params = {"near": "85719", "radius": "500"}
    at = run_app(params)
    charts = at.get("vega_lite_chart")
    assert len(charts) == 2
    spec, problems = spec_from_params(params)
    assert not problems
    result = search(build_tables(load_dataset(Settings.from_env())), spec)
    for chart, counts in zip(charts, (views.category_counts(result), views.phase_counts(result)), strict=True):
        vega = json.loads(chart.proto.spec)
        assert vega["mark"]["type"] == "bar" and vega["encoding"]["y"]["sort"] == "-x"
        data = pa.ipc.open_stream(chart.proto.data.data).read_all().to_pandas()
        assert dict(zip(data[counts.index.name], data[counts.name], strict=True)) == {
            str(k): int(v) for k, v in counts.items()}
        assert views.escape_markdown(views.counts_text(counts)) in texts(at, "markdown")  # (the chart in words)


def test_filters_drawn_after_the_results_keep_the_link_and_their_counts(app_env: Path) -> None:
    """The sidebar is drawn after the results list: a link's country and state still search, show in their
    widgets, and each active filter's '→ N trials left' line is under it."""
    params = {"country": "United States", "state": "Texas", "cat": "targeted"}
    at = run_app(params)
    assert at.multiselect(key="countries").value == ["United States"]
    assert at.multiselect(key="states").value == ["Texas"]
    assert at.multiselect(key="categories").value == ["targeted"]
    spec, _ = spec_from_params(params)
    result = search(build_tables(load_dataset(Settings.from_env())), spec)
    assert shown_count(at) == len(result.studies)
    left = [str(m.value) for m in at.sidebar.markdown if str(m.value).startswith("→ ")]
    assert left == [f"→ {n} trials left" for name, n in result.left_after().items() if name != "distance"]
    # the list itself (HTML) comes before the filters, and the page still has them all
    assert "United States" in at.multiselect(key="countries").options
