"""The results list the app shows: one row per trial that answers the question without scrolling sideways.

Built from :func:`trialfinder.present.views.results_frame` as HTML: at desktop widths a table of five
columns (trial, nearest site with distance and status, phase, categories with their evidence, biomarkers)
that wraps its text instead of scrolling; below 700 px each trial becomes a card that keeps the nearest
site and its distance near the top. The trial's title is a link to its ClinicalTrials.gov record (a
keyboard user tabs to it), and each row's evidence opens in place (``<details>``).

Registry text is untrusted: every value goes through :func:`html.escape`, and only a link of the
form ``https://clinicaltrials.gov/study/NCT…`` is made (Streamlit's ``st.html`` sanitises again).
ARIA table roles keep the table's meaning for a screen reader when the CSS turns rows into cards.
"""

from __future__ import annotations

import re
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # (no pandas at import: the app sends CSS before its heavy imports)
    import pandas as pd

_RECORD_URL = re.compile(r"https://clinicaltrials\.gov/study/NCT\d{8}")

CSS = """
<style>
.tf-results { width: 100%; font-size: 0.95rem; line-height: 1.4; color: inherit; }
.tf-row { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2.4fr) minmax(0, 0.9fr)
          minmax(0, 2fr) minmax(0, 1fr); gap: 0.75rem; padding: 0.55rem 0.25rem;
          border-bottom: 1px solid #8a8d96; }
.tf-head .tf-row { font-weight: 700; border-bottom: 2px solid #31333f; }
.tf-cell { min-width: 0; overflow-wrap: anywhere; }
.tf-id, .tf-sub { display: block; }
.tf-results a { color: #0b4f9c; text-decoration: underline; font-weight: 600; }
.tf-results a:focus-visible, .tf-results summary:focus-visible { outline: 3px solid #0b4f9c; outline-offset: 2px; }
.tf-results summary { cursor: pointer; }
.tf-results details ul { margin: 0.25rem 0 0 1rem; padding: 0; }
.tf-label { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
[data-testid="stDataFrame"] { max-width: 100%; }  /* a grid never widens the page on a phone */
@media (max-width: 700px) {
  .tf-head { display: none; }
  .tf-row { grid-template-columns: 1fr; gap: 0.2rem; padding: 0.75rem 0.5rem; border: 1px solid #8a8d96;
            border-radius: 0.5rem; margin-bottom: 0.6rem; }
  .tf-label { position: static; width: auto; height: auto; clip: auto; font-weight: 700; }
}
</style>
"""

HEADERS = ("Trial", "Nearest site (recruiting first): distance · site · status", "Phase", "Categories (why)",
           "Biomarkers")


def _text(value: Any) -> str:
    return escape("" if value is None or (isinstance(value, float) and value != value) else str(value))


def _cell(label: str, body: str) -> str:
    return f'<div role="cell" class="tf-cell"><span class="tf-label">{escape(label)}: </span>{body}</div>'


def _trial_cell(row: pd.Series, nct_id: str) -> str:
    url = str(row.get("url", ""))
    title = _text(row.get("title", "")) or "(untitled)"
    link = (f'<a href="{escape(url)}" target="_blank" rel="noopener noreferrer">{title}</a>'
            if _RECORD_URL.fullmatch(url) else title)
    sub = " · ".join(_text(row[k]) for k in ("status", "setting", "ages", "verdict") if k in row and row[k])
    return (f'<div role="cell" class="tf-cell"><span class="tf-id">{escape(nct_id)}</span>{link}'
            f'<span class="tf-sub">{sub}</span></div>')


def _site_cell(row: pd.Series) -> str:
    if "nearest_site" not in row:  # no place given: the trial's recruiting sites, counted
        return _cell("Sites", _text(row.get("sites", "")) + " · give a place for distances")
    if not row["nearest_site"]:
        return _cell("Nearest site", "no located site")
    return _cell("Nearest site", f'<strong>{_text(row["distance"])}</strong> · {_text(row["nearest_site"])} · '
                                 f'{_text(row["site_status"])}')


def _evidence_cell(row: pd.Series) -> str:
    lines = [line for line in str(row.get("evidence", "")).split("\n") if line]
    if not lines:
        return _cell("Categories", _text(row["categories"]))
    items = "".join(f"<li>{_text(line)}</li>" for line in lines)
    return _cell("Categories", f'<details><summary>{_text(row["categories"])}</summary><ul>{items}</ul></details>')


def results_html(frame: pd.DataFrame, nct_ids: list[str], label: str) -> str:
    """The rows of ``frame`` (a results_frame) as an accessible, responsive table named ``label``."""
    head = "".join(f'<div role="columnheader" class="tf-cell">{escape(h)}</div>' for h in HEADERS)
    rows = []
    for nct_id, (_, row) in zip(nct_ids, frame.iterrows(), strict=True):
        rows.append('<div role="row" class="tf-row">' + _trial_cell(row, nct_id) + _site_cell(row)
                    + _cell("Phase", _text(row["phase"])) + _evidence_cell(row)
                    + _cell("Biomarkers", _text(row.get("biomarkers", "")) or "none named") + "</div>")
    return (CSS + f'<div class="tf-results" role="table" aria-label="{escape(label)}" aria-rowcount="{len(rows) + 1}">'
            f'<div role="rowgroup" class="tf-head"><div role="row" class="tf-row">{head}</div></div>'
            f'<div role="rowgroup">{"".join(rows)}</div></div>')
