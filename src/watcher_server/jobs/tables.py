"""Claims on periodic ticks (contract §15): the first process to insert (job, scheduled_for) runs it."""

from sqlalchemy import Column, PrimaryKeyConstraint, String, Table

from ..db.schema import metadata
from ..db.types import JSONDocument, UTCDateTime

periodic_run = Table(
    "periodic_run",
    metadata,
    Column("job", String(50), nullable=False),
    Column("scheduled_for", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("outcome", JSONDocument),
    PrimaryKeyConstraint("job", "scheduled_for"),
)
