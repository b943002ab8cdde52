"""A list to hand the doctor: the search results as a PDF (fpdf2), the same from the app and the CLI.

The search, the data date and the disclaimer first; then per trial its title, link, status, phase,
categories with their evidence, the nearest sites with distance, status and contacts when the record
has them, ages and sex. Registry text is written as text (never interpreted). A Unicode font
(DejaVu Sans) is used when the system has one; otherwise the core Helvetica font, with characters it
lacks replaced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..find.filters import SearchResult
from ..find.tables import Tables
from ..labels import DISCLAIMER, SITE_STATUS_UNKNOWN, distance_label, enrolment_label, status_label
from ..sanitize import block
from .trial import trial_view

NEAREST_SITES = 3
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"),
             Path("/Library/Fonts"), Path("C:/Windows/Fonts"))
_ASCII = str.maketrans({"—": "-", "–": "-", "≈": "~", "·": "-", "’": "'", "“": '"', "”": '"', "…": "..."})


def _font(pdf: Any) -> tuple[str, bool]:
    """(family, unicode?) — DejaVu Sans when installed, else Helvetica."""
    for folder in FONT_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.exists() and bold.exists():
            pdf.add_font("DejaVu", "", str(regular))
            pdf.add_font("DejaVu", "B", str(bold))
            return "DejaVu", True
    return "Helvetica", False


class _Writer:
    def __init__(self) -> None:
        from fpdf import FPDF

        self.pdf = FPDF(format="Letter")
        self.pdf.set_auto_page_break(auto=True, margin=15)
        self.pdf.set_margins(15, 15, 15)
        self.family, self.unicode = _font(self.pdf)
        self.pdf.add_page()

    def text(self, text: str, size: float = 10, bold: bool = False, link: str = "", gap: float = 1) -> None:
        text = block(text)  # (registry text: no escape sequence or control character, issue 15)
        if not self.unicode:
            text = text.translate(_ASCII).encode("latin-1", "replace").decode("latin-1")
        self.pdf.set_font(self.family, "B" if bold else "", size)
        self.pdf.multi_cell(0, size * 0.5, text, link=link, align="L", new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(gap)


def to_pdf(result: SearchResult, tables: Tables) -> bytes:
    """The results as a PDF, in the result's order."""
    out = _Writer()
    out.text("TrialFinder: clinical trials to discuss with your doctor", size=15, bold=True, gap=2)
    out.text(f"Search: {result.describe()}")
    out.text(f"Data: {tables.meta.describe()} · {len(result.studies)} trials")
    out.text(DISCLAIMER, size=9, gap=4)
    for number, nct in enumerate(result.studies.index, 1):
        _trial(out, result, tables, nct, number)
    if result.unlocated_studies is not None and result.unlocated:
        out.text(f"{result.unlocated} more trials whose sites could not be located: "
                 + ", ".join(result.unlocated_studies.index), size=9)
    return bytes(out.pdf.output())


def _trial(out: _Writer, result: SearchResult, tables: Tables, nct: str, number: int) -> None:
    view = trial_view(tables, nct, place=result.place, unit=result.spec.unit)
    row = tables.studies.loc[nct]
    out.text(f"{number}. {view.title}", size=11, bold=True)
    out.text(f"{nct} · {view.url}", size=9, link=view.url)
    out.text(f"Status: {enrolment_label(row['status'])} · Phase: {view.phase or view.gap} · "
             f"Ages: {view.ages} · Sex: {view.sex}")
    for label, why in view.categories or [("Other / no treatment category", "")]:
        out.text(f"{label}: {why}" if why else label, size=9)
    sites = view.sites.head(NEAREST_SITES)
    if sites.empty:
        out.text("Sites: none listed in the record", size=9)
    for _, site in sites.iterrows():
        where = ", ".join(x for x in (site["facility"], site["city"], site["state"], site["country"]) if x)
        status = status_label(site["site_status"]) or SITE_STATUS_UNKNOWN
        distance = f" · {distance_label(site.get('distance'), view.unit)}" if view.place is not None else ""
        contact = f" · contact: {site['contacts']}" if site.get("contacts") else ""
        out.text(f"Site: {where} · {status}{distance}{contact}", size=9)
    if len(view.sites) > NEAREST_SITES:
        out.text(f"(and {len(view.sites) - NEAREST_SITES} more sites in the record)", size=9)
    if view.central_contacts:
        out.text(f"Central contact: {view.central_contacts}", size=9)
    out.text("", size=4)
