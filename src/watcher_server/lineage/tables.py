"""Lineage schema (contract §3).

There is no address_lineage_closure table: reachability is computed on read from address_lineage
(see graph.py), which gives the same answers without rewriting a component's closure on every post.
"""

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from ..db.schema import metadata
from ..db.types import BigId, JSONDocument, UTCDateTime, created_at_column

address_type = Table(
    "address_type",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(150), nullable=False, unique=True),
    Column("group_name", String(150), nullable=False),
    created_at_column(),
    Column("updated_at", UTCDateTime),
    sqlite_autoincrement=True,
)

address = Table(
    "address",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(150), nullable=False, unique=True),
    Column("address_type_id", Integer, ForeignKey("address_type.id"), nullable=False, index=True),
    Column("database_name", String(150)),
    Column("schema_name", String(150)),
    Column("table_name", String(150)),
    Column("primary_key", String(150)),
    Column("address_metadata", JSONDocument),
    Column("input_hash", String(64), nullable=False),
    created_at_column(),
    Column("updated_at", UTCDateTime),
    sqlite_autoincrement=True,
)

address_lineage = Table(
    "address_lineage",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("pipeline_id", Integer, ForeignKey("pipeline.id"), nullable=False),
    Column("source_address_id", Integer, ForeignKey("address.id"), nullable=False),
    Column("target_address_id", Integer, ForeignKey("address.id"), nullable=False),
    UniqueConstraint("pipeline_id", "source_address_id", "target_address_id"),
    sqlite_autoincrement=True,
)
Index("ix_address_lineage_source_target", address_lineage.c.source_address_id, address_lineage.c.target_address_id)
Index("ix_address_lineage_target_source", address_lineage.c.target_address_id, address_lineage.c.source_address_id)
