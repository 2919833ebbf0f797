"""check_run: when each background check last finished and how long it took (for logs and /metrics).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    timestamp = sa.DateTime(timezone=True) if op.get_bind().dialect.name == "postgresql" else sa.DateTime()
    with op.batch_alter_table("check_run") as batch:
        batch.add_column(sa.Column("finished_at", timestamp))
        batch.add_column(sa.Column("duration_seconds", sa.Double()))


def downgrade() -> None:
    with op.batch_alter_table("check_run") as batch:
        batch.drop_column("duration_seconds")
        batch.drop_column("finished_at")
