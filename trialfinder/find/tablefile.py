"""Built tables on disk in a data format, Parquet: plain typed columns, so reading a file runs no code.

A cache file in a folder someone else can write (a shared deployment, a copied home folder) must not
be able to run code when it is read, as a pickle can. One file holds the three frames of
:class:`~trialfinder.find.tables.Tables`, each a Parquet document (``MAGIC``, then for each frame its
length as 8 bytes and its bytes), with the kinds of its columns and the data set's meta in the Parquet
schema's metadata. Column kinds:

* numbers, flags and dates as themselves (NaN and NaT kept);
* text as strings (None kept as null);
* tuples of text (phases, categories, …) as lists of strings, read back as tuples;
* dicts of text (the evidence) as JSON text, read back as dicts;
* eligibility facts (:class:`~trialfinder.classify.eligibility.Eligibility`) as the JSON of their
  ``to_json``, read back with ``from_json`` (plain values: reading runs no code of the file's).

The studies document's metadata also holds each study's record digest and what built the tables
(``Tables.digests``, ``Tables.built_by``), which an incremental refresh reads (:mod:`.incremental`).

Text is read back as Parquet keeps it, each distinct text once (dictionary pages): one Python string
per distinct text, shared by the rows holding it; JSON texts are parsed once per distinct text (each
row still gets a dict of its own). An object column holding anything else is not written
(:class:`Unstorable`): the tables are then rebuilt each time, which is slow but right. Reading checks
every column against the kinds recorded when writing; anything unexpected raises ValueError, and the
caller rebuilds.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..classify.eligibility_facts import Eligibility
from ..source.files import gc_paused
from ..source.store import DatasetMeta
from .tables import Tables

FRAMES = ("studies", "sites", "interventions")
FORMAT = 1
#: rows encoded and written at a time (one Parquet row group), by frame: a study's row holds its texts (~10 KB),
#: a site's a few short ones. At 50,000 studies the Arrow copy of 10,000 study rows raised the first search's
#: peak by ~80 MB over 2,000 (1,813 against 1,730 MB, measured 2026-12-06)
ROW_GROUPS = {"studies": 2_000, "sites": 10_000, "interventions": 10_000}


class Unstorable(ValueError):
    """A column holds values this format does not keep exactly."""


def column_kind(values: list[Any]) -> str:
    types = set(map(type, values))
    if types <= {str}:
        return "str"
    if types <= {str, type(None)}:
        return "str?"
    if types == {tuple} and all(type(x) is str for v in values for x in v):
        return "tuple"
    if types == {dict} and all(type(k) is str and type(x) is str for v in values for k, x in v.items()):
        return "dict"
    if types <= {Eligibility, type(None)}:
        return "eligibility"
    raise Unstorable(f"a column holds {sorted(t.__name__ for t in types)}")


def _kinds(frame: pd.DataFrame) -> dict[str, str]:
    """What each column holds (:func:`column_kind`, or its dtype) and the index's kind, from the whole
    frame: every row group of the file is written with these."""
    kinds = {}
    for name in frame.columns:
        column = frame[name]
        if column.dtype == object:
            kinds[str(name)] = column_kind(column.tolist())
        elif column.dtype.kind in "fiubM":
            kinds[str(name)] = str(column.dtype)
        else:
            raise Unstorable(f"column {name!r} has dtype {column.dtype}")
    index = frame.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1 and index.name is None:
        index_kind = "range"
    elif index.dtype == "str" and index.name is None:
        index_kind = "str"
    else:
        raise Unstorable(f"an index of {index.dtype}")
    return {"__index__": index_kind, **kinds}


def _encode(frame: pd.DataFrame, kinds: dict[str, str]) -> pa.Table:
    """``frame`` (or some of its rows) as an Arrow table of the column kinds ``kinds``."""
    arrays = []
    for name in frame.columns:
        column, kind = frame[name], kinds[str(name)]
        if kind == "tuple":
            arrays.append(pa.array(column.tolist(), type=pa.list_(pa.string())))
        elif kind == "dict":
            arrays.append(pa.array([json.dumps(v, ensure_ascii=False) for v in column.tolist()], type=pa.string()))
        elif kind == "eligibility":
            arrays.append(pa.array(eligibility_json(column.tolist()), type=pa.string()))
        elif kind in ("str", "str?"):
            arrays.append(pa.array(column.tolist(), type=pa.string()))
        else:
            arrays.append(pa.array(column.to_numpy(), from_pandas=column.dtype.kind == "M"))
    if kinds["__index__"] == "str":
        arrays.append(pa.array(frame.index.to_numpy(dtype=object), type=pa.string()))
    names = [str(n) for n in frame.columns] + (["__index__"] if kinds["__index__"] != "range" else [])
    return pa.Table.from_arrays(arrays, names=names)


def _decode(table: pa.Table, kinds: dict[str, str]) -> pd.DataFrame:
    if set(table.column_names) - {"__index__"} != set(kinds) - {"__index__"}:
        raise ValueError("the columns are not the ones recorded")
    columns: dict[str, Any] = {}
    for name, kind in kinds.items():
        if name == "__index__":
            continue
        chunked = table.column(name)
        if kind in ("str", "str?"):
            columns[name] = _objects(_texts(chunked))
        elif kind == "tuple":
            columns[name] = _objects(_tuples(chunked))
        elif kind == "dict":
            parsed = _each_distinct(chunked, json.loads)
            columns[name] = _objects([dict(v) for v in parsed])  # (a dict of its own for each row)
        elif kind == "eligibility":
            columns[name] = _objects(_each_distinct(chunked, _eligibility_from_text))
        else:
            values = chunked.to_numpy()
            if values.dtype.kind == "M" and kind.startswith("datetime64[") and str(values.dtype) != kind:
                values = values.astype(kind)  # (Parquet has no unit of seconds: a [s] column is read back as [ms])
            if str(values.dtype) != kind:
                raise ValueError(f"column {name!r} is {values.dtype}, not {kind}")
            columns[name] = pd.Series(values, dtype=kind, copy=False)
    frame = pd.DataFrame(columns, copy=False)
    if kinds["__index__"] == "str":
        frame.index = pd.Index(_texts(table.column("__index__")), dtype="str")
    elif kinds["__index__"] != "range":
        raise ValueError("unknown index")
    return frame


def _read_dictionary(schema: pa.Schema) -> list[str]:
    """The text columns (and the texts of the list columns), to be read as Parquet stores them:
    each distinct text once, and a number per row (made into one Python string per distinct text,
    shared by the rows that hold it, rather than one per row)."""
    out = []
    for f in schema:
        if f.type == pa.string():
            out.append(f.name)
        elif f.type == pa.list_(pa.string()):
            out.append(f"{f.name}.list.element")
    return out


def _words(array: pa.Array) -> np.ndarray:
    """A dictionary-encoded text array as an object array of str (None for null)."""
    if not (pa.types.is_dictionary(array.type) and array.type.value_type == pa.string()):
        raise ValueError(f"a column is {array.type}, not text")
    words = array.dictionary.to_numpy(zero_copy_only=False)
    indices = array.indices
    if not indices.null_count:
        return words.take(indices.to_numpy())  # type: ignore[no-any-return]
    out = words.take(indices.fill_null(0).to_numpy())
    out[indices.is_null().to_numpy(zero_copy_only=False)] = None
    return out  # type: ignore[no-any-return]


def _texts(chunked: pa.ChunkedArray) -> np.ndarray:
    if chunked.type == pa.string():  # (not read as a dictionary)
        return chunked.to_numpy()  # type: ignore[no-any-return]
    if not chunked.num_chunks:
        return np.empty(0, dtype=object)
    return np.concatenate([_words(chunk) for chunk in chunked.chunks])


def _tuples(chunked: pa.ChunkedArray) -> list[tuple[str, ...]]:
    """A list-of-text column as tuples, cut from its flat values at its offsets (no nulls)."""
    out: list[tuple[str, ...]] = []
    for chunk in chunked.chunks:
        if not pa.types.is_list(chunk.type) or chunk.null_count:
            raise ValueError(f"a column is {chunk.type}, not lists of text")
        offsets = chunk.offsets.to_numpy().tolist()
        values = chunk.values
        flat = (values.to_numpy(zero_copy_only=False) if values.type == pa.string() else _words(values)).tolist()
        if None in flat:
            raise ValueError("a list holds a null")
        out += [tuple(flat[a:b]) for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    return out


def _each_distinct(chunked: pa.ChunkedArray, parse: Any) -> list[Any]:
    """``parse`` of each row's text, called once per distinct text (None stays None)."""
    texts = _texts(chunked).tolist()
    memo: dict[str, Any] = {}
    out: list[Any] = []
    for text in texts:
        if text is None:
            out.append(None)
            continue
        value = memo.get(text)
        if value is None:
            value = memo[text] = parse(text)
        out.append(value)
    return out


def _eligibility_from_text(text: str) -> Eligibility:
    return Eligibility.from_json(json.loads(text))


def eligibility_from_json(texts: list[str | None]) -> list[Eligibility | None]:
    """The facts of each JSON text (None stays None), parsed once per distinct text."""
    memo: dict[str, Eligibility] = {}
    out: list[Eligibility | None] = []
    for text in texts:
        if text is not None and text not in memo:
            memo[text] = _eligibility_from_text(text)
        out.append(None if text is None else memo[text])
    return out


def eligibility_json(values: list[Eligibility | None]) -> list[str | None]:
    """Each value's ``to_json`` as JSON text, made once per distinct object (studies that share a
    criteria text share its facts)."""
    memo: dict[int, str] = {}
    out: list[str | None] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        text = memo.get(id(v))
        if text is None:
            text = memo[id(v)] = json.dumps(v.to_json(), ensure_ascii=False)
        out.append(text)
    return out


def _objects(values: Any) -> pd.Series:
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return pd.Series(column, dtype=object, copy=False)


MAGIC = b"TRIALFINDER-TABLES\n"


def encode_tables(tables: Tables) -> bytes:
    """The bytes of a tables file. Raises :class:`Unstorable` when a column cannot be kept exactly."""
    return b"".join(encode_parts(tables))


def encode_parts(tables: Tables) -> list[bytes | memoryview]:
    """:func:`encode_tables` as the pieces the file is those bytes of, joined by nobody: written one after
    the other, they are not copied again (at 50,000 studies the file is tens of MB)."""
    parts: list[bytes | memoryview] = [MAGIC]
    for name in FRAMES:
        frame = getattr(tables, name)
        kinds = _kinds(frame)
        info = {"format": FORMAT, "frame": name, "kinds": kinds, "meta": asdict(tables.meta)}
        if name == "studies":  # (for an incremental refresh: see incremental.py)
            info.update(digests=tables.digests, built_by=tables.built_by)
        metadata = {"trialfinder": json.dumps(info, ensure_ascii=False)}
        sink = pa.BufferOutputStream()
        # a row group at a time: the Arrow copy of one group's text is held, not of the whole frame's
        # (at 50,000 studies the whole studies frame's was ~0.5 GB at the peak of a first search)
        group = ROW_GROUPS[name]
        table = _encode(frame.iloc[:group], kinds).replace_schema_metadata(metadata)
        with pq.ParquetWriter(sink, table.schema, compression="zstd") as writer:
            writer.write_table(table)
            for start in range(group, len(frame), group):
                del table
                table = _encode(frame.iloc[start:start + group], kinds).replace_schema_metadata(metadata)
                writer.write_table(table)
        body = memoryview(sink.getvalue())
        parts += [len(body).to_bytes(8, "little"), body]
    return parts


def decode_tables(data: bytes) -> Tables:
    """Tables from :func:`encode_tables`'s bytes; ValueError if they are not exactly that."""
    with gc_paused():  # (hundreds of thousands of new objects, none in a cycle: see files.gc_paused)
        return _decode_tables(data)


def _decode_tables(data: bytes) -> Tables:
    if not data.startswith(MAGIC):
        raise ValueError("not a tables file")
    frames: dict[str, pd.DataFrame] = {}
    meta: dict[str, Any] = {}
    build: dict[str, Any] = {}
    at = len(MAGIC)
    view = memoryview(data)
    for name in FRAMES:
        size = int.from_bytes(view[at:at + 8], "little")
        body = view[at + 8:at + 8 + size]
        if len(body) != size:
            raise ValueError("a tables file cut short")
        at += 8 + size
        try:
            schema = pq.read_schema(pa.BufferReader(pa.py_buffer(body)))
            table = pq.read_table(pa.BufferReader(pa.py_buffer(body)), read_dictionary=_read_dictionary(schema))
        except pa.ArrowException as exc:
            raise ValueError(f"{name}: {exc}") from exc
        info = json.loads((table.schema.metadata or {}).get(b"trialfinder", b"{}"))
        if info.get("format") != FORMAT or info.get("frame") != name or not isinstance(info.get("kinds"), dict):
            raise ValueError(f"{name}: not a tables file of this version")
        frames[name] = _decode(table, info["kinds"])
        meta = info.get("meta") or {}
        if name == "studies":
            digests = info.get("digests") or {}
            if not isinstance(digests, dict) or not all(type(v) is str for v in digests.values()):
                raise ValueError("digests that are not text")
            build = {"digests": digests, "built_by": str(info.get("built_by") or "")}
    if at != len(data):
        raise ValueError("a tables file with trailing bytes")
    return Tables(studies=frames["studies"], sites=frames["sites"], interventions=frames["interventions"],
                  meta=DatasetMeta(**meta), **build)
