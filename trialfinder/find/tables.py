"""Tidy pandas tables from a data set: studies, sites, interventions — classified and located."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..classify.eligibility_facts import Eligibility
from ..labels import PHASE_ORDER, phase_display
from ..source.files import gc_paused
from ..source.normalize import SITE_FIELDS, nct_id, row_texts, site_tuples, study_facts, study_row
from ..source.store import Dataset, DatasetMeta
from ..source.vocab import OPEN_SITE_STATUSES
from . import places
from .split import read_split

#: standard age groups -> (lowest, highest) age in years they cover
AGE_GROUP_BOUNDS = {"CHILD": (0.0, 17.999), "ADULT": (18.0, 64.999), "OLDER_ADULT": (65.0, None)}

SITE_COLUMNS = list(SITE_FIELDS)
INTERVENTION_COLUMNS = ["nct_id", "type", "name", "other_names", "description", "categories"]


@dataclass
class Tables:
    studies: pd.DataFrame  # index: nct_id
    sites: pd.DataFrame
    interventions: pd.DataFrame
    meta: DatasetMeta
    #: nct_id -> digest of the record its rows were built from, and what built them (code, rules and
    #: libraries): what a later refresh needs to rebuild only the changed studies (see :mod:`.incremental`)
    digests: dict[str, str] = field(default_factory=dict)
    built_by: str = ""


def _ages_from_groups(groups: tuple[str, ...]) -> tuple[float | None, float | None]:
    bounds = [AGE_GROUP_BOUNDS[g] for g in groups if g in AGE_GROUP_BOUNDS]
    if not bounds:
        return None, None
    low = min(b[0] for b in bounds)
    high = None if any(b[1] is None for b in bounds) else max(b[1] for b in bounds if b[1] is not None)
    return low, high


def _evidence_text(evidence: dict[str, str], categories: tuple[str, ...]) -> str:
    return " | ".join(f"{key}: {evidence[key]}" for key in categories if evidence.get(key))


def build_tables(dataset: Dataset, known_eligibility: Mapping[str, Eligibility] | None = None) -> Tables:
    """Every study becomes one row; nothing is dropped (unclassifiable studies are 'other').

    ``known_eligibility``: eligibility facts already read, by criteria text (they depend on the text
    alone: an incremental refresh passes those of the previous tables). A large data set is read over
    two processes where that is safe (:mod:`.split`); the tables are the same."""
    with gc_paused():  # (millions of short-lived objects, none in a cycle: see files.gc_paused)
        return _build(dataset, known_eligibility or {})


@dataclass
class Part:
    """What reading some of a data set's studies gives, in their order: the rows of the studies table,
    the sites table's columns (filled a study at a time: no tuple per site is kept, at 50,000 studies those
    were ~100 MB beside the frame made from them), the interventions' rows, and per study its site counts,
    countries and states. Two parts read from consecutive studies :meth:`extend` to the part of all of them."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    site_columns: list[list[Any]] = field(default_factory=lambda: [[] for _ in SITE_COLUMNS])
    int_rows: list[tuple[Any, ...]] = field(default_factory=list)
    per_study: dict[str, list[Any]] = field(default_factory=dict)  # nct_id -> [sites, open sites, countries, states]

    def extend(self, later: "Part") -> None:
        """This part followed by ``later`` (read from the studies after this one's)."""
        self.rows += later.rows
        for column, more in zip(self.site_columns, later.site_columns, strict=True):
            column += more
        self.int_rows += later.int_rows
        for nct, (sites, opened, countries, states) in later.per_study.items():
            self.count_sites(nct, sites, opened, countries, states)

    def count_sites(self, nct: str, sites: int, opened: int, countries: set[str], states: set[str]) -> None:
        stats = self.per_study.get(nct)
        if stats is None:
            self.per_study[nct] = [sites, opened, countries, states]
        else:  # (the same study listed twice: its sites are all kept, as rows of the sites table)
            stats[0] += sites
            stats[1] += opened
            stats[2] |= countries
            stats[3] |= states


#: the row's columns of normalize.row_texts
_ROW_TEXTS = ("title", "official_title", "brief_summary", "eligibility_text")


def _own_texts(records: list[dict[str, Any]], part: Part) -> Iterator[tuple[dict[str, Any], str, str]]:
    """(row, column, the record's own text) for each long text of each of ``part``'s rows, from ``records``
    (a study listed twice: its last record's)."""
    texts = {nct_id(record): row_texts(record) for record in records}
    for row in part.rows:
        own = texts.get(row["nct_id"])
        if own is not None:
            for key, text in zip(_ROW_TEXTS, own, strict=True):
                yield row, key, text


class Reader:
    """Reads studies into a :class:`Part`: normalised, classified, eligibility facts read."""

    def __init__(self, dataset: Dataset, known_eligibility: Mapping[str, Eligibility]) -> None:
        # (the classifiers compile their rule tables when imported: a search of tables already built needs none)
        from ..classify.biomarkers import biomarkers
        from ..classify.categories import classify
        from ..classify.disease_setting import disease_setting
        from ..classify.eligibility import extract

        self.classify, self.disease_setting, self.biomarkers, self.eligibility = (
            classify, disease_setting, biomarkers, extract)
        self.known_eligibility = known_eligibility
        self.stamp = dataset.meta.data_timestamp or ""
        self.partial = dataset.partial
        self.phase_memo: dict[tuple[str, ...], tuple[str, int]] = {}

    def read(self, records: list[dict[str, Any]]) -> Part:
        """The part of ``records``."""
        part = Part()
        for record in records:
            self._study(record, part)
        return part

    @staticmethod
    def pack(records: list[dict[str, Any]], part: Part) -> None:
        """Before ``part`` (read from ``records``) is pickled: take out each long text that ``records`` hold
        (None in its place), for :meth:`unpack` to put back from the receiver's own records, so that the
        receiver holds each text once (copies of them were ~180 MB at 50,000 studies), as in one process."""
        for row, key, text in _own_texts(records, part):
            if row[key] == text:
                row[key] = None

    @staticmethod
    def unpack(records: list[dict[str, Any]], part: Part) -> None:
        """The texts :meth:`pack` took out, put back from ``records`` (the same records: the same values)."""
        for row, key, text in _own_texts(records, part):
            if row[key] is None:
                row[key] = text

    def _study(self, record: dict[str, Any], part: Part) -> None:
        row = study_row(record)
        nct = row["nct_id"]
        if not nct:
            return
        facts = study_facts(record)
        result = self.classify(facts)
        row["categories"] = result.categories
        row["category_evidence"] = _evidence_text(result.evidence, result.categories)
        row["evidence"] = dict(result.evidence)
        row["disease_setting"] = self.disease_setting(facts)
        row["biomarkers"] = self.biomarkers(facts, result)
        # the criteria text as written, and the seven facts read from it (with their sentences)
        row["eligibility_text"] = text = row.pop("eligibility")  # (the same text as facts.eligibility)
        known = self.known_eligibility.get(text)
        row["eligibility"] = known if known is not None else self.eligibility(facts.eligibility)
        row["interventions"] = "; ".join(
            f"{i.type.title().replace('_', ' ')}: {i.name}" if i.type else i.name for i in facts.interventions
        )
        row["data_timestamp"] = self.stamp
        row["partial_record"] = nct in self.partial  # a snapshot record lacking what the registry has
        if row["min_age_years"] is None and row["max_age_years"] is None:
            row["min_age_years"], row["max_age_years"] = _ages_from_groups(row["age_groups"])
            row["age_from_groups"] = bool(row["age_groups"])
        else:
            row["age_from_groups"] = False
        # what the text filter looks in: the trial's names and why it was classified
        row["search_text"] = " ".join((nct, row["title"], row["official_title"], row["interventions"], row["sponsor"],
                                       row["category_evidence"], " ".join(row["conditions"]),
                                       " ".join(row["keywords"]), " ".join(row["biomarkers"]))).lower()
        phase = self.phase_memo.get(row["phases"])
        if phase is None:
            phase = self.phase_memo[row["phases"]] = (
                phase_display(row["phases"]), max((PHASE_ORDER.get(p, -1) for p in row["phases"]), default=-1))
        row["phase"], row["phase_rank"] = phase
        part.rows.append(row)
        part.int_rows += [(nct, intervention.type, intervention.name, "; ".join(intervention.other_names),
                           intervention.description, tuple(cats))
                          for intervention, cats in zip(facts.interventions, result.by_intervention, strict=True)]
        listed = site_tuples(record)
        if listed:  # (columns as SITE_FIELDS: 3 state, 5 country, 6 site status)
            for column, values in zip(part.site_columns, zip(*listed, strict=True), strict=True):
                column += values
            part.count_sites(nct, len(listed), len([1 for site in listed if site[6] in OPEN_SITE_STATUSES]),
                        {site[5] for site in listed}, {site[3] for site in listed})


def _build(dataset: Dataset, known_eligibility: Mapping[str, Eligibility]) -> Tables:
    reader = Reader(dataset, known_eligibility)
    part = read_split(reader.read, Part.extend, dataset.studies, (reader.pack, reader.unpack))
    if not part.rows:  # no study (a registry that really has none, accepted): the frames of one placeholder, emptied
        return _emptied(_build(Dataset(studies=[_PLACEHOLDER], meta=dataset.meta), {}))
    return _frames(part, dataset.meta)


def _frames(part: Part, meta: DatasetMeta) -> Tables:
    rows, per_study = part.rows, part.per_study
    if len(rows) > 1:  # one row per study: a repeated id keeps its last record (in that record's place)
        last = {row["nct_id"]: k for k, row in enumerate(rows)}
        if len(last) < len(rows):
            rows = [row for k, row in enumerate(rows) if last[row["nct_id"]] == k]
    studies = _studies_frame(rows)
    del rows
    part.rows = []  # (the frame holds the values; the row dicts would only raise the peak)
    none: list[Any] = [0, 0, set(), set()]
    counts_of = [per_study.get(nct, none) for nct in studies.index]
    studies["sites_count"] = np.array([c[0] for c in counts_of], dtype="int64")
    studies["open_sites_count"] = np.array([c[1] for c in counts_of], dtype="int64")
    studies["countries"] = _objects([tuple(sorted(c[2] - {""})) for c in counts_of], studies.index)
    studies["states"] = _objects([tuple(sorted(c[3] - {""})) for c in counts_of], studies.index)

    text = dict(zip(SITE_COLUMNS, part.site_columns, strict=True))
    part.site_columns = []
    # (coordinates are floats or None: normalize.site_tuples; None becomes NaN)
    lat, lon, source = places.locate(np.array(text["latitude"], dtype=float), np.array(text["longitude"], dtype=float),
                                     text["zip"], text["state"], text["city"], text["country"])
    sites = pd.DataFrame({col: lat if col == "latitude" else lon if col == "longitude" else _objects(text[col])
                          for col in SITE_COLUMNS}, copy=False)
    sites["coord_source"] = pd.Series(source, dtype=object, copy=False)
    # for the filter path: each site's study as a row number, and whether the site itself is open
    position = {nct: k for k, nct in enumerate(studies.index)}
    sites["study_row"] = np.array([position.get(nct, -1) for nct in sites["nct_id"].tolist()], dtype="int64")
    sites["site_open"] = np.array([s in OPEN_SITE_STATUSES for s in text["site_status"]], dtype=bool)
    sites["site_label"] = pd.Series(np.array(places.label_sites(text["facility"], text["city"], text["state"]),
                                             dtype=object), dtype=object, copy=False)
    interventions = pd.DataFrame(part.int_rows, columns=INTERVENTION_COLUMNS, dtype=object)
    part.int_rows = []
    return Tables(studies=studies, sites=sites, interventions=interventions, meta=meta)


#: a record with nothing but an id: what an empty data set's tables are built from (and then emptied)
_PLACEHOLDER: dict[str, Any] = {"protocolSection": {"identificationModule": {"nctId": "NCT00000000"}}}


def _emptied(tables: Tables) -> Tables:
    """The same tables with no rows: every column and type there, as the filters and views expect."""
    return Tables(studies=tables.studies.iloc[:0], sites=tables.sites.iloc[:0],
                  interventions=tables.interventions.iloc[:0], meta=tables.meta)


#: study columns that are not Python objects, and their dtypes
_NUMERIC = {"min_age_years": "float64", "max_age_years": "float64", "enrollment": "float64", "phase_rank": "int64"}
_FLAGS = ("healthy_volunteers", "age_from_groups", "partial_record")
_EMPTY_STUDIES = ["nct_id", "title", "status", "phases", "categories", "disease_setting", "biomarkers"]


def _objects(values: list[Any], index: pd.Index | None = None) -> pd.Series:
    """A column of Python objects (strings included: row selection and sorting, done on every filter
    change, are several times faster on them than on pandas 3's Arrow-backed strings)."""
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return pd.Series(column, index=index, dtype=object, copy=False)


def _studies_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        frame = pd.DataFrame(columns=_EMPTY_STUDIES, dtype=object)
        frame.index = pd.Index([], dtype="str")
        return frame.assign(phase=_objects([]), phase_rank=pd.Series([], dtype="int64"),
                            last_update_date=pd.Series([], dtype="datetime64[us]"))
    columns: dict[str, Any] = {}
    for key in rows[0]:
        values = [row[key] for row in rows]
        if key in _NUMERIC:
            columns[key] = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").astype(_NUMERIC[key])
        elif key in _FLAGS:
            columns[key] = pd.Series(values, dtype=bool)
        else:
            columns[key] = _objects(values)
    frame = pd.DataFrame(columns, copy=False)
    frame.index = pd.Index(columns["nct_id"].to_numpy(), dtype="str")
    dates = columns["last_update"]
    unique = pd.unique(dates.to_numpy())
    parsed = pd.Series(pd.to_datetime(pd.Series(unique, dtype="str"), errors="coerce", format="mixed").to_numpy(),
                       index=unique)
    frame["last_update_date"] = parsed.reindex(dates.to_numpy()).to_numpy()
    return frame
