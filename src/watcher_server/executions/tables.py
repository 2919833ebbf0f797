from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    text,
)

from ..db.schema import metadata
from ..db.types import BigId, JSONDocument, UTCDateTime

pipeline_execution = Table(
    "pipeline_execution",
    metadata,
    Column("id", BigId, primary_key=True),
    # No foreign key: retention may delete a parent whose children it keeps.
    Column("parent_id", BigId),
    Column("pipeline_id", Integer, ForeignKey("pipeline.id"), nullable=False),
    Column("start_date", UTCDateTime, nullable=False),
    Column("date_recorded", Date, nullable=False),
    Column("hour_recorded", Integer, nullable=False),
    Column("weekday_recorded", Integer, nullable=False),
    Column("end_date", UTCDateTime),
    Column("duration_seconds", BigInteger),
    Column("completed_successfully", Boolean),
    Column("inserts", BigInteger, CheckConstraint("inserts >= 0", name="inserts_non_negative")),
    Column("updates", BigInteger, CheckConstraint("updates >= 0", name="updates_non_negative")),
    Column("soft_deletes", BigInteger, CheckConstraint("soft_deletes >= 0", name="soft_deletes_non_negative")),
    Column("total_rows", BigInteger, CheckConstraint("total_rows >= 0", name="total_rows_non_negative")),
    Column("watermark", String(255)),
    Column("next_watermark", String(255)),
    Column("execution_metadata", JSONDocument),
    Column("anomaly_flags", JSONDocument),
    Column("throughput", Double),
    Column("anomaly_checked_at", UTCDateTime),
    # the OpenLineage runId of an execution reported through POST /api/v1/lineage (migration 0011)
    Column("run_id", String(36)),
    CheckConstraint("end_date IS NULL OR end_date > start_date", name="end_after_start"),
    CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
    sqlite_autoincrement=True,
)

Index("ix_pipeline_execution_start_date", pipeline_execution.c.start_date)
Index("ix_pipeline_execution_end_date", pipeline_execution.c.end_date)  # timeliness candidates (migration 0003)
Index("ix_pipeline_execution_pipeline_id_start_date", pipeline_execution.c.pipeline_id, pipeline_execution.c.start_date)
Index(
    "ix_pipeline_execution_pipeline_id_hour_recorded_end_date",
    pipeline_execution.c.pipeline_id,
    pipeline_execution.c.hour_recorded,
    pipeline_execution.c.end_date,
)
Index(
    "ix_pipeline_execution_pipeline_id_weekday_recorded_end_date",
    pipeline_execution.c.pipeline_id,
    pipeline_execution.c.weekday_recorded,
    pipeline_execution.c.end_date,
)
Index("ix_pipeline_execution_parent_id", pipeline_execution.c.parent_id)
Index(
    "ix_pipeline_execution_running",
    pipeline_execution.c.start_date,
    sqlite_where=text("completed_successfully IS NULL"),
    postgresql_where=text("completed_successfully IS NULL"),
)
Index(
    "ix_pipeline_execution_failed_end_date",  # the pages' "failing" pipelines (reporting/health.py, migration 0008)
    pipeline_execution.c.end_date,
    sqlite_where=text("completed_successfully = false"),
    postgresql_where=text("completed_successfully = false"),
)
Index(
    "ix_pipeline_execution_anomaly_pending",
    pipeline_execution.c.id,
    sqlite_where=text("completed_successfully AND anomaly_checked_at IS NULL"),
    postgresql_where=text("completed_successfully AND anomaly_checked_at IS NULL"),
)
# One execution per OpenLineage run; executions started through the API have none, and cost this index nothing.
Index(
    "uq_pipeline_execution_run_id",
    pipeline_execution.c.run_id,
    unique=True,
    sqlite_where=text("run_id IS NOT NULL"),
    postgresql_where=text("run_id IS NOT NULL"),
)

pipeline_execution_closure = Table(
    "pipeline_execution_closure",
    metadata,
    Column("parent_execution_id", BigId, ForeignKey("pipeline_execution.id"), nullable=False),
    Column("child_execution_id", BigId, ForeignKey("pipeline_execution.id"), nullable=False),
    Column("depth", Integer, nullable=False),
    PrimaryKeyConstraint("parent_execution_id", "child_execution_id"),
)

Index(
    "ix_pipeline_execution_closure_parent_depth",
    pipeline_execution_closure.c.parent_execution_id,
    pipeline_execution_closure.c.depth,
)
Index(
    "ix_pipeline_execution_closure_child_depth",
    pipeline_execution_closure.c.child_execution_id,
    pipeline_execution_closure.c.depth,
)

# Columns exposed by the API, in contract order (date_recorded & co. stay internal).
API_COLUMNS = (
    pipeline_execution.c.id, pipeline_execution.c.parent_id, pipeline_execution.c.pipeline_id, pipeline_execution.c.start_date,
    pipeline_execution.c.end_date, pipeline_execution.c.duration_seconds, pipeline_execution.c.completed_successfully,
    pipeline_execution.c.inserts, pipeline_execution.c.updates, pipeline_execution.c.soft_deletes, pipeline_execution.c.total_rows,
    pipeline_execution.c.watermark, pipeline_execution.c.next_watermark, pipeline_execution.c.execution_metadata,
    pipeline_execution.c.anomaly_flags, pipeline_execution.c.throughput,
)  # fmt: skip
