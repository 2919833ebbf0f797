"""Alert outbox schema (contract §3, §12)."""

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)

from ..db.schema import enum_check, metadata
from ..db.types import BigId, JSONDocument, UTCDateTime, created_at_column
from .vocabulary import DELIVERY_STATUSES, DIGEST_UNDELIVERED_SQL, EVENTS, KINDS, LEVELS, UNDELIVERED_SQL

alert = Table(
    "alert",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("kind", String(20), CheckConstraint(enum_check("kind", KINDS), name="kind_enum"), nullable=False),
    Column("event", String(20), CheckConstraint(enum_check("event", EVENTS), name="event_enum"), nullable=False),
    Column("level", String(20), CheckConstraint(enum_check("level", LEVELS), name="level_enum"), nullable=False),
    Column("title", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("details", JSONDocument),
    created_at_column(),
    Column(
        "delivery_status",
        String(20),
        CheckConstraint(enum_check("delivery_status", DELIVERY_STATUSES), name="delivery_status_enum"),
        nullable=False,
        server_default="pending",
    ),
    Column("delivery_attempts", Integer, nullable=False, server_default=text("0")),
    Column("delivery_error", Text),
    Column("sent_at", UTCDateTime),
    Column("next_attempt_at", UTCDateTime),
    # Retried until then, failed after (migration 0007); null on rows from before it: created_at + the setting.
    Column("retry_until", UTCDateTime),
    # The digest the alert was sent in, named by the id of the digest's first alert (migration 0010).
    Column("digest_id", BigId),
    sqlite_autoincrement=True,
)
Index("ix_alert_created_at", alert.c.created_at)
Index("ix_alert_kind_id", alert.c.kind, alert.c.id)  # the last alert of a kind: the queue incident (migration 0006)
Index("ix_alert_delivery_status_id", alert.c.delivery_status, alert.c.id)  # the alerts page by delivery status (migration 0008)
Index(
    "ix_alert_undelivered",
    alert.c.next_attempt_at,
    sqlite_where=text(UNDELIVERED_SQL),
    postgresql_where=text(UNDELIVERED_SQL),
)
Index(
    "ix_alert_digest_undelivered",
    alert.c.digest_id,
    sqlite_where=text(DIGEST_UNDELIVERED_SQL),
    postgresql_where=text(DIGEST_UNDELIVERED_SQL),
)

# Per channel ("slack", "webhook"): the current one-minute window of its rate limit and the messages
# claimed in it (WATCHER_ALERT_RATE_LIMIT_PER_MINUTE; migration 0010). Locked while alerts are claimed.
alert_channel_window = Table(
    "alert_channel_window",
    metadata,
    Column("channel", String(20), primary_key=True),
    Column("window_start", UTCDateTime, nullable=False),
    Column("used", Integer, nullable=False),
)

# No foreign keys to pipelines or executions: alert history outlives retention.
alert_subject = Table(
    "alert_subject",
    metadata,
    Column("alert_id", BigId, ForeignKey("alert.id", ondelete="CASCADE"), nullable=False),
    Column("pipeline_id", Integer),
    Column("pipeline_execution_id", BigId),
)
Index("ix_alert_subject_alert_id", alert_subject.c.alert_id)
Index("ix_alert_subject_pipeline_id", alert_subject.c.pipeline_id)
Index("ix_alert_subject_pipeline_execution_id", alert_subject.c.pipeline_execution_id)
