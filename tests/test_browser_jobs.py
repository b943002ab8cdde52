"""Each person's job in a real browser (issue 19), with axe-core, the keyboard and 200 % zoom.

One app server and one headless chromium (Debian's, never `playwright install`) serve every test of
this module. The data: the bundled snapshot's real records, stored as the current data set, with an
edited COPY of them stored before it as the "previous refresh" (one Texas trial left out, another's
overall status changed), so the navigator's "what changed" has something true to show.

The walk-through takes a screenshot of each page (colour-reduced, small); with UPDATE_SCREENSHOTS=1 they
are saved as docs/screenshots/<person>-<desktop|phone>.png, which the README shows (otherwise into a
temporary folder, so that a test run leaves the work tree as it was). axe-core's JavaScript comes from the `axe-playwright-python` wheel (package data,
no network); the Streamlit-owned violations it still finds are listed in STREAMLIT_OWNED with reasons.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from apphost import CHROMIUM_ARGS, free_port, start_streamlit, stop_streamlit, wait_healthy

from trialfinder.find.filters import search
from trialfinder.find.places import geocode
from trialfinder.find.tablecache import load_tables
from trialfinder.present.urlstate import spec_from_params
from trialfinder.source.dataset import load_dataset
from trialfinder.source.settings import Settings
from trialfinder.source.store import Dataset, DataStore

ROOT = Path(__file__).resolve().parent.parent
SHOTS = (ROOT / "docs" / "screenshots" if os.environ.get("UPDATE_SCREENSHOTS") == "1"
         else Path(tempfile.gettempdir()) / f"trialfinder-screenshots-{os.getpid()}")
DESKTOP, PHONE = {"width": 1400, "height": 1000}, {"width": 390, "height": 844}

#: the three people of DEVELOPERS.md and their searches, as links (the app keeps a search in its URL)
JOBS: dict[str, list[tuple[str, str]]] = {
    "patient": [("near", "85719"), ("radius", "250"), ("age", "58")],
    "hematologist": [("q", "menin, FLT3"), ("cat", "targeted"), ("phase", "1"), ("phase", "2"),
                     ("status", "recruiting"), ("country", "United States")],
    "navigator": [("state", "Texas"), ("sort", "updated")],
}

#: axe rules whose serious/critical findings come from Streamlit's own widgets, which the page cannot
#: change: rule id -> (what the target's selector contains, why it is excluded)
STREAMLIT_OWNED: dict[str, tuple[str, str]] = {}


def texas_records(records: list[dict]) -> list[dict]:
    def in_texas(record: dict) -> bool:
        locations = record["protocolSection"].get("contactsLocationsModule", {}).get("locations", [])
        return any(loc.get("state") == "Texas" for loc in locations)
    return [r for r in records if in_texas(r) and r["protocolSection"]["statusModule"]["overallStatus"] == "RECRUITING"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(browser, base URL, settings, the two edited NCT ids): one app server and one chromium."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    pytest.importorskip("axe_playwright_python")  # the test extras' copy of axe-core
    tmp = tmp_path_factory.mktemp("jobs")
    settings = Settings(cache_dir=tmp / "cache")
    snapshot = load_dataset(settings)  # nothing stored yet: the bundled snapshot
    before = copy.deepcopy(snapshot.studies)  # an edited COPY of the real records, stored as the previous refresh
    new, changed = (r["protocolSection"]["identificationModule"]["nctId"] for r in texas_records(before)[:2])
    before = [r for r in before if r["protocolSection"]["identificationModule"]["nctId"] != new]
    next(r for r in before if r["protocolSection"]["identificationModule"]["nctId"] == changed)[
        "protocolSection"]["statusModule"]["overallStatus"] = "NOT_YET_RECRUITING"
    store = DataStore(settings.dataset_dir)
    store.save(Dataset(before, dataclasses.replace(snapshot.meta, warnings=[],
                                                   data_timestamp="an edited copy, for this walk-through")))
    store.save(Dataset(snapshot.studies, dataclasses.replace(snapshot.meta, warnings=[])))
    env = {**os.environ, "TRIALFINDER_CACHE_DIR": str(settings.cache_dir), "TRIALFINDER_OFFLINE": "1"}
    env.pop("TRIALFINDER_SNAPSHOT_DIR", None)
    port = free_port()
    server, log = start_streamlit(env, tmp / "streamlit.log", port)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", server)
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                yield browser, f"http://127.0.0.1:{port}/", settings, (new, changed)
            finally:
                browser.close()
    finally:
        stop_streamlit(server, log)


def open_page(served: Any, job: str | None, viewport: dict[str, int]) -> Any:
    browser, base, _, _ = served
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(40_000)
    page.goto(base + ("?" + urlencode(JOBS[job]) if job else ""))
    page.get_by_role("heading", name="found").first.wait_for()
    settle(page)
    return page


def settle(page: Any) -> None:
    """Wait until the script run is over and the last elements (map, charts) are drawn."""
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")
    page.get_by_text("Map of the").or_(page.get_by_text("No located sites")).first.wait_for()
    # some elements (st.html, button labels) are drawn a moment after the run ends
    page.wait_for_function("""() => document.querySelectorAll('[data-testid=stDownloadButton] button p').length >= 3
        && (document.querySelector('.tf-results [role=row] a') || document.body.innerText.includes('No trial matches'))""")
    page.wait_for_timeout(300)


def trial_rows(page: Any) -> Any:
    """The rows of the results list (the first list: the group of unlocated trials has its own)."""
    return page.locator(".tf-results").first.locator("[role=rowgroup]:not(.tf-head) [role=row]")


def expected(served: Any, job: str) -> list[str]:
    """The trials the library finds for the same link (what the page must list, in order)."""
    _, _, settings, _ = served
    params: dict[str, list[str]] = {}
    for key, value in JOBS[job]:
        params.setdefault(key, []).append(value)
    spec, problems = spec_from_params(params, locate=geocode)
    assert not problems
    return list(search(load_tables(settings), spec).studies.index)


def shot(page: Any, name: str) -> None:
    """A screenshot of the page's top (the search and the first results), colour-reduced to stay small."""
    from PIL import Image

    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    Image.open(path).convert("RGB").quantize(colors=64).save(path, optimize=True)


def no_sideways_scroll(page: Any) -> None:
    """No sideways scroll in the page or the results list, once the layout has settled after a resize (up
    to 5 s: the map's canvas and Streamlit's columns reflow a moment later on a busy machine)."""
    try:
        page.wait_for_function("""() => { const main = document.querySelector('[data-testid=stMain]');
            const list = document.querySelector('.tf-results');
            return main.scrollWidth <= main.clientWidth && (!list || list.scrollWidth <= list.clientWidth); }""",
                               timeout=5000)
    except Exception:  # (playwright's TimeoutError: the assertion below says what is too wide)
        pass
    overflow = page.evaluate("""() => {
        const wide = [...document.querySelectorAll('[data-testid=stMain] *')].filter(
            e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
            .map(e => e.tagName + '.' + e.className).slice(0, 5);
        const main = document.querySelector('[data-testid=stMain]');
        const list = document.querySelector('.tf-results');
        return {main: main.scrollWidth - main.clientWidth,
                list: list ? list.scrollWidth - list.clientWidth : 0, wide}; }""")
    assert (overflow["main"], overflow["list"]) == (0, 0), overflow


# --- the walk-through, with axe-core on every page ---------------------------------------------------

def axe_findings(page: Any) -> list[tuple[str, str, str]]:
    """(impact, rule, target) of every serious or critical axe-core violation on the page now."""
    import axe_playwright_python

    page.add_script_tag(path=str(Path(axe_playwright_python.__file__).parent / "axe.min.js"))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [(v["impact"], v["id"], " ".join(map(str, node["target"])))
            for v in result["violations"] if v["impact"] in ("serious", "critical") for node in v["nodes"]]


def project_owned(findings: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return [f for f in findings if not (f[1] in STREAMLIT_OWNED and STREAMLIT_OWNED[f[1]][0] in f[2])]


def assert_accessible(page: Any) -> None:
    """axe-core on the page as it is now: no serious or critical violation the project can fix. The
    evidence lists and the collapsed sections are opened first, so their content is checked too."""
    for summary in page.locator(".tf-results summary").all()[:2]:
        summary.click()
    for name in ("What changed since the last refresh", "Eligibility criteria"):
        section = page.get_by_test_id("stExpander").filter(has_text=name).locator("summary")
        if section.count() and section.first.get_attribute("aria-expanded") != "true":
            section.first.click()
    page.wait_for_timeout(400)
    assert project_owned(axe_findings(page)) == []


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_patient_finds_trials_near_her_on_desktop_and_phone(served: Any) -> None:
    wanted = expected(served, "patient")
    page = open_page(served, "patient", DESKTOP)
    rows = trial_rows(page)
    assert rows.count() == len(wanted) > 0
    first = rows.first.inner_text()
    assert wanted[0] in first and "mi" in first and "≈" in first  # the nearest site and its distance
    assert page.get_by_text("within 250 mi of Tucson, AZ 85719").first.is_visible()
    assert page.get_by_text("data as of 2025-03").first.is_visible()
    assert page.get_by_text("not medical advice").first.is_visible()
    # the map is zoomed to her radius and says so in words
    assert page.get_by_text("the red ring is the 250 mi radius").is_visible()
    shot(page, "patient-desktop")
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.wait_for_timeout(300)
    no_sideways_scroll(page)
    assert_accessible(page)
    page.close()

    phone = open_page(served, "patient", PHONE)
    card = trial_rows(phone).first
    box = card.bounding_box()
    assert box is not None and box["width"] <= PHONE["width"]
    assert phone.locator(".tf-head").first.is_hidden()  # cards: no header row, each value labelled
    site = card.locator("[role=cell]").nth(1)
    assert site.is_visible() and "Nearest site" in site.inner_text() and "mi" in site.inner_text()
    no_sideways_scroll(phone)
    phone.locator(".tf-results").first.scroll_into_view_if_needed()
    shot(phone, "patient-phone")
    assert_accessible(phone)
    phone.close()


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_hematologist_sees_the_evidence_and_biomarkers_from_the_row(served: Any) -> None:
    wanted = expected(served, "hematologist")
    page = open_page(served, "hematologist", DESKTOP)
    rows = trial_rows(page)
    assert [r.split("\n", 1)[0] for r in rows.all_inner_texts()] == wanted
    header = page.locator(".tf-head").first.inner_text()
    assert "Biomarkers" in header and "Phase" in header and "Categories" in header
    # the evidence opens in place, from the keyboard
    summary = rows.first.locator("summary")
    summary.focus()
    page.keyboard.press("Enter")
    evidence = rows.first.locator("details li").first
    evidence.wait_for()
    assert "—" in evidence.inner_text()  # "Targeted therapy: Ziftomenib — menin inhibitor"
    assert any("FLT3" in t or "KMT2A" in t or "NPM1" in t for t in rows.all_inner_texts())
    page.locator(".tf-results").first.scroll_into_view_if_needed()
    shot(page, "hematologist-desktop")
    assert_accessible(page)
    page.close()
    phone = open_page(served, "hematologist", PHONE)
    no_sideways_scroll(phone)
    phone.locator(".tf-results").first.scroll_into_view_if_needed()
    shot(phone, "hematologist-phone")
    assert_accessible(phone)
    phone.close()


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_navigator_sees_what_changed_in_texas(served: Any) -> None:
    _, _, _, (new, changed) = served
    for name, viewport in (("navigator-desktop", DESKTOP), ("navigator-phone", PHONE)):
        page = open_page(served, "navigator", viewport)
        assert "Texas" in page.locator("[role=status][aria-live=polite]").inner_text()  # the search, said above the results
        expander = page.get_by_text("What changed since the last refresh")
        assert "sites in Texas" in expander.inner_text()  # the changes of the region searched
        expander.scroll_into_view_if_needed()
        expander.click()
        page.wait_for_function(  # the grid's accessible rows fill in after it shows
            "nct => [...document.querySelectorAll('[data-testid=stExpander] [data-testid=stDataFrame] [role=row]')]"
            ".some(r => r.innerText.includes(nct))", arg=new)
        shown = " ".join(page.get_by_test_id("stExpander").filter(has_text="What changed")
                         .locator("[role=row]").all_inner_texts())
        assert changed in shown and "new trial" in shown and "status changed" in shown
        shot(page, name)
        assert_accessible(page)
        page.close()
    assert new != changed


@pytest.mark.browser
@pytest.mark.timeout(180)
def test_keyboard_headings_and_the_count_announcement(served: Any) -> None:
    page = open_page(served, None, DESKTOP)
    assert project_owned(axe_findings(page)) == []  # the first screen, as it opens
    # headings: one h1, no skipped level, no anchor links (each was a tab stop)
    levels = page.evaluate("() => [...document.querySelectorAll('[data-testid=stMain] h1, [data-testid=stMain] h2,"
                           " [data-testid=stMain] h3, [data-testid=stMain] h4')].map(h => +h.tagName[1])")
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False)), levels
    assert {"Summary", "Interventions and why each category applies"} <= set(
        page.locator("[data-testid=stMain] h3").all_inner_texts())
    assert page.locator("h1 a, h2 a, h3 a").count() == 0
    # the count is announced: the same live region node gets the new text when a filter changes
    live = page.locator("[role=status][aria-live=polite]")
    assert "trials found" in live.inner_text()
    page.evaluate("() => { window.__live = document.querySelector('[role=status][aria-live=polite]'); }")
    before = live.inner_text()
    where = page.get_by_label("Where do you live? (ZIP code or city)")
    where.fill("85719")
    where.press("Enter")
    page.get_by_text("Distances are measured from Tucson").wait_for()
    settle(page)
    assert live.inner_text() != before and "Tucson" in live.inner_text()
    assert page.evaluate("() => window.__live === document.querySelector('[role=status][aria-live=polite]')")
    # from the place box, Tab reaches the first trial's record link (a real link: Enter opens it)
    where.focus()
    for presses in range(1, 40):
        page.keyboard.press("Tab")
        href = page.evaluate("() => document.activeElement && document.activeElement.getAttribute('href')")
        if href and "clinicaltrials.gov/study/NCT" in href:
            break
    else:
        pytest.fail("Tab never reached a trial's record link")
    assert presses <= 15, presses
    page.close()


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_buttons_are_not_cut_at_200_percent_zoom(served: Any) -> None:
    """200 % zoom of a 1400 px window: 700 CSS px (columns side by side still); every button's label fits."""
    page = open_page(served, "patient", {"width": 700, "height": 900})
    page.get_by_role("button", name="PDF for your doctor").wait_for()
    cut = page.evaluate("""() => [...document.querySelectorAll('[data-testid=stButton] button, [data-testid=stDownloadButton] button')]
        .filter(b => b.offsetParent !== null)
        .filter(b => [b, ...b.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1 &&
                     getComputedStyle(e).textOverflow === 'ellipsis'))
        .map(b => b.innerText)""")
    assert cut == []
    labels = {t.strip() for t in page.locator("[data-testid=stButton] button, [data-testid=stDownloadButton] button")
              .all_text_contents()}
    assert {"Refresh", "Download CSV", "Download Excel", "PDF for your doctor"} <= labels, page.inner_text("body")[:3000]
    page.close()
