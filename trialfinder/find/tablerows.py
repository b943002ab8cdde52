"""Built tables as rows of the data-set database, so that one process builds them and every other reads them.

In a shared deployment the refresher (``trialfinder fetch``) builds the tables of the data set it saved
and stores them beside it (:func:`write_shared`); an app replica or ``trialfinder search`` that has
no local copy reads them (:func:`read_shared`) instead of classifying and locating every study again.
The tables and their columns are described in :mod:`trialfinder.source.schema`; the database itself
is :class:`~trialfinder.source.database.DbStore`'s business (``save_built``, ``load_built``).

A frame column becomes an SQL column of its kind (text, numbers, flags; dates as ISO text), or JSON text
(tuples of text, dicts of text, eligibility facts as their ``to_json``: the column kinds of
:mod:`.tablefile`); a column the schema has no column for goes into the row's ``extra`` JSON. The
studies' ``categories`` and ``evidence`` are the ``labels`` table: one row a (study, category). The
``built`` row holds the layout (each frame's columns and kinds, in order, and the record digests) and
the SHA-256 of every value written; reading recomputes it from what it read, so a row set edited,
cut short or half-written is rebuilt, never shown. Reading runs no code: JSON and plain values only.
"""

from __future__ import annotations

import hashlib
import json
import marshal
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import BigInteger, Boolean, Float, Table, Text

from ..errors import DataError, StoreUnavailable
from ..source.database import Built, DbStore, built_columns
from ..source.schema import interventions, labels, sites, study_rows
from .tablefile import Unstorable, column_kind, eligibility_from_json, eligibility_json
from .tables import Tables

LAYOUT = 1
FRAMES: tuple[tuple[str, Table], ...] = (("studies", study_rows), ("sites", sites), ("interventions", interventions))
#: the studies frame's columns held in ``labels``
LABELLED = ("categories", "evidence")
#: the SQL type of each kind of column that is not text
SQL_TYPES: dict[str, type] = {"float64": Float, "int64": BigInteger, "bool": Boolean}


# --- frames into rows ----------------------------------------------------------------------------

def to_rows(tables: Tables) -> tuple[str, str, dict[str, list[tuple[Any, ...]]]]:
    """The layout (JSON), the checksum and the rows (each in ``built_columns`` order) of ``tables``.
    Raises :class:`Unstorable` when a column cannot be kept exactly."""
    layout: dict[str, Any] = {"format": LAYOUT, "digests": tables.digests}
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for name, table in FRAMES:
        frame = getattr(tables, name)
        labelled = name == "studies" and all(c in frame.columns for c in LABELLED)
        layout[name], rows[table.name] = _frame_rows(frame, table, LABELLED if labelled else ())
    rows[labels.name] = _label_rows(tables.studies) if layout["studies"]["labelled"] else []
    text = json.dumps(layout, ensure_ascii=False)
    return text, checksum(text, rows), rows


Rows = list[tuple[Any, ...]]


def _frame_rows(frame: pd.DataFrame, table: Table, labelled: tuple[str, ...]) -> tuple[dict[str, Any], Rows]:
    index = frame.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1 and index.name is None:
        index_kind, keys = "range", None
    elif index.dtype == "str" and index.name is None:
        index_kind, keys = "str", index.tolist()
    else:
        raise Unstorable(f"an index of {index.dtype}")
    kinds: list[list[str]] = []
    values: dict[str, list[Any]] = {"row": list(range(len(frame))), "row_key": keys or [None] * len(frame)}
    extra: dict[str, list[Any]] = {}
    for name in frame.columns:
        if name in labelled:
            kinds.append([str(name), "labels"])
            continue
        kind, column = _encode(frame[name])
        kinds.append([str(name), kind])
        (values if _fits(table, str(name), kind) else extra)[str(name)] = column
    if extra:
        values["extra"] = [json.dumps(dict(zip(extra, row, strict=True)), ensure_ascii=False)
                           for row in zip(*extra.values(), strict=True)] if len(frame) else []
    names = [c.name for c in built_columns(table)]
    none = [None] * len(frame)
    rows = list(zip(*(values.get(n, none) for n in names), strict=True)) if len(frame) else []
    return {"index": index_kind, "columns": kinds, "labelled": bool(labelled)}, rows


def _fits(table: Table, name: str, kind: str) -> bool:
    """Whether a frame column has a column of its own in ``table`` (else it goes into ``extra``)."""
    sql = table.c.get(name)
    reserved = name in ("row", "row_key", "extra")
    return sql is not None and not reserved and isinstance(sql.type, SQL_TYPES.get(kind, Text))


def _encode(column: pd.Series) -> tuple[str, list[Any]]:
    """A column's kind and its values as SQL values."""
    if column.dtype == object:
        values = column.tolist()
        kind = column_kind(values)
        if kind == "tuple":
            memo: dict[tuple[str, ...], str] = {}
            return kind, [memo.get(v) or memo.setdefault(v, json.dumps(list(v), ensure_ascii=False)) for v in values]
        if kind == "dict":
            return kind, [json.dumps(v, ensure_ascii=False) for v in values]
        if kind == "eligibility":
            return kind, eligibility_json(values)
        return kind, values
    kind = str(column.dtype)
    if kind == "float64":
        return kind, [None if v != v else v for v in column.tolist()]
    if kind in ("int64", "bool"):
        return kind, column.tolist()
    if column.dtype.kind == "M":
        return kind, [None if t == "NaT" else t for t in np.datetime_as_string(column.to_numpy()).tolist()]
    raise Unstorable(f"column {column.name!r} has dtype {column.dtype}")


def _label_rows(studies: pd.DataFrame) -> list[tuple[Any, ...]]:
    """One row a (study, category): (row, rank, nct_id, category, evidence, extra)."""
    rows: list[tuple[Any, ...]] = []
    for row, (nct, cats, evidence) in enumerate(zip(studies["nct_id"].tolist(), studies["categories"].tolist(),
                                                    studies["evidence"].tolist(), strict=True)):
        if type(cats) is not tuple or type(evidence) is not dict or set(evidence) - set(cats) \
                or not all(type(c) is str for c in cats) or not all(type(e) is str for e in evidence.values()):
            raise Unstorable("categories or evidence that the labels table cannot hold")
        rows += [(row, rank, nct, cat, evidence.get(cat), None) for rank, cat in enumerate(cats)]
    return rows


def checksum(layout: str, rows: dict[str, list[tuple[Any, ...]]]) -> str:
    """The SHA-256 of the layout and of every value of every row, in order, serialised with :mod:`marshal`
    format 2 (as :func:`.incremental.record_digests` does: the same values and types give the same bytes,
    several times faster than JSON; only the digest is kept, nothing is read back with it)."""
    digest = hashlib.sha256(layout.encode("utf-8", "surrogatepass"))
    for table in (study_rows, sites, interventions, labels):
        digest.update(marshal.dumps((str(table.name), rows.get(table.name, [])), 2))
    return digest.hexdigest()


# --- rows into frames ----------------------------------------------------------------------------

def from_rows(found: Built, built_by: str) -> Tables:
    """The tables stored as ``found``; ValueError when they are damaged or not of this layout."""
    if checksum(found.layout, found.rows) != found.sha256:
        raise ValueError("the stored rows do not match their checksum")
    layout = json.loads(found.layout)
    if not isinstance(layout, dict) or layout.get("format") != LAYOUT or not isinstance(layout.get("digests"), dict):
        raise ValueError("not a layout of this version")
    frames = {name: _frame(found.rows[table.name], table, layout[name], found.rows[labels.name])
              for name, table in FRAMES}
    meta = found.meta
    meta.source = "cache"
    return Tables(studies=frames["studies"], sites=frames["sites"], interventions=frames["interventions"],
                  meta=meta, digests=layout["digests"], built_by=built_by)


def _frame(rows: list[tuple[Any, ...]], table: Table, layout: dict[str, Any],
           label_rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    names = [c.name for c in built_columns(table)]
    stored = dict(zip(names, map(list, zip(*rows, strict=True)), strict=True)) if rows else {n: [] for n in names}
    if stored["row"] != list(range(len(rows))):
        raise ValueError(f"{table.name}: rows missing or out of order")
    extras = [json.loads(e) if e is not None else {} for e in stored["extra"]]
    labelled = _labels(label_rows, len(rows)) if layout["labelled"] else {}
    columns: dict[str, pd.Series] = {}
    for name, kind in layout["columns"]:
        if kind == "labels":
            columns[name] = labelled[name]
        else:
            columns[name] = _decode(stored[name] if _fits(table, name, kind) else [e[name] for e in extras], kind)
    frame = pd.DataFrame(columns, copy=False)
    if layout["index"] == "str":
        frame.index = pd.Index(stored["row_key"], dtype="str")
    elif layout["index"] != "range":
        raise ValueError("unknown index")
    return frame


def _decode(values: list[Any], kind: str) -> pd.Series:
    if kind in ("str", "str?"):
        if not all(type(v) is str or (kind == "str?" and v is None) for v in values):
            raise ValueError("a text column holding something else")
        return _objects(values)
    if kind == "tuple":
        memo: dict[str, tuple[str, ...]] = {}
        return _objects([memo.get(v) or memo.setdefault(v, _strings(json.loads(v))) for v in values])
    if kind == "dict":
        return _objects([json.loads(v) for v in values])
    if kind == "eligibility":
        return _objects(eligibility_from_json(values))
    if kind in ("float64", "int64", "bool") or kind.startswith("datetime64["):
        if kind in ("int64", "bool") and any(v is None for v in values):
            raise ValueError(f"a missing value in a column of {kind}")
        return pd.Series(np.array(values if kind[0] != "d" else [v or "NaT" for v in values], dtype=kind),
                         dtype=kind, copy=False)
    raise ValueError(f"unknown column kind {kind!r}")


def _labels(rows: list[tuple[Any, ...]], n: int) -> dict[str, pd.Series]:
    """The studies' ``categories`` and ``evidence`` from the labels rows (row, rank, nct_id, category, evidence)."""
    cats: list[list[str]] = [[] for _ in range(n)]
    evidence: list[dict[str, str]] = [{} for _ in range(n)]
    for row, rank, _nct, category, text, _extra in rows:
        if not 0 <= row < n or rank != len(cats[row]) or type(category) is not str:
            raise ValueError("labels rows missing or out of order")
        cats[row].append(category)
        if text is not None:
            evidence[row][category] = text
    return {"categories": _objects([tuple(c) for c in cats]), "evidence": _objects(evidence)}


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(type(v) is str for v in value):
        raise ValueError("a tuple column holding something else")
    return tuple(value)


def _objects(values: list[Any]) -> pd.Series:
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return pd.Series(column, dtype=object, copy=False)


# --- the store -----------------------------------------------------------------------------------

def read_shared(store: DbStore, built_by: str, which: str = "current") -> tuple[Tables | None, bool]:
    """The current (or previous) data set's tables built by ``built_by``, from the store: (tables, False); (None, True)
    when they are stored but damaged (rebuild them, and replace them); (None, False) when they are not
    there or cannot be read now (a role without access to them: the caller builds them)."""
    try:
        found = store.load_built(built_by, which)
    except (StoreUnavailable, DataError):
        return None, False
    if found is None:
        return None, False
    try:
        return from_rows(found, built_by), False
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError):
        return None, True


def write_shared(store: DbStore, dataset_id: int, tables: Tables, built_by: str, *, replace: bool = False) -> bool:
    """Store ``tables`` (built by ``built_by`` from the stored data set ``dataset_id``) for every other
    process; False when they were not written: there already, the set gone, a value the rows cannot keep
    exactly, or a store that cannot be written (a read-only role: each process then builds its own)."""
    try:
        layout, sha256, rows = to_rows(tables)
    except Unstorable:
        return False
    dicts = {}
    for table in (study_rows, sites, interventions, labels):
        names = [c.name for c in built_columns(table)]
        dicts[table.name] = [dict(zip(names, row, strict=True)) for row in rows[table.name]]
    try:
        return store.save_built(dataset_id, built_by, layout, sha256, dicts, replace=replace)
    except (StoreUnavailable, DataError, UnicodeError):
        return False
