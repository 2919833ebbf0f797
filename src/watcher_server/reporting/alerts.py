"""The alert history: alerts newest first with their delivery state and the first few pipelines each is
about (a freshness alert can name tens of thousands), with their names.

Two statements, both on indexes: the page of alerts (the primary key backwards; with a kind,
ix_alert_kind_id) with the number of pipelines each is about, and the first few of those pipelines
in the order they were recorded, with their names (ix_alert_subject_alert_id)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import Select, func, literal_column, select, true

from ..alerts.tables import alert, alert_subject
from ..db.engine import Database
from ..pipelines.tables import pipeline

SUBJECTS_SHOWN = 5
MESSAGE_CHARACTERS = 300  # the page shows the start; the API has the whole text
ERROR_CHARACTERS = 300


@dataclass(frozen=True)
class AlertEntry:
    id: int
    created_at: dt.datetime
    kind: str
    event: str
    level: str
    title: str
    message: str  # at most MESSAGE_CHARACTERS + 1 characters: one more means it was cut
    delivery_status: str
    delivery_attempts: int
    delivery_error: str | None  # cut like the message
    sent_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    pipelines: list[tuple[int, str | None]] = field(default_factory=list)  # the first recorded, by id: (id, name); None: gone
    more_pipelines: int = 0


def _first_subjects(dialect: str, alert_ids: list[int]) -> Select:
    """(alert_id, pipeline_id, name) of the first SUBJECTS_SHOWN pipelines recorded for each alert."""
    s = alert_subject
    if dialect == "postgresql":
        # A LATERAL ... LIMIT reads a handful of index entries per alert; numbering every subject, as
        # below, would read and sort all of them (82,000 for the freshness alert of a bad hour).
        alerts = select(alert.c.id).where(alert.c.id.in_(alert_ids)).subquery()
        first = select(s.c.pipeline_id).where(s.c.alert_id == alerts.c.id, s.c.pipeline_id.is_not(None)).limit(SUBJECTS_SHOWN).lateral()
        return (
            select(alerts.c.id.label("alert_id"), first.c.pipeline_id, pipeline.c.name)
            .select_from(alerts.join(first, true()).outerjoin(pipeline, pipeline.c.id == first.c.pipeline_id))
        )  # fmt: skip
    recorded = literal_column("alert_subject.rowid")  # SQLite's insertion order; PostgreSQL's index keeps it for equal keys
    numbered = (
        select(s.c.alert_id, s.c.pipeline_id, func.row_number().over(partition_by=s.c.alert_id, order_by=recorded).label("position"))
        .where(s.c.alert_id.in_(alert_ids), s.c.pipeline_id.is_not(None))
        .subquery()
    )
    return (
        select(numbered.c.alert_id, numbered.c.pipeline_id, pipeline.c.name)
        .outerjoin(pipeline, pipeline.c.id == numbered.c.pipeline_id)
        .where(numbered.c.position <= SUBJECTS_SHOWN)
        .order_by(numbered.c.alert_id, numbered.c.position)
    )


async def alert_history(
    db: Database, delivery_status: str | None = None, kind: str | None = None, offset: int = 0, limit: int = 50
) -> list[AlertEntry]:
    """limit + 1 alerts (so the caller knows whether another page follows), newest first."""
    page = select(
        alert.c.id, alert.c.created_at, alert.c.kind, alert.c.event, alert.c.level, alert.c.title,
        func.substr(alert.c.message, 1, MESSAGE_CHARACTERS + 1).label("message"), alert.c.delivery_status,
        alert.c.delivery_attempts, func.substr(alert.c.delivery_error, 1, ERROR_CHARACTERS + 1).label("delivery_error"),
        alert.c.sent_at, alert.c.next_attempt_at,
    )  # fmt: skip
    if delivery_status is not None:
        page = page.where(alert.c.delivery_status == delivery_status)
    if kind is not None:
        page = page.where(alert.c.kind == kind)
    page = page.order_by(alert.c.id.desc()).offset(offset).limit(limit + 1).subquery()
    # counted for the page's rows only: in the select list of the paged query it would also run for the skipped ones
    pipelines = select(func.count(alert_subject.c.pipeline_id)).where(alert_subject.c.alert_id == page.c.id).scalar_subquery()
    statement = select(page, pipelines.label("pipeline_count")).order_by(page.c.id.desc())
    async with db.read() as conn:
        rows = (await conn.execute(statement)).all()
        first: dict[int, list[tuple[int, str | None]]] = {}
        if rows:
            for row in await conn.execute(_first_subjects(conn.dialect.name, [row.id for row in rows])):
                first.setdefault(row.alert_id, []).append((row.pipeline_id, row.name))
    entries = []
    for *columns, pipeline_count in rows:
        listed = sorted(first.get(columns[0], []))
        entries.append(AlertEntry(*columns, pipelines=listed, more_pipelines=pipeline_count - len(listed)))
    return entries
