"""The raw OpenLineage event log (docs/openlineage.md): every accepted event, as received."""

from sqlalchemy import CheckConstraint, Column, Index, Integer, String, Table, Text

from ..db.schema import enum_check, metadata
from ..db.types import BigId, JSONDocument, UTCDateTime
from .events import EVENT_KINDS

openlineage_event = Table(
    "openlineage_event",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("received_at", UTCDateTime, nullable=False),
    Column("event_time", UTCDateTime, nullable=False),
    Column("event_kind", String(10), CheckConstraint(enum_check("event_kind", EVENT_KINDS), name="event_kind_enum"), nullable=False),
    Column("event_type", String(10)),
    # the job's (namespace, name), or the dataset's for a DatasetEvent, exactly as sent
    Column("namespace", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("run_id", String(36)),
    # no foreign keys: the log outlives execution retention and is cleaned up on its own
    Column("pipeline_id", Integer),
    Column("execution_id", BigId),
    # SHA-256 of the event's canonical JSON: a producer's retry is recognised as a repeat
    Column("event_hash", String(64), nullable=False, unique=True),
    Column("event", JSONDocument, nullable=False),
    sqlite_autoincrement=True,
)
# the log's filters (GET /api/v1/lineage/events) and cleanup's cutoff
Index("ix_openlineage_event_run_id_id", openlineage_event.c.run_id, openlineage_event.c.id)
Index("ix_openlineage_event_namespace_name_id", openlineage_event.c.namespace, openlineage_event.c.name, openlineage_event.c.id)
Index("ix_openlineage_event_event_time", openlineage_event.c.event_time)
Index("ix_openlineage_event_received_at", openlineage_event.c.received_at)
