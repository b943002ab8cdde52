"""One view of one trial, shared by ``trialfinder show`` (as text) and the app's detail.

:func:`trial_view` gathers what a person reads about a trial — labels, evidence, sites nearest
first — once; :func:`render_text` prints it for a terminal, and ``app.py`` lays the same fields out
with Streamlit.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

import pandas as pd

from ..classify.eligibility import FIELDS, Eligibility
from ..find import places
from ..find.profile import Profile, Verdict, verdict
from ..find.tables import Tables
from ..labels import (
    CATEGORY_LABELS,
    DISCLAIMER,
    DISEASE_SETTING_LABELS,
    ELIGIBILITY_LABELS,
    SEX_LABELS,
    SITE_STATUS_UNKNOWN,
    VERDICT_LABELS,
    age_range,
    distance_label,
    gap,
    status_label,
)
from ..sanitize import block, one_line

#: the registry writes its texts in markdown and escapes punctuation ('\\[GO\\]', 'ALT \\< 2'); shown as
#: plain text (st.text, a terminal) those backslashes would be visible
_MARKDOWN_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()<>#+\-.!|~^=])")


def plain_text(text: str) -> str:
    """Registry markdown text as plain text: '\\[GO\\]' -> '[GO]', '\\< 2' -> '< 2'."""
    return _MARKDOWN_ESCAPE.sub(r"\1", text)


@dataclass
class TrialView:
    nct_id: str
    title: str
    url: str
    status: str  # "Recruiting"
    phase: str  # "Phase 1/2" or ""
    last_update: str  # "2025-01-31" or ""
    data: str  # where the data set came from and when
    min_age: str  # "18" or "any"
    max_age: str
    ages: str  # "18 and over", "18–74", "any"
    sex: str  # "all" / "female" / "male"
    sponsor: str
    categories: list[tuple[str, str]]  # (category label, why)
    disease_setting: str  # "relapsed/refractory" or ""
    biomarkers: str  # "FLT3, KMT2A" or ""
    interventions: str
    summary: str
    eligibility: str
    sites: pd.DataFrame  # nearest first from ``place`` (column "distance" in ``unit``)
    place: places.Place | None
    unit: str
    central_contacts: str
    partial: bool = False  # a partial snapshot record: what it lacks may be in the registry
    gap: str = ""  # what a missing field says (labels.gap): "not in this snapshot — …" / "not stated …"
    #: the eligibility facts: (label, value as read, the sentences it came from), in FIELDS order
    eligibility_facts: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    verdict: Verdict | None = None  # for the patient's own profile, when one is given

    @property
    def verdict_label(self) -> str:
        return VERDICT_LABELS.get(self.verdict.kind, "") if self.verdict is not None else ""


def fact_rows(e: Eligibility | None) -> list[tuple[str, str, tuple[str, ...]]]:
    """Each fact as (label, readable value, sentences); 'not stated' where the text says nothing."""
    if e is None:
        return []
    rows = []
    for name in FIELDS:
        value = getattr(e, name)
        if isinstance(value, tuple):
            text = ", ".join(v.replace("_", " ") if v.islower() else v for v in value) or "none stated"
        elif value is None or value == "not_stated":
            text = "not stated"
        else:
            text = str(value).replace("_", " ")
        rows.append((ELIGIBILITY_LABELS[name], text, e.evidence_for(name)))
    return rows


def trial_view(tables: Tables, nct: str, place: places.Place | None = None, unit: str = "mi",
               profile: Profile | None = None) -> TrialView:
    row = tables.studies.loc[nct]
    facts = row.get("eligibility") if isinstance(row.get("eligibility"), Eligibility) else None
    judged = (verdict(facts, profile, row["min_age_years"], row["max_age_years"])
              if facts is not None and profile is not None else None)
    evidence = row["evidence"] if isinstance(row["evidence"], dict) else {}
    sites = tables.sites[tables.sites["nct_id"] == nct]
    partial = bool(row.get("partial_record", False))
    stated = row["min_age_years"] == row["min_age_years"] or row["max_age_years"] == row["max_age_years"]
    return TrialView(
        nct_id=row["nct_id"], title=row["title"], url=row["url"], status=status_label(row["status"]) or "",
        phase=row["phase"] or "", last_update=row["last_update"] or "", data=tables.meta.describe(),
        min_age=_age(row["min_age_years"]), max_age=_age(row["max_age_years"]),
        ages=age_range(row["min_age_years"], row["max_age_years"]) if stated else gap(partial),
        sex=SEX_LABELS.get(row["sex"], row["sex"]).lower(), sponsor=row["sponsor"] or "",
        categories=[(CATEGORY_LABELS.get(key, key), evidence.get(key, "")) for key in row["categories"]],
        disease_setting=", ".join(DISEASE_SETTING_LABELS[s] for s in row["disease_setting"]),
        biomarkers=", ".join(row["biomarkers"]), interventions=row["interventions"] or "",
        summary=plain_text(row["brief_summary"] or ""), eligibility=plain_text(row.get("eligibility_text") or ""),
        sites=places.sites_by_distance(sites, place, unit=unit), place=place, unit=unit,
        central_contacts=row.get("central_contacts") or "", partial=partial, gap=gap(partial),
        eligibility_facts=fact_rows(facts), verdict=judged,
    )


def render_text(view: TrialView) -> str:
    """The trial in full for a terminal (``trialfinder show``). Registry text is inert
    (:mod:`trialfinder.sanitize`): no control characters, and a one-line field stays on its line."""
    line = one_line
    lines = [f"{view.nct_id}  {line(view.title)}", view.url, ""]
    missing = f"({view.gap})"
    if view.partial:
        lines.append(f"Partial snapshot record: fields marked {missing} may be in the registry's full record.")
    lines.append(f"Status: {view.status}   Phase: {view.phase or missing}   "
                 f"Last update: {line(view.last_update) or missing}   Data: {line(view.data)}")
    ages = view.ages if view.ages == view.gap else f"{view.min_age}–{view.max_age}"
    lines.append(f"Ages: {ages}   Sex: {line(view.sex)}   Sponsor: {line(view.sponsor) or missing}")
    lines.append("")
    lines.append("Categories:")
    for label, why in view.categories:
        lines.append(f"  - {label}: {line(why)}")
    lines.append("Setting: " + (view.disease_setting or "not stated"))
    lines.append("Biomarkers: " + (view.biomarkers or "none named"))
    lines.append("Interventions: " + (line(view.interventions) or "none listed"))
    lines += ["", "Eligibility facts (read from the criteria; check them with the trial team):"]
    for label, value, sentences in view.eligibility_facts:
        lines.append(f"  - {label}: {line(value)}")
        lines += [f"      “{line(sentence)}”" for sentence in sentences]
    if view.verdict is not None:
        lines += ["", f"For you: {view.verdict_label}"]
        lines += [f"  - {line(r.criterion)}" + (f": “{line(r.sentence)}”" if r.sentence else "")
                  for r in view.verdict.reasons]
    for title, text in (("Summary", view.summary), ("Eligibility criteria", view.eligibility)):
        lines += ["", f"{title}:", _wrap(block(text)) if text else f"  ({view.gap})"]
    place = view.place
    lines += ["", f"Sites ({len(view.sites)}{', nearest first from ' + line(place.label) if place else ''}):"]
    for _, site in view.sites.iterrows():
        where = ", ".join(line(x) for x in (site["city"], site["state"], site["country"]) if x)
        dist = "  " + distance_label(site.get("distance"), view.unit, spaced=False, missing="") if place else ""
        status = line(site["site_status"]).replace("_", " ").lower() or SITE_STATUS_UNKNOWN
        lines.append(f"  - {line(site['facility']) or '(facility not named)'} — {where} [{status}]{dist.rstrip()}")
        if site.get("contacts"):
            lines.append(f"      contact: {line(site['contacts'])}")
    if view.central_contacts:
        lines.append(f"Central contact: {line(view.central_contacts)}")
    lines += ["", DISCLAIMER]
    return "\n".join(lines)


def _age(value: float) -> str:
    return "any" if value != value else f"{value:g}"


def _wrap(text: str) -> str:
    return "\n".join(textwrap.fill(p, width=100, initial_indent="  ", subsequent_indent="  ")
                     for p in text.splitlines() if p.strip())
