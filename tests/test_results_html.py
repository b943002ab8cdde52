"""The results list (issue 19, item 4): five columns that wrap, cards on a phone, registry text inert."""

from __future__ import annotations

import re

import pandas as pd

from trialfinder.present.results import HEADERS, results_html

EVIL = "<script>alert(1)</script> <img src=x onerror=alert(2)> [click](javascript:alert(3))"


def frame(**extra: object) -> pd.DataFrame:
    row = {"url": "https://clinicaltrials.gov/study/NCT04067336", "distance": "≈ 90 mi",
           "title": "First in Human Study of Ziftomenib", "phase": "Phase 1/2", "status": "Recruiting",
           "categories": "Targeted therapy", "setting": "relapsed/refractory",
           "evidence": "Targeted therapy: Ziftomenib — menin inhibitor", "biomarkers": "KMT2A",
           "nearest_site": "Banner MD Anderson Cancer Center, Gilbert, Arizona", "site_status": "Recruiting"}
    return pd.DataFrame([{**row, **extra}])


def test_one_row_holds_the_answer() -> None:
    html = results_html(frame(), ["NCT04067336"], "1 trial found")
    assert html.count('role="row"') == 2 and html.count('role="columnheader"') == len(HEADERS)
    cells = re.findall(r'<div role="cell" class="tf-cell">(.*?)</div>(?=<div role="cell"|</div>)', html)
    assert len(cells) == 5
    trial, site, phase, categories, biomarkers = cells
    assert 'href="https://clinicaltrials.gov/study/NCT04067336"' in trial and "Recruiting" in trial
    assert "≈ 90 mi" in site and "Banner MD Anderson" in site and "Recruiting" in site
    assert "Phase 1/2" in phase
    assert "<details><summary>Targeted therapy</summary>" in categories and "menin inhibitor" in categories
    assert "KMT2A" in biomarkers
    assert 'aria-label="1 trial found"' in html
    assert "@media (max-width: 700px)" in html  # cards on a phone


def test_registry_text_is_escaped_and_only_the_record_is_linked() -> None:
    html = results_html(frame(title=EVIL, nearest_site=EVIL, evidence=f"Targeted therapy: {EVIL}", biomarkers=EVIL),
                        ["NCT04067336"], f"label {EVIL}")
    assert "<script" not in html and "<img" not in html and "onerror=alert(2)>" not in html
    assert html.count("&lt;script&gt;") == 5
    assert re.findall(r'href="([^"]*)"', html) == ["https://clinicaltrials.gov/study/NCT04067336"]
    odd = results_html(frame(url="javascript:alert(1)"), ["NCT04067336"], "x")
    assert "href=" not in odd and "First in Human Study of Ziftomenib" in odd  # the title, without a link


def test_without_a_place_the_site_cell_counts_sites() -> None:
    plain = frame().drop(columns=["distance", "nearest_site", "site_status"]).assign(sites="6 sites, 2 open to enrolment")
    html = results_html(plain, ["NCT04067336"], "x")
    assert "6 sites, 2 open to enrolment · give a place for distances" in html
