"""Exports shared by the CLI and the app: CSV, JSON and Excel of exactly the filtered rows.

Registry text is untrusted: every text cell is made inert first (:func:`trialfinder.sanitize.block`:
escape sequences and control characters removed, so a terminal showing a CSV is safe and openpyxl never
meets a character .xlsx forbids), then every cell that a spreadsheet could read as a formula (starting
with = + - @, tab or carriage return — the OWASP CSV-injection rule) is prefixed with a single quote.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd

from ..labels import DISCLAIMER, VERDICT_LABELS
from ..sanitize import block, one_line
from ..source.store import DatasetMeta
from .filters import SearchResult

#: the stable column order of every export (a golden-file test holds it)
COLUMNS = [
    "nct_id", "title", "status", "phases", "categories", "category_evidence", "setting", "biomarkers",
    "min_age_years", "max_age_years", "sex", "sponsor", "sites_count", "last_update", "url", "data_timestamp",
]
NEAR_COLUMNS = ["nearest_site", "nearest_site_status"]
#: with a location, after the distance: how to reach the nearest site (issue 19; the columns before stay)
NEAR_EXTRA_COLUMNS = ["nearest_site_contact"]
#: the eligibility facts (and the verdict, with a profile): after every other column
ELIGIBILITY_COLUMNS = ["max_ecog", "prior_allo_hct", "required_markers", "excluded_markers",
                       "required_prior_therapies", "excluded_prior_therapies", "max_prior_lines",
                       "eligibility_evidence"]
VERDICT_COLUMNS = ["verdict", "verdict_reasons"]
#: export column -> the tables' column it comes from, where the names differ
SOURCE_COLUMNS = {"setting": "disease_setting"}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """'=HYPERLINK(...)' -> "'=HYPERLINK(...)"; other values unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _joined(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ";".join(str(v) for v in value)
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def export_frame(result: SearchResult, labels: bool = False) -> pd.DataFrame:
    """The rows and columns every export writes, lists joined with ';', text made inert, formulas
    neutralised. ``labels``: what a person reads ("Recruiting", "Phase 1/2") instead of the registry's codes.

    (Each column is worked out as a list and the frame is made once: a column added to a frame, or a
    ``Series.map``, costs more than the few hundred cells it holds.)"""
    df = result.studies
    columns = list(COLUMNS)
    if result.place is not None:
        columns += NEAR_COLUMNS + [result.distance_column] + NEAR_EXTRA_COLUMNS
    data: dict[str, Any] = {}
    for col in columns:
        source = SOURCE_COLUMNS.get(col, col)
        if source not in df:
            data[col] = [""] * len(df)
        elif col in {"phases", "setting", "biomarkers"}:
            data[col] = [_joined(v) for v in df[source].tolist()]
        elif col == "categories":
            data[col] = [_joined(v) or "other" for v in df[source].tolist()]
        elif col.startswith("distance_"):
            data[col] = df[source].round(1)
        else:
            data[col] = df[source]
    if labels:
        frame = pd.DataFrame({col: values if isinstance(values, pd.Series) else pd.Series(
            values, index=df.index, dtype=None if values else object) for col, values in data.items()}, index=df.index)
        out = readable(frame, df)
        data = {col: out[col] for col in out.columns}
    data.update(_eligibility_columns(df, result))
    return pd.DataFrame({col: _inert(values) for col, values in data.items()})


def _inert(values: Any) -> pd.Series:
    """A column of the export (a list, or a Series of the studies' rows) with its text made inert and
    formulas neutralised, a missing text as ""; numbers as they are. Indexed 0, 1, ..."""
    if isinstance(values, pd.Series):
        if not (values.dtype == object or pd.api.types.is_string_dtype(values)):
            return values.reset_index(drop=True)
        values = values.tolist()
    return pd.Series([neutralise(block(v)) if isinstance(v, str) else ("" if v is None else v) for v in values],
                     dtype=None if values else object)


def _eligibility_columns(df: pd.DataFrame, result: SearchResult) -> dict[str, list[Any]]:
    """The readable eligibility columns (lists joined with ';', evidence as 'field: sentence | ...'),
    and the verdict and its reasons when a profile was given."""
    facts = df["eligibility"].tolist() if "eligibility" in df else [None] * len(df)
    out: dict[str, list[Any]] = {col: [_fact_text(getattr(e, col, None)) for e in facts]
                                 for col in ELIGIBILITY_COLUMNS[:-1]}
    out["eligibility_evidence"] = [_evidence_text(e) for e in facts]
    if result.spec.profile is not None and "verdict" in df:
        out["verdict"] = [VERDICT_LABELS.get(k, k) for k in df["verdict"].tolist()]
        out["verdict_reasons"] = [" | ".join(r.criterion + (f": {r.sentence}" if r.sentence else "") for r in reasons)
                                  for reasons in df["verdict_reasons"].tolist()]
    return out


def _fact_text(value: Any) -> str:
    if value is None:
        return ""
    return _joined(value) if isinstance(value, tuple) else str(value)


def _evidence_text(e: Any) -> str:
    if e is None:
        return ""
    return " | ".join(f"{name}: {sentence}" for name in ELIGIBILITY_COLUMNS[:-1] for sentence in e.evidence_for(name))


def to_csv(result: SearchResult, labels: bool = False) -> str:
    return export_frame(result, labels).to_csv(index=False, lineterminator="\n")


def to_json(result: SearchResult, meta: DatasetMeta, labels: bool = False) -> str:
    """Every trial's export columns, its ``eligibility`` object (the seven facts, their sentences under
    ``evidence``) in place of the readable eligibility columns, and its verdict with a profile."""
    frame = export_frame(result, labels).drop(columns=ELIGIBILITY_COLUMNS)
    records = json.loads(frame.to_json(orient="records", force_ascii=False))
    facts = result.studies["eligibility"].tolist() if "eligibility" in result.studies else [None] * len(records)
    for record, e in zip(records, facts, strict=True):
        record["eligibility"] = {**e.facts(), "evidence": e.evidence_json()} if e is not None else None
    payload = {"search": search_info(result, meta), "count": len(records), "trials": records}
    return json.dumps(payload, ensure_ascii=False, indent=1)


def search_info(result: SearchResult, meta: DatasetMeta) -> dict[str, str]:
    return {
        "filters": one_line(result.describe()),
        "data_source": one_line(meta.describe()),
        "data_timestamp": one_line(meta.data_timestamp or "unknown"),
        "fetched_at": one_line(meta.fetched_at or ""),
        "trials": str(len(result.studies)),
        **({"profile": result.spec.profile.describe()} if result.spec.profile is not None else {}),
        "note": DISCLAIMER,
    }


def to_xlsx(result: SearchResult, meta: DatasetMeta, labels: bool = False) -> bytes:
    """Sheet 1 'Trials': the rows; sheet 2 'Search': filters, data timestamp and source."""
    buffer = io.BytesIO()
    info = pd.DataFrame(
        [(k.replace("_", " "), neutralise(v)) for k, v in search_info(result, meta).items()], columns=["", "value"]
    )
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        export_frame(result, labels).to_excel(writer, sheet_name="Trials", index=False)
        info.to_excel(writer, sheet_name="Search", index=False)
    return buffer.getvalue()


# --- labels instead of codes (issue 19: exports people can read) -----------------------------------

def readable(out: pd.DataFrame, studies: pd.DataFrame) -> pd.DataFrame:
    """The export's code columns as labels; a field the record lacks says why ("not in this snapshot —
    refresh for the full record" / "not stated in the registry record")."""
    from ..labels import (
        SEX_LABELS,
        SITE_STATUS_UNKNOWN,
        category_labels,
        enrolment_label,
        gap,
        phase_display,
        setting_short,
    )

    out = out.copy()
    missing = studies["partial_record"].map(gap) if "partial_record" in studies else pd.Series(
        gap(False), index=studies.index)
    out["status"] = studies["status"].map(enrolment_label)
    out["phases"] = studies["phases"].map(lambda p: phase_display(p) or "").where(
        studies["phases"].map(bool), missing)
    out["categories"] = studies["categories"].map(category_labels)
    out["setting"] = studies["disease_setting"].map(setting_short)
    known_sex = studies["sex"].map(lambda s: isinstance(s, str) and bool(s))
    out["sex"] = studies["sex"].map(lambda s: SEX_LABELS.get(s, s)).where(known_sex, missing)
    for col in ("min_age_years", "max_age_years"):
        out[col] = studies[col].map(lambda v: "" if v != v else f"{v:g}").astype(object)
    no_ages = studies["min_age_years"].isna() & studies["max_age_years"].isna()
    out.loc[no_ages, "min_age_years"] = missing[no_ages]
    out.loc[~no_ages & studies["max_age_years"].isna(), "max_age_years"] = "no upper limit"
    for col in ("sponsor", "last_update"):
        out[col] = out[col].where(out[col].astype(str) != "", missing)
    if "nearest_site_status" in out:
        located = studies["nearest_site"].notna()
        out["nearest_site_status"] = studies["nearest_site_status"].map(
            lambda s: enrolment_label(s) if s else SITE_STATUS_UNKNOWN).where(located, "")
    return out
