"""Monitoring schema (contract §3); the checks that fill it are built on top of the core service."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    text,
)

from ..core.dateparts import DATEPARTS
from ..db.schema import enum_check, metadata
from ..db.types import BigId, UTCDateTime, created_at_column

freshness_pipeline_log = Table(
    "freshness_pipeline_log",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("pipeline_id", Integer, ForeignKey("pipeline.id"), nullable=False),
    Column("last_dml_timestamp", UTCDateTime, nullable=False),
    Column("evaluation_timestamp", UTCDateTime, nullable=False),
    Column("last_evaluated_at", UTCDateTime, nullable=False),
    Column("deadline", UTCDateTime, nullable=False),
    Column("freshness_number", Integer, nullable=False),
    Column(
        "freshness_datepart",
        String(20),
        CheckConstraint(enum_check("freshness_datepart", DATEPARTS), name="freshness_datepart_enum"),
        nullable=False,
    ),
    Column("used_child_config", Boolean, nullable=False),
    Column("resolved_at", UTCDateTime),
    Column("resolution", String(20), CheckConstraint(enum_check("resolution", ("recovered", "unmonitored")), name="resolution_enum")),
    created_at_column(),
    sqlite_autoincrement=True,
)
Index(
    "uq_freshness_pipeline_log_open",
    freshness_pipeline_log.c.pipeline_id,
    unique=True,
    sqlite_where=text("resolved_at IS NULL"),
    postgresql_where=text("resolved_at IS NULL"),
)
Index("ix_freshness_pipeline_log_resolved_at", freshness_pipeline_log.c.resolved_at)
Index("ix_freshness_pipeline_log_pipeline_id_id", freshness_pipeline_log.c.pipeline_id, freshness_pipeline_log.c.id)  # a pipeline's page

# One row per background check. last_run_at is the freshness run's evaluation time: every run
# evaluates every open incident, so an open incident's last_evaluated_at is this time (stamping it
# here saves rewriting every open incident on every run). finished_at and duration_seconds describe
# the last completed run of any check, for logs and /metrics.
check_run = Table(
    "check_run",
    metadata,
    Column("check_name", String(50), primary_key=True),
    Column("last_run_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("duration_seconds", Double),
)

timeliness_pipeline_execution_log = Table(
    "timeliness_pipeline_execution_log",
    metadata,
    Column("pipeline_execution_id", BigId, ForeignKey("pipeline_execution.id"), primary_key=True, autoincrement=False),
    Column("pipeline_id", Integer, ForeignKey("pipeline.id"), nullable=False),
    Column(
        "execution_status",
        String(20),
        CheckConstraint(enum_check("execution_status", ("running", "completed", "failed")), name="execution_status_enum"),
        nullable=False,
    ),
    Column("duration_seconds", BigInteger, nullable=False),
    Column("seconds_threshold", BigInteger),
    Column("timely_number", Integer),
    Column("timely_datepart", String(20), CheckConstraint(enum_check("timely_datepart", DATEPARTS), name="timely_datepart_enum")),
    Column("used_child_config", Boolean),
    Column("final_status", String(20), CheckConstraint(enum_check("final_status", ("completed", "failed")), name="final_status_enum")),
    Column("resolved_at", UTCDateTime),
    created_at_column(),
)
Index("ix_timeliness_pipeline_execution_log_created_at", timeliness_pipeline_execution_log.c.created_at)  # the incidents page
Index(
    "ix_timeliness_pipeline_execution_log_pipeline_id",  # a pipeline's page
    timeliness_pipeline_execution_log.c.pipeline_id,
    timeliness_pipeline_execution_log.c.pipeline_execution_id,
)
Index(
    "ix_timeliness_pipeline_execution_log_open",
    timeliness_pipeline_execution_log.c.pipeline_execution_id,
    sqlite_where=text("resolved_at IS NULL"),
    postgresql_where=text("resolved_at IS NULL"),
)
