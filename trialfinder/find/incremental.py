"""A refresh rebuilds rows only for the studies whose record changed.

Each study's rows (its study row, its sites, its interventions) depend on its own record alone, and on
the code and rule tables that build them. So tables keep a digest of each study's record
(:func:`record_digests`) and a note of what built them (``Tables.built_by``: the table cache's code
fingerprint and library versions). :func:`update_tables` takes the previous tables of the same
``built_by`` and rebuilds only the studies whose digest is new or changed; every other study's rows are
taken from the previous tables, and all are put in the order a full build gives. The result is equal to
``build_tables(dataset)`` (``tests/test_incremental.py`` compares them frame by frame); when the rules or
the code changed, ``built_by`` differs and the caller builds everything.

The only values that are not the study's own: the data set's timestamp (set anew on every row) and each
site's row number in the studies table (recomputed).
"""

from __future__ import annotations

import hashlib
import marshal
from typing import Any

import numpy as np
import pandas as pd

from ..source.files import gc_paused
from ..source.normalize import nct_id
from ..source.store import Dataset
from .tables import Tables, build_tables


def record_digests(dataset: Dataset) -> dict[str, str] | None:
    """nct_id -> a digest of the study's record (and of whether it is a partial snapshot record); None
    when an id is missing or repeated (such a data set is always built in full).

    The record is serialised with :mod:`marshal` (format 2: no back-references, so the same values give
    the same bytes): plain JSON values, serialised several times faster than by ``json.dumps``; only the
    digest is kept, nothing is ever read back with it."""
    digests: dict[str, str] = {}
    partial = dataset.partial
    for record in dataset.studies:
        nct = nct_id(record)
        if not nct or nct in digests:
            return None
        try:
            body = marshal.dumps(record, 2)
        except ValueError:  # (not plain JSON values: never from a parsed data file)
            return None
        digests[nct] = hashlib.blake2b(body + (b"P" if nct in partial else b"F"), digest_size=12).hexdigest()
    return digests


def update_tables(dataset: Dataset, previous: Tables, digests: dict[str, str]) -> Tables:
    """Tables of ``dataset`` equal to ``build_tables(dataset)``, rebuilding only the studies whose digest
    (``digests``, from :func:`record_digests`) differs from ``previous.digests``. ``previous`` must have
    been built by the same code and libraries (the caller checks ``built_by``)."""
    with gc_paused():  # (as build_tables: many new objects, none in a cycle)
        return _update(dataset, previous, digests)


def _update(dataset: Dataset, previous: Tables, digests: dict[str, str]) -> Tables:
    old = previous.digests
    # (``digests`` has one entry per record, in record order: see record_digests)
    changed = [r for r, (nct, digest) in zip(dataset.studies, digests.items(), strict=True) if old.get(nct) != digest]
    kept = [nct for nct, digest in digests.items() if old.get(nct) == digest]
    if not kept:
        return build_tables(dataset)
    before = previous.studies
    known = dict(zip(before["eligibility_text"].tolist(), before["eligibility"].tolist(), strict=True))
    fresh = None
    if changed:
        fresh = build_tables(Dataset(studies=changed, meta=dataset.meta, partial=dataset.partial), known)
    order = {nct: k for k, nct in enumerate(digests)}  # (every record has a distinct id here)

    studies = previous.studies.loc[kept]
    if fresh is not None:
        studies = pd.concat([studies, fresh.studies])
    studies = studies.take(np.argsort(np.array([order[n] for n in studies.index.tolist()]), kind="stable"))
    studies["data_timestamp"] = _same(dataset.meta.data_timestamp or "", len(studies), studies.index)

    sites = _rows_of(previous.sites, fresh.sites if fresh is not None else None, kept, order)
    position = {nct: k for k, nct in enumerate(studies.index.tolist())}
    sites["study_row"] = np.array([position.get(n, -1) for n in sites["nct_id"].tolist()], dtype="int64")
    interventions = _rows_of(previous.interventions, fresh.interventions if fresh is not None else None, kept, order)
    return Tables(studies=studies, sites=sites, interventions=interventions, meta=dataset.meta, digests=digests)


def _rows_of(before: pd.DataFrame, fresh: pd.DataFrame | None, kept: list[str], order: dict[str, int]) -> pd.DataFrame:
    """The rows of the kept studies (from ``before``) and of the rebuilt ones, in record order (each
    study's rows in their own order), with a new 0..n-1 index."""
    rows = before[before["nct_id"].isin(kept).to_numpy()]
    if fresh is not None and len(fresh):
        rows = pd.concat([rows, fresh]) if len(rows) else fresh
    keys = np.array([order[n] for n in rows["nct_id"].tolist()], dtype="int64")
    return rows.take(np.argsort(keys, kind="stable")).reset_index(drop=True)


def _same(value: Any, n: int, index: pd.Index) -> pd.Series:
    column = np.empty(n, dtype=object)
    column[:] = [value] * n
    return pd.Series(column, index=index, dtype=object, copy=False)
