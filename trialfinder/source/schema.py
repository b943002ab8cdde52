"""The data-set database's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

::

    datasets   one row a stored data set: every DatasetMeta field (warnings excepted: never stored),
               created_at, and damaged_at (set when a load found it damaged; kept for inspection
               until the next save removes it)
    studies    one row a study of a data set: its position in the list, its NCT id (NULL when the
               record has none), the raw record as JSON text and the SHA-256 of that text
    pointer    exactly one row (id = 1): the current data set and the one before it

A data set's ``sha256`` is that of ``"[" + ",".join(records) + "]"``: the same bytes, and so the same
checksum, as the file the data-set store of earlier versions wrote (the built-tables cache is keyed on it).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
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
