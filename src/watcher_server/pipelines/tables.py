from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    false,
    true,
)

from ..core.dateparts import DATEPARTS
from ..db.schema import enum_check, metadata
from ..db.types import JSONDocument, UTCDateTime, created_at_column


def _monitoring_columns() -> list:
    return [
        Column("freshness_number", Integer, CheckConstraint("freshness_number > 0", name="freshness_number_positive")),
        Column(
            "freshness_datepart",
            String(20),
            CheckConstraint(enum_check("freshness_datepart", DATEPARTS), name="freshness_datepart_enum"),
        ),
        Column("mute_freshness_check", Boolean, nullable=False, server_default=false()),
        Column("timeliness_number", Integer, CheckConstraint("timeliness_number > 0", name="timeliness_number_positive")),
        Column(
            "timeliness_datepart",
            String(20),
            CheckConstraint(enum_check("timeliness_datepart", DATEPARTS), name="timeliness_datepart_enum"),
        ),
        Column("mute_timeliness_check", Boolean, nullable=False, server_default=false()),
    ]


pipeline_type = Table(
    "pipeline_type",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(150), nullable=False, unique=True),
    *_monitoring_columns(),
    created_at_column(),
    Column("updated_at", UTCDateTime),
    sqlite_autoincrement=True,
)

pipeline = Table(
    "pipeline",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(150), nullable=False, unique=True),
    Column("pipeline_type_id", Integer, ForeignKey("pipeline_type.id"), nullable=False, index=True),
    Column("watermark", String(255)),
    Column("next_watermark", String(255)),
    Column("pipeline_metadata", JSONDocument),
    Column("last_target_insert", UTCDateTime),
    Column("last_target_update", UTCDateTime),
    Column("last_target_soft_delete", UTCDateTime),
    *_monitoring_columns(),
    Column("load_lineage", Boolean, nullable=False, server_default=true()),
    Column("active", Boolean, nullable=False, server_default=true()),
    Column("input_hash", String(64), nullable=False),
    created_at_column(),
    Column("updated_at", UTCDateTime),
    sqlite_autoincrement=True,
)

Index("ix_pipeline_active", pipeline.c.active)
