"""The data-set database's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

::

    datasets   one row a stored data set: every DatasetMeta field (warnings excepted: never stored),
               created_at, and damaged_at (set when a load found it damaged; kept for inspection
               until the next save removes it)
    studies    one row a study of a data set: its position in the list, its NCT id (NULL when the
               record has none), the raw record as JSON text and the SHA-256 of that text
    pointer    exactly one row (id = 1): the current data set and the one before it

The tables built from a data set (classified and located: ``trialfinder.find.tables.Tables``) are stored
beside it, so that one process builds them (normally the refresher, ``trialfinder fetch``) and every app
replica and ``trialfinder search`` reads them instead of classifying again
(:mod:`trialfinder.find.tablerows` converts frames to rows and back)::

    built         one row a (data set, built_by): ``built_by`` names the code, rule tables and
                  libraries that built the tables (tables built by other code are never read);
                  ``layout`` is JSON: each frame's columns and their kinds, in order, and the
                  record digests; ``sha256`` is that of all the rows below (checked when read)
    study_rows    one row a study (the studies frame), ``row`` its position
    sites         one row a site (the sites frame)
    interventions one row an intervention (the interventions frame)
    labels        one row a (study, category): the category, its rank among the study's categories
                  and its evidence text; the studies frame's ``categories`` and ``evidence`` are
                  read from here alone, e.g. ``SELECT nct_id FROM labels WHERE category = 'targeted'
                  AND dataset_id = (SELECT current_id FROM pointer)``

Each of the four is keyed by (dataset_id, built_by, row[, rank]). Plain values (text, numbers, flags)
are SQL columns; tuples of text are JSON arrays, dicts of text JSON objects, eligibility facts their
``to_json`` as JSON, dates ISO text; a frame column this schema has no column for (code newer than the
tables) goes, as JSON, into the row's ``extra``. All rows of a (data set, built_by) are written in one
transaction and deleted with their data set (in the transaction that drops it; ON DELETE CASCADE too).

A data set's ``sha256`` is that of ``"[" + ",".join(records) + "]"``: the same bytes, and so the same
checksum, as the file the data-set store of earlier versions wrote (the built-tables cache is keyed on it).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

#: SQLite reuses the highest rowid after a delete unless AUTOINCREMENT is asked for; the id is the data
#: set's version (``version()``), so it must never come back
datasets = Table(
    "datasets", metadata,
    Column("id", Integer().with_variant(BigInteger(), "postgresql"), primary_key=True, autoincrement=True),
    Column("source", String(20), nullable=False),
    Column("data_timestamp", Text),
    Column("fetched_at", Text),
    Column("count", Integer, nullable=False),
    Column("query", Text, nullable=False),
    Column("api_url", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("damaged_at", Text),
    sqlite_autoincrement=True,
)

studies = Table(
    "studies", metadata,
    Column("dataset_id", datasets.c.id.type, ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("nct_id", String(40)),
    Column("record", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
)

pointer = Table(
    "pointer", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("current_id", datasets.c.id.type),
    Column("previous_id", datasets.c.id.type),
    CheckConstraint("id = 1", name="one_row"),
)

#: the meta fields stored in ``datasets`` (DatasetMeta's, warnings excepted)
META_FIELDS = ("source", "data_timestamp", "fetched_at", "count", "query", "api_url", "sha256", "note")

built = Table(
    "built", metadata,
    Column("dataset_id", datasets.c.id.type, ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
    Column("built_by", String(400), primary_key=True),
    Column("created_at", Text, nullable=False),
    Column("layout", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
)


def _derived(name: str, *columns: Column, key: tuple[str, ...] = ("row",)) -> Table:
    """A table of built rows: (dataset_id, built_by, *key) and ``columns``, deleted with its ``built`` row."""
    return Table(
        name, metadata,
        Column("dataset_id", datasets.c.id.type, primary_key=True),
        Column("built_by", String(400), primary_key=True),
        *(Column(k, Integer, primary_key=True, autoincrement=False) for k in key),
        *columns,
        Column("extra", Text),  # (frame columns this schema has no column for, as JSON)
        ForeignKeyConstraint(["dataset_id", "built_by"], ["built.dataset_id", "built.built_by"], ondelete="CASCADE"),
    )


def _text(*names: str) -> list[Column]:
    return [Column(n, Text) for n in names]


study_rows = _derived(
    "study_rows",
    Column("row_key", Text),  # (the frame's index: the NCT id)
    *_text("nct_id", "title", "official_title", "status", "why_stopped", "phases", "study_type",
           "primary_purpose", "conditions", "keywords", "sponsor", "sponsor_class"),
    Column("min_age_years", Float), Column("max_age_years", Float),
    *_text("sex", "age_groups"), Column("healthy_volunteers", Boolean),
    *_text("start_date", "completion_date", "first_posted", "last_update"), Column("enrollment", Float),
    *_text("brief_summary", "central_contacts", "url", "category_evidence", "disease_setting", "biomarkers",
           "eligibility_text", "eligibility", "interventions", "data_timestamp"),
    Column("partial_record", Boolean), Column("age_from_groups", Boolean), *_text("search_text", "phase"),
    Column("phase_rank", BigInteger), Column("last_update_date", Text),
    Column("sites_count", BigInteger), Column("open_sites_count", BigInteger), *_text("countries", "states"),
)

sites = _derived(
    "sites",
    Column("row_key", Text),
    *_text("nct_id", "facility", "city", "state", "zip", "country", "site_status"),
    Column("latitude", Float), Column("longitude", Float), *_text("contacts", "coord_source"),
    Column("study_row", BigInteger), Column("site_open", Boolean), Column("site_label", Text),
)

interventions = _derived(
    "interventions",
    Column("row_key", Text),
    *_text("nct_id", "type", "name", "other_names", "description", "categories"),
)

labels = _derived(
    "labels",
    *_text("nct_id", "category", "evidence"),
    key=("row", "rank"),
)
Index("labels_by_category", labels.c.category, labels.c.dataset_id)

#: the tables of built rows, in the order they are written and read (``labels`` last)
DERIVED = (study_rows, sites, interventions, labels)
