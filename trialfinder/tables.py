"""Tidy pandas tables from a data set: studies, sites, interventions — classified and located."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from . import geo
from .biomarkers import biomarkers
from .categories import classify
from .normalize import site_rows, study_facts, study_row
from .setting import disease_setting
from .store import Dataset, DatasetMeta
from .vocab import OPEN_SITE_STATUSES, PHASE_ORDER, phase_display

#: standard age groups -> (lowest, highest) age in years they cover
AGE_GROUP_BOUNDS = {"CHILD": (0.0, 17.999), "ADULT": (18.0, 64.999), "OLDER_ADULT": (65.0, None)}

SITE_COLUMNS = [
    "nct_id", "facility", "city", "state", "zip", "country", "site_status", "latitude", "longitude", "contacts",
]
INTERVENTION_COLUMNS = ["nct_id", "type", "name", "other_names", "description", "categories"]


@dataclass
class Tables:
    studies: pd.DataFrame  # index: nct_id
    sites: pd.DataFrame
    interventions: pd.DataFrame
    meta: DatasetMeta


def _ages_from_groups(groups: tuple[str, ...]) -> tuple[float | None, float | None]:
    bounds = [AGE_GROUP_BOUNDS[g] for g in groups if g in AGE_GROUP_BOUNDS]
    if not bounds:
        return None, None
    low = min(b[0] for b in bounds)
    high = None if any(b[1] is None for b in bounds) else max(b[1] for b in bounds if b[1] is not None)
    return low, high


def _evidence_text(evidence: dict[str, str], categories: tuple[str, ...]) -> str:
    return " | ".join(f"{key}: {evidence[key]}" for key in categories if evidence.get(key))


def build_tables(dataset: Dataset) -> Tables:
    """Every study becomes one row; nothing is dropped (unclassifiable studies are 'other')."""
    rows: list[dict[str, Any]] = []
    site_list: list[dict[str, Any]] = []
    int_rows: list[dict[str, Any]] = []
    stamp = dataset.meta.data_timestamp or ""
    for record in dataset.studies:
        row = study_row(record)
        if not row["nct_id"]:
            continue
        facts = study_facts(record)
        result = classify(facts)
        row["categories"] = result.categories
        row["category_evidence"] = _evidence_text(result.evidence, result.categories)
        row["evidence"] = dict(result.evidence)
        row["setting"] = disease_setting(facts)
        row["biomarkers"] = biomarkers(facts, result)
        row["interventions"] = "; ".join(
            f"{i.type.title().replace('_', ' ')}: {i.name}" if i.type else i.name for i in facts.interventions
        )
        row["data_timestamp"] = stamp
        if row["min_age_years"] is None and row["max_age_years"] is None:
            row["min_age_years"], row["max_age_years"] = _ages_from_groups(row["age_groups"])
            row["age_from_groups"] = bool(row["age_groups"])
        else:
            row["age_from_groups"] = False
        rows.append(row)
        for intervention, cats in zip(facts.interventions, result.by_intervention, strict=True):
            int_rows.append(
                {
                    "nct_id": row["nct_id"],
                    "type": intervention.type,
                    "name": intervention.name,
                    "other_names": "; ".join(intervention.other_names),
                    "description": intervention.description,
                    "categories": tuple(cats),
                }
            )
        site_list.extend(site_rows(record))

    studies = pd.DataFrame(rows)
    if studies.empty:
        studies = pd.DataFrame(columns=["nct_id", "title", "status", "phases", "categories", "setting", "biomarkers"])
    studies = studies.drop_duplicates("nct_id", keep="last").set_index("nct_id", drop=False)
    studies.index.name = None
    studies["search_text"] = [  # what the text filter looks in: the trial's names and why it was classified
        " ".join((r.nct_id, r.title, r.official_title, r.interventions, r.sponsor, r.category_evidence,
                  " ".join(r.conditions), " ".join(r.keywords), " ".join(r.biomarkers))).lower()
        for r in studies.itertuples()
    ]
    studies["phase"] = studies["phases"].map(phase_display)
    studies["phase_rank"] = studies["phases"].map(lambda ps: max((PHASE_ORDER.get(p, -1) for p in ps), default=-1))
    studies["last_update_date"] = pd.to_datetime(studies["last_update"], errors="coerce", format="mixed")
    for col in ("min_age_years", "max_age_years", "enrollment"):
        studies[col] = pd.to_numeric(studies[col], errors="coerce").astype("float64")

    sites = pd.DataFrame(site_list, columns=SITE_COLUMNS)
    sites["latitude"] = pd.to_numeric(sites["latitude"], errors="coerce").astype("float64")
    sites["longitude"] = pd.to_numeric(sites["longitude"], errors="coerce").astype("float64")
    sites = geo.locate_sites(sites)
    grouped = sites.groupby("nct_id")
    studies["sites_count"] = grouped.size().reindex(studies.index).fillna(0).astype(int)
    open_sites = sites[sites["site_status"].isin(OPEN_SITE_STATUSES)].groupby("nct_id").size()
    studies["open_sites_count"] = open_sites.reindex(studies.index).fillna(0).astype(int)
    studies["countries"] = grouped["country"].agg(lambda c: tuple(sorted({x for x in c if x}))).reindex(studies.index)
    studies["states"] = grouped["state"].agg(lambda c: tuple(sorted({x for x in c if x}))).reindex(studies.index)
    for col in ("countries", "states"):
        studies[col] = studies[col].map(lambda v: v if isinstance(v, tuple) else ())

    # for the filter path: each site's study as a row number, and whether the site itself is open
    sites["study_row"] = studies.index.get_indexer(sites["nct_id"])
    sites["site_open"] = sites["site_status"].isin(OPEN_SITE_STATUSES).to_numpy(dtype=bool)
    sites["site_label"] = geo.site_labels(sites)
    interventions = pd.DataFrame(int_rows, columns=INTERVENTION_COLUMNS)
    return Tables(studies=_plain_strings(studies), sites=_plain_strings(sites),
                  interventions=_plain_strings(interventions), meta=dataset.meta)


def _plain_strings(df: pd.DataFrame) -> pd.DataFrame:
    """Python-object string columns: row selection and sorting (every filter change) are several
    times faster on them than on pandas 3's Arrow-backed strings."""
    text = {c: object for c in df.columns if df[c].dtype != object and pd.api.types.is_string_dtype(df[c])}
    return df.astype(text) if text else df
