"""Anomaly detection schema (contract §3, §13): rules, their results, and anomaly incidents (migration 0009)."""

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    text,
    true,
)

from ..db.schema import enum_check, metadata
from ..db.types import BigId, JSONDocument, UTCDateTime, created_at_column
from .vocabulary import DIRECTIONS, INCIDENT_RESOLUTIONS, METRICS, SEASONALITIES

anomaly_detection_rule = Table(
    "anomaly_detection_rule",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("pipeline_id", Integer, ForeignKey("pipeline.id"), nullable=False),
    Column("metric_field", String(30), CheckConstraint(enum_check("metric_field", METRICS), name="metric_field_enum"), nullable=False),
    Column("z_threshold", Numeric(4, 2), nullable=False, server_default=text("3.00")),
    Column("lookback_days", Integer, nullable=False, server_default=text("30")),
    Column("minimum_executions", Integer, nullable=False, server_default=text("30")),
    Column(
        "direction",
        String(10),
        CheckConstraint(enum_check("direction", DIRECTIONS), name="direction_enum"),
        nullable=False,
        server_default="both",
    ),
    Column(
        "seasonality",
        String(20),
        CheckConstraint(enum_check("seasonality", SEASONALITIES), name="seasonality_enum"),
        nullable=False,
        server_default="hour_of_day",
    ),
    Column("active", Boolean, nullable=False, server_default=true()),
    created_at_column(),
    Column("updated_at", UTCDateTime),
    UniqueConstraint("pipeline_id", "metric_field"),
    sqlite_autoincrement=True,
)
Index("ix_anomaly_detection_rule_pipeline_id_active", anomaly_detection_rule.c.pipeline_id, anomaly_detection_rule.c.active)

anomaly_detection_result = Table(
    "anomaly_detection_result",
    metadata,
    Column("pipeline_execution_id", BigId, ForeignKey("pipeline_execution.id"), nullable=False),
    Column("rule_id", Integer, ForeignKey("anomaly_detection_rule.id"), nullable=False),
    Column("pipeline_id", Integer, nullable=False),
    Column("metric_field", String(30), nullable=False),
    Column("direction", String(10), nullable=False),
    Column("seasonality", String(20), nullable=False),
    Column("violation_value", Double),
    Column("z_score", Double),
    Column("historical_mean", Double),
    Column("std_deviation_value", Double),
    Column("z_threshold", Double),
    Column("threshold_min_value", Double),
    Column("threshold_max_value", Double),
    Column("context", JSONDocument),
    Column("detected_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("pipeline_execution_id", "rule_id"),
)
Index("ix_anomaly_detection_result_pipeline_id_detected_at", anomaly_detection_result.c.pipeline_id, anomaly_detection_result.c.detected_at)
Index("ix_anomaly_detection_result_detected_at", anomaly_detection_result.c.detected_at)  # anomalous pipelines (migration 0008)

# One row per spell of anomalies of a pipeline's metric: it opens with the first flagged execution and
# ends when a later execution is normal again (or it is unflagged, or the rule stops watching). No
# foreign keys to executions: incidents outlive execution retention, as alerts do.
anomaly_incident = Table(
    "anomaly_incident",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("pipeline_id", Integer, ForeignKey("pipeline.id"), nullable=False),
    Column("metric_field", String(30), CheckConstraint(enum_check("metric_field", METRICS), name="metric_field_enum"), nullable=False),
    Column("rule_id", Integer, ForeignKey("anomaly_detection_rule.id"), nullable=False),
    Column("opened_execution_id", BigId, nullable=False),
    Column("last_execution_id", BigId, nullable=False),
    Column("resolved_execution_id", BigId),
    Column("flagged_count", Integer, nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
    Column(
        "resolution",
        String(20),
        CheckConstraint(enum_check("resolution", INCIDENT_RESOLUTIONS), name="resolution_enum"),
    ),
    sqlite_autoincrement=True,
)
# At most one open incident per pipeline and metric, whatever runs detection concurrently.
Index(
    "uq_anomaly_incident_open",
    anomaly_incident.c.pipeline_id,
    anomaly_incident.c.metric_field,
    unique=True,
    sqlite_where=text("resolved_at IS NULL"),
    postgresql_where=text("resolved_at IS NULL"),
)
# The latest incident of a pipeline's metric (whether an old run may open a new one), and a pipeline's list.
Index(
    "ix_anomaly_incident_pipeline_id_metric_field_id",
    anomaly_incident.c.pipeline_id,
    anomaly_incident.c.metric_field,
    anomaly_incident.c.id,
)
