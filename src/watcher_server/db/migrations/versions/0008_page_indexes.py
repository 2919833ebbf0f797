"""Indexes for the web pages' "right now" questions (reporting/health.py).

* ix_pipeline_execution_failed_end_date: "which pipelines failed in the last 24 h" — failures are a small
  part of all runs, so a partial index over them answers this from a few entries instead of a day of runs.
* ix_anomaly_detection_result_detected_at: "which pipelines had an anomaly in the last 24 h" across all
  pipelines; the existing (pipeline_id, detected_at) index only serves one pipeline at a time.
* ix_timeliness_pipeline_execution_log_created_at: the incidents page lists timeliness incidents newest
  first; without it that is a sort of the whole log.
* ix_freshness_pipeline_log_pipeline_id_id and ix_timeliness_pipeline_execution_log_pipeline_id: one
  pipeline's incidents, newest first, on its page; without them each is a scan of the whole log.
* ix_alert_delivery_status_id: the alerts page filtered by delivery status (the failed ones, say), newest
  first; without it a rare status walks the whole alert history.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_pipeline_execution_failed_end_date ON pipeline_execution (end_date) WHERE completed_successfully = false")
    op.execute("CREATE INDEX ix_anomaly_detection_result_detected_at ON anomaly_detection_result (detected_at)")
    op.execute("CREATE INDEX ix_timeliness_pipeline_execution_log_created_at ON timeliness_pipeline_execution_log (created_at)")
    op.execute("CREATE INDEX ix_alert_delivery_status_id ON alert (delivery_status, id)")
    op.execute("CREATE INDEX ix_freshness_pipeline_log_pipeline_id_id ON freshness_pipeline_log (pipeline_id, id)")
    op.execute(
        "CREATE INDEX ix_timeliness_pipeline_execution_log_pipeline_id ON timeliness_pipeline_execution_log (pipeline_id, pipeline_execution_id)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_timeliness_pipeline_execution_log_pipeline_id")
    op.execute("DROP INDEX ix_freshness_pipeline_log_pipeline_id_id")
    op.execute("DROP INDEX ix_alert_delivery_status_id")
    op.execute("DROP INDEX ix_timeliness_pipeline_execution_log_created_at")
    op.execute("DROP INDEX ix_anomaly_detection_result_detected_at")
    op.execute("DROP INDEX ix_pipeline_execution_failed_end_date")
