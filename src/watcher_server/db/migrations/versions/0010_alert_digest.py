"""Alert digests: a rate limit per channel, above which one digest message lists the rest (issue 12).

* alert.digest_id (int64 null): the digest an alert was sent in, named by the id of its first alert.
  The members of a digest share its delivery state (pending, retrying, lease, back-off) until it is
  sent; then each becomes `digested`. A partial index finds the digests still to be sent.
* alert.delivery_status also takes `digested`. PostgreSQL swaps the CHECK constraint. SQLite cannot
  alter a constraint and a table copy would lose AUTOINCREMENT, the partial index and, through the
  ON DELETE CASCADE of alert_subject, the subjects of every alert; widening a CHECK changes no stored
  row, so the table's definition is edited in place (SQLite's documented procedure for such changes:
  writable_schema, then a new schema_version so every connection reads the new definition).
* alert_channel_window: per channel (`slack`, `webhook`), the start of its current one-minute window
  and the messages sent in it. Its row is locked while a delivery run claims alerts, so the limit
  holds across processes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from alembic import op
from sqlalchemy import text

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BEFORE = "delivery_status IN ('pending', 'sent', 'retrying', 'failed', 'not_configured')"
AFTER = "delivery_status IN ('pending', 'sent', 'retrying', 'failed', 'not_configured', 'digested')"
CONSTRAINT = "ck_alert_delivery_status_enum"


def _delivery_statuses(old: str, new: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(f"ALTER TABLE alert DROP CONSTRAINT {CONSTRAINT}, ADD CONSTRAINT {CONSTRAINT} CHECK ({new})")
        return
    definition = bind.execute(text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'alert'")).scalar_one()
    if definition.count(old) != 1:
        raise RuntimeError(f"alert's CHECK on delivery_status is not the expected one: {definition}")
    version = bind.execute(text("PRAGMA schema_version")).scalar_one()
    bind.execute(text("PRAGMA writable_schema=ON"))
    bind.execute(
        text("UPDATE sqlite_master SET sql = replace(sql, :old, :new) WHERE type = 'table' AND name = 'alert'"), {"old": old, "new": new}
    )
    bind.execute(text(f"PRAGMA schema_version={version + 1}"))
    bind.execute(text("PRAGMA writable_schema=OFF"))


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    bigint, timestamp = ("BIGINT", "TIMESTAMP WITH TIME ZONE") if postgres else ("INTEGER", "DATETIME")
    # A nullable column: a plain ALTER TABLE on both backends, no copy of the alert history.
    op.execute(f"ALTER TABLE alert ADD COLUMN digest_id {bigint}")
    op.execute(
        "CREATE INDEX ix_alert_digest_undelivered ON alert (digest_id)"
        " WHERE digest_id IS NOT NULL AND delivery_status IN ('pending', 'retrying')"
    )
    _delivery_statuses(BEFORE, AFTER)
    op.execute(
        "CREATE TABLE alert_channel_window (\n"
        "    channel VARCHAR(20) NOT NULL,\n"
        f"    window_start {timestamp} NOT NULL,\n"
        "    used INTEGER NOT NULL,\n"
        "    CONSTRAINT pk_alert_channel_window PRIMARY KEY (channel)\n"
        ")"
    )


def downgrade() -> None:
    op.execute("DROP TABLE alert_channel_window")
    op.execute("UPDATE alert SET delivery_status = 'sent' WHERE delivery_status = 'digested'")
    _delivery_statuses(AFTER, BEFORE)
    op.execute("DROP INDEX ix_alert_digest_undelivered")
    # Native DROP COLUMN (SQLite 3.35+), as 0007 does.
    op.execute("ALTER TABLE alert DROP COLUMN digest_id")
