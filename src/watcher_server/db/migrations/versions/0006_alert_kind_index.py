"""Index alert(kind, id) for "the last alert of a kind": the queue incident's state.

GET /metrics (watcher_open_incidents{kind="queue"}) and the queue health check read the last queue
alert; without this index that is a scan of the whole alert history, from the newest alert back to the
last queue alert (all of it when there has never been one). Alerts are few next to executions, so the
extra index entry per alert costs nothing that matters.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_alert_kind_id ON alert (kind, id)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_alert_kind_id")
