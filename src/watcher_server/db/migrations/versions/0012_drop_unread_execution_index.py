"""Drop ix_pipeline_execution_date_recorded_pipeline_id: no query reads it.

Every insert into pipeline_execution and every update that is not HOT (an end changes end_date, which
other indexes hold) writes an entry into each of the table's indexes. This one, inherited from the
public project's schema, served no query of ours (date_recorded is only written), so it cost every
execution two index writes for nothing. docs/operations.md lists what each remaining index serves.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX ix_pipeline_execution_date_recorded_pipeline_id")


def downgrade() -> None:
    op.execute("CREATE INDEX ix_pipeline_execution_date_recorded_pipeline_id ON pipeline_execution (date_recorded, pipeline_id)")
