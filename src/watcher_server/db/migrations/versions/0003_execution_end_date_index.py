"""Index pipeline_execution(end_date) for the timeliness check's "ended within the lookback" candidates.

An end already rewrites every index entry of its row (end_date is indexed in composite indexes, so the
update is never HOT); this index adds one more entry there and saves a full scan per timeliness run.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_pipeline_execution_end_date ON pipeline_execution (end_date)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_pipeline_execution_end_date")
