"""The small display tables the app shows: results, one trial's sites and evidence, counts (charts and words).

Pure functions of a :class:`~trialfinder.find.filters.SearchResult` (no Streamlit import), so they are
unit-tested on their own. Labels come from :mod:`trialfinder.labels`.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from ..find.filters import SearchResult
from ..labels import (
    AGES_NOT_STATED,
    CATEGORY_LABELS,
    SITE_STATUS_UNKNOWN,
    VERDICT_LABELS,
    age_range,
    category_labels,
    distance_label,
    enrolment_label,
    setting_short,
    status_label,
)
from .trial import TrialView

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:])")


def escape_markdown(text: str) -> str:
    """Text that Streamlit's markdown shows literally (for user or data text in our messages)."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def results_frame(result: SearchResult, studies: pd.DataFrame | None = None) -> pd.DataFrame:
    """The results table: one row per trial, readable labels, in the result's order (distance
    first when there is a location: it is what a patient looks at). ``studies``: other rows of
    the same search (e.g. ``result.unlocated_studies``) in the same layout."""
    df = result.studies if studies is None else studies
    out = pd.DataFrame({"url": df["url"]}, index=df.index)
    if result.place is not None:
        out["distance"] = df[result.distance_column].map(lambda d: distance_label(d, result.spec.unit))
    out["title"] = df["title"]
    partial = df["partial_record"] if "partial_record" in df else pd.Series(False, index=df.index)
    out["phase"] = df["phase"].where(df["phase"] != "", partial.map(lambda p: "not in snapshot" if p else "not stated"))
    out["status"] = df["status"].map(enrolment_label)
    out["categories"] = df["categories"].map(category_labels)
    out["setting"] = df["disease_setting"].map(setting_short)
    none = pd.Series(None, index=df.index, dtype=object)
    out["evidence"] = [evidence_text(cats, why) for cats, why in zip(df["categories"], df.get("evidence", none),
                                                                        strict=True)]
    out["biomarkers"] = df.get("biomarkers", none).map(lambda k: ", ".join(k) if isinstance(k, (tuple, list)) else "")
    if result.place is not None:
        near_open = df["nearest_is_open"].astype("boolean").fillna(False).astype(bool)
        site = df["nearest_site"].astype(object).where(df["nearest_site"].notna(), "")
        status = df["nearest_site_status"].map(status_label)
        out["nearest_site"] = site
        out["site_status"] = np.where(
            site == "", "no located site",
            np.where(near_open, status, np.where(status == "", SITE_STATUS_UNKNOWN, "no recruiting site; nearest is "
                                                 + status)),
        )
    else:  # no place: its sites, counted (an absent site status is unknown, so only open ones are claimed)
        zero = pd.Series(0, index=df.index)
        out["sites"] = [(f"{n} site{'s' if n != 1 else ''}" + (f", {o} open to enrolment" if o else "")) if n
                        else "no site listed" for o, n in zip(df.get("open_sites_count", zero).fillna(0).astype(int),
                                                              df.get("sites_count", zero).fillna(0).astype(int),
                                                              strict=True)]
    if result.spec.age is not None:  # the age asked for: say which trials do not state their ages
        out["ages"] = [age_range(low, high) if low == low or high == high else AGES_NOT_STATED
                       for low, high in zip(df["min_age_years"], df["max_age_years"], strict=True)]
    out["last_update"] = df["last_update_date"]
    if "verdict" in df:  # the patient gave her details: the verdict for her, likely excluded last
        out["verdict"] = df["verdict"].map(lambda k: VERDICT_LABELS.get(k, ""))
    return out.reset_index(drop=True)


def evidence_text(categories: Any, evidence: Any) -> str:
    """Each category with why it applies: 'Targeted therapy: Ziftomenib — menin inhibitor' (one a line)."""
    why = evidence if isinstance(evidence, dict) else {}
    keys = tuple(categories) if isinstance(categories, (tuple, list)) else ()
    return "\n".join(f"{CATEGORY_LABELS.get(k, k)}: {why.get(k, '')}".rstrip(": ") for k in keys)


def eligibility_frame(view: TrialView) -> pd.DataFrame:
    """The trial's eligibility facts: what each says and the criterion sentences it came from."""
    return pd.DataFrame([{"fact": label, "value": value, "from the criteria": "\n".join(sentences)}
                         for label, value, sentences in view.eligibility_facts],
                        columns=["fact", "value", "from the criteria"])


def verdict_frame(view: TrialView) -> pd.DataFrame:
    """Why the verdict: each criterion in conflict or to check, with its sentence."""
    reasons = view.verdict.reasons if view.verdict is not None else ()
    return pd.DataFrame([{"": "likely excluded" if r.kind == "likely_excluded" else "check",
                          "criterion": r.criterion, "sentence": r.sentence} for r in reasons],
                        columns=["", "criterion", "sentence"])


def sites_frame(view: TrialView) -> pd.DataFrame:
    """One trial's sites, nearest first; sites without coordinates last, unranked."""
    ordered = view.sites
    return pd.DataFrame(
        {
            "facility": ordered["facility"].replace("", "(not named)"),
            "city": ordered["city"],
            "state": ordered["state"],
            "country": ordered["country"],
            "status": ordered["site_status"].map(status_label).replace("", SITE_STATUS_UNKNOWN),
            "distance": ordered["distance"].map(lambda d: distance_label(d, view.unit) if view.place else ""),
            "contacts": ordered["contacts"],
        }
    ).reset_index(drop=True)


def evidence_frame(view: TrialView) -> pd.DataFrame:
    """Category label -> why the trial is in it."""
    rows = view.categories or [(CATEGORY_LABELS["other"], "")]
    return pd.DataFrame({"category": [label for label, _ in rows], "evidence": [why for _, why in rows]})


def category_counts(result: SearchResult) -> pd.Series:
    """Trials per treatment category (a trial in two categories counts in both)."""
    labels = result.studies["categories"].map(lambda c: list(c) or ["other"]).explode()
    counts = labels.map(lambda k: CATEGORY_LABELS.get(k, k)).value_counts()
    counts.index.name, counts.name = "category", "trials"
    return counts


def bar_spec(counts: pd.Series, height: int) -> dict[str, Any]:
    """A horizontal bar chart of ``counts`` (a category_counts or phase_counts) as a Vega-Lite spec, largest
    first, with its data (for ``st.vega_lite_chart``: a plain spec needs no Altair, ~0.6 s to import)."""
    label, value = counts.index.name or "label", counts.name or "count"
    data = pd.DataFrame({label: [str(k) for k in counts.index], value: counts.to_numpy()})
    return {"data": {"values": data}, "mark": {"type": "bar"}, "height": height,
            "encoding": {"y": {"field": label, "type": "nominal", "sort": "-x", "title": label},
                         "x": {"field": value, "type": "quantitative", "title": value, "axis": {"tickMinStep": 1}},
                         "tooltip": [{"field": label, "type": "nominal"}, {"field": value, "type": "quantitative"}]}}


def counts_text(counts: pd.Series) -> str:
    """A chart's counts in words: 'Targeted therapy: 5 · Chemotherapy: 3' (its text alternative)."""
    return " · ".join(f"{label}: {int(n)}" for label, n in counts.items())


def of_them(n: int) -> str:
    """'1 of them has' / '3 of them have' (the verb agrees)."""
    return f"{n} of them {'has' if n == 1 else 'have'}"


def phase_counts(result: SearchResult) -> pd.Series:
    counts = result.studies["phase"].replace("", "not given").value_counts()
    counts.index.name, counts.name = "phase", "trials"
    return counts
