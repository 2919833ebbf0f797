"""alert.retry_until: the end of an alert's retry window (WATCHER_ALERT_RETRY_HOURS).

Alerts are retried with back-off until this moment and marked failed only after it. It is stored
rather than derived from created_at because `POST /alerts/{id}/resend` opens a fresh window. Alerts
written before this migration keep it null; delivery then counts their window from created_at.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    timestamp = sa.DateTime(timezone=True) if op.get_bind().dialect.name == "postgresql" else sa.DateTime()
    # A nullable column: a plain ALTER TABLE on both backends, no copy of the alert history.
    op.add_column("alert", sa.Column("retry_until", timestamp))


def downgrade() -> None:
    # Native DROP COLUMN (SQLite 3.35+): a batch copy of the table would lose AUTOINCREMENT and the partial index.
    op.execute("ALTER TABLE alert DROP COLUMN retry_until")
