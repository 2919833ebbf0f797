"""anomaly_incident: a pipeline's metric is anomalous from its first flagged run until a later run is normal.

Detection alerted once per flagged execution, so a flapping metric flooded the alert channel; an
incident alerts when it opens and when it recovers (docs/api.md, "Anomaly incidents"). The partial
unique index keeps one open incident per pipeline and metric even when two executions of one
pipeline are detected at once. No foreign key to pipeline_execution: incidents outlive execution
retention (log cleanup deletes executions, not incidents), as alerts do.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

COLUMNS = """
    pipeline_id INTEGER NOT NULL,
    metric_field VARCHAR(30) NOT NULL CONSTRAINT ck_anomaly_incident_metric_field_enum CHECK (metric_field IN ('duration_seconds', 'inserts', 'updates', 'soft_deletes', 'total_rows', 'throughput')),
    rule_id INTEGER NOT NULL,
    opened_execution_id {bigint} NOT NULL,
    last_execution_id {bigint} NOT NULL,
    resolved_execution_id {bigint},
    flagged_count INTEGER NOT NULL,
    opened_at {timestamp} NOT NULL,
    resolved_at {timestamp},
    resolution VARCHAR(20) CONSTRAINT ck_anomaly_incident_resolution_enum CHECK (resolution IN ('recovered', 'unflagged', 'unmonitored')),
    CONSTRAINT fk_anomaly_incident_pipeline_id_pipeline FOREIGN KEY(pipeline_id) REFERENCES pipeline (id),
    CONSTRAINT fk_anomaly_incident_rule_id_anomaly_detection_rule FOREIGN KEY(rule_id) REFERENCES anomaly_detection_rule (id)"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        columns = COLUMNS.format(bigint="BIGINT", timestamp="TIMESTAMP WITH TIME ZONE")
        op.execute(
            f"CREATE TABLE anomaly_incident (\n    id BIGSERIAL NOT NULL,{columns},\n    CONSTRAINT pk_anomaly_incident PRIMARY KEY (id)\n)"
        )
    else:
        columns = COLUMNS.format(bigint="INTEGER", timestamp="DATETIME")
        op.execute(f"CREATE TABLE anomaly_incident (\n    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,{columns}\n)")
    op.execute("CREATE UNIQUE INDEX uq_anomaly_incident_open ON anomaly_incident (pipeline_id, metric_field) WHERE resolved_at IS NULL")
    op.execute("CREATE INDEX ix_anomaly_incident_pipeline_id_metric_field_id ON anomaly_incident (pipeline_id, metric_field, id)")


def downgrade() -> None:
    op.execute("DROP TABLE anomaly_incident")
