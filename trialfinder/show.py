"""Plain-text rendering of one trial in full (for `trialfinder show`)."""

from __future__ import annotations

import textwrap

from . import geo
from .categories import CATEGORY_LABELS
from .export import DISCLAIMER
from .filters import SETTING_LABELS
from .tables import Tables
from .vocab import STATUS_LABELS


def render_trial(tables: Tables, nct: str, near: str | None = None, unit: str = "mi") -> str:
    row = tables.studies.loc[nct]
    lines = [f"{row['nct_id']}  {row['title']}", row["url"], ""]
    lines.append(f"Status: {STATUS_LABELS.get(row['status'], row['status'])}   Phase: {row['phase'] or '—'}   "
                 f"Last update: {row['last_update'] or 'not given'}   Data: {tables.meta.describe()}")
    ages = f"{_age(row['min_age_years'])}–{_age(row['max_age_years'])}"
    lines.append(f"Ages: {ages}   Sex: {row['sex'].lower()}   Sponsor: {row['sponsor'] or '—'}")
    lines.append("")
    lines.append("Categories:")
    evidence = row["evidence"] if isinstance(row["evidence"], dict) else {}
    for key in row["categories"]:
        lines.append(f"  - {CATEGORY_LABELS.get(key, key)}: {evidence.get(key, '')}")
    lines.append("Setting: " + (", ".join(SETTING_LABELS[s] for s in row["setting"]) or "not stated"))
    lines.append("Biomarkers: " + (", ".join(row["biomarkers"]) or "none named"))
    lines.append("Interventions: " + (row["interventions"] or "none listed"))
    for title, text in (("Summary", row["brief_summary"]), ("Eligibility criteria", row["eligibility"])):
        lines += ["", f"{title}:", _wrap(text) if text else "  (not given in the registry record)"]
    sites = tables.sites[tables.sites["nct_id"] == nct]
    place = geo.geocode(near) if near else None
    ordered = geo.sites_by_distance(sites, place, unit=unit)
    lines += ["", f"Sites ({len(ordered)}{', nearest first from ' + place.label if place else ''}):"]
    for _, site in ordered.iterrows():
        where = ", ".join(x for x in (site["city"], site["state"], site["country"]) if x)
        dist = site.get("distance")
        dist_text = f"  ≈{dist:,.0f} {unit}" if place is not None and dist == dist and dist is not None else ""
        status = site["site_status"].replace("_", " ").lower() or "status not listed"
        lines.append(f"  - {site['facility'] or '(facility not named)'} — {where} [{status}]{dist_text}")
        if site.get("contacts"):
            lines.append(f"      contact: {site['contacts']}")
    if row.get("central_contacts"):
        lines.append(f"Central contact: {row['central_contacts']}")
    lines += ["", DISCLAIMER]
    return "\n".join(lines)


def _age(value: float) -> str:
    return "any" if value != value else f"{value:g}"


def _wrap(text: str) -> str:
    return "\n".join(textwrap.fill(p, width=100, initial_indent="  ", subsequent_indent="  ")
                     for p in text.splitlines() if p.strip())
