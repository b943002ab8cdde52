"""Exports shared by the CLI and the app: CSV, JSON and Excel of exactly the filtered rows.

Registry text is untrusted: every text cell that a spreadsheet could read as a formula
(starting with = + - @, tab or carriage return — the OWASP CSV-injection rule) is prefixed
with a single quote.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd

from ..labels import DISCLAIMER, VERDICT_LABELS
from ..source.store import DatasetMeta
from .filters import SearchResult

#: the stable column order of every export (a golden-file test holds it)
COLUMNS = [
    "nct_id", "title", "status", "phases", "categories", "category_evidence", "setting", "biomarkers",
    "min_age_years", "max_age_years", "sex", "sponsor", "sites_count", "last_update", "url", "data_timestamp",
]
NEAR_COLUMNS = ["nearest_site", "nearest_site_status"]
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


def export_frame(result: SearchResult) -> pd.DataFrame:
    """The rows and columns every export writes, lists joined with ';', formulas neutralised."""
    df = result.studies
    columns = list(COLUMNS)
    if result.place is not None:
        columns += NEAR_COLUMNS + [result.distance_column]
    out = pd.DataFrame(index=df.index)
    for col in columns:
        source = SOURCE_COLUMNS.get(col, col)
        series = df[source] if source in df else pd.Series("", index=df.index)
        if col in {"phases", "setting", "biomarkers"}:
            series = series.map(_joined)
        elif col == "categories":
            series = series.map(lambda v: _joined(v) or "other")
        elif col.startswith("distance_"):
            series = series.round(1)
        out[col] = series
    _add_eligibility(out, df, result)
    out = out.reset_index(drop=True)
    text_cols = [c for c in out.columns if out[c].dtype == object or pd.api.types.is_string_dtype(out[c])]
    for col in text_cols:
        out[col] = out[col].map(lambda v: neutralise(v) if isinstance(v, str) else ("" if v is None else v))
    return out


def _add_eligibility(out: pd.DataFrame, df: pd.DataFrame, result: SearchResult) -> None:
    """The readable eligibility columns (lists joined with ';', evidence as 'field: sentence | ...'),
    and the verdict and its reasons when a profile was given."""
    facts = df["eligibility"] if "eligibility" in df else pd.Series(None, index=df.index, dtype=object)
    for col in ELIGIBILITY_COLUMNS[:-1]:
        out[col] = facts.map(lambda e, c=col: _fact_text(getattr(e, c, None)))
    out["eligibility_evidence"] = facts.map(_evidence_text)
    if result.spec.profile is not None and "verdict" in df:
        out["verdict"] = df["verdict"].map(lambda k: VERDICT_LABELS.get(k, k))
        out["verdict_reasons"] = df["verdict_reasons"].map(
            lambda reasons: " | ".join(r.criterion + (f": {r.sentence}" if r.sentence else "") for r in reasons))


def _fact_text(value: Any) -> str:
    if value is None:
        return ""
    return _joined(value) if isinstance(value, tuple) else str(value)


def _evidence_text(e: Any) -> str:
    if e is None:
        return ""
    return " | ".join(f"{name}: {sentence}" for name in ELIGIBILITY_COLUMNS[:-1] for sentence in e.evidence_for(name))


def to_csv(result: SearchResult) -> str:
    return export_frame(result).to_csv(index=False, lineterminator="\n")


def to_json(result: SearchResult, meta: DatasetMeta) -> str:
    """Every trial's export columns, its ``eligibility`` object (the seven facts, their sentences under
    ``evidence``) in place of the readable eligibility columns, and its verdict with a profile."""
    frame = export_frame(result).drop(columns=ELIGIBILITY_COLUMNS)
    records = json.loads(frame.to_json(orient="records", force_ascii=False))
    facts = result.studies["eligibility"].tolist() if "eligibility" in result.studies else [None] * len(records)
    for record, e in zip(records, facts, strict=True):
        record["eligibility"] = {**e.facts(), "evidence": e.evidence_json()} if e is not None else None
    payload = {"search": search_info(result, meta), "count": len(records), "trials": records}
    return json.dumps(payload, ensure_ascii=False, indent=1)


def search_info(result: SearchResult, meta: DatasetMeta) -> dict[str, str]:
    return {
        "filters": result.describe(),
        "data_source": meta.describe(),
        "data_timestamp": meta.data_timestamp or "unknown",
        "fetched_at": meta.fetched_at or "",
        "trials": str(len(result.studies)),
        **({"profile": result.spec.profile.describe()} if result.spec.profile is not None else {}),
        "note": DISCLAIMER,
    }


def to_xlsx(result: SearchResult, meta: DatasetMeta) -> bytes:
    """Sheet 1 'Trials': the rows; sheet 2 'Search': filters, data timestamp and source."""
    buffer = io.BytesIO()
    info = pd.DataFrame(
        [(k.replace("_", " "), neutralise(v)) for k, v in search_info(result, meta).items()], columns=["", "value"]
    )
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        export_frame(result).to_excel(writer, sheet_name="Trials", index=False)
        info.to_excel(writer, sheet_name="Search", index=False)
    return buffer.getvalue()
