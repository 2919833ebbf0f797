"""Anomaly detection rules: create-or-get, list, read, PATCH (contract §13.1). A PATCH that stops a rule
watching its metric ends the metric's open anomaly incident (incidents.py)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field
from sqlalchemy import and_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ..core.clock import CLOCK
from ..core.errors import Conflict, NotFound
from ..core.fields import Id
from ..core.ids import fits_int32
from ..core.rendering import render_row
from ..core.text import normalize
from ..db.engine import Database
from ..db.filters import id_equals
from ..db.locks import exclusive
from ..db.paging import Page
from ..db.upsert import get_or_create
from ..pipelines.service import require_pipeline
from . import incidents
from .tables import anomaly_detection_rule as rule
from .vocabulary import DIRECTIONS, METRICS, SEASONALITIES

RULE_NOT_FOUND = "Anomaly detection rule not found"
COLLISION = "Anomaly detection rule already exists for this pipeline and metric"

Metric = Annotated[Literal[METRICS], BeforeValidator(normalize)]
Direction = Annotated[Literal[DIRECTIONS], BeforeValidator(normalize)]
Seasonality = Annotated[Literal[SEASONALITIES], BeforeValidator(normalize)]
ZThreshold = Annotated[float, Field(ge=1.0, le=10.0)]
LookbackDays = Annotated[int, Field(ge=1, le=365)]
MinimumExecutions = Annotated[int, Field(ge=5, le=1000)]


class RuleCreate(BaseModel):
    pipeline_id: Id
    metric_field: Metric
    z_threshold: ZThreshold = 3.0
    lookback_days: LookbackDays = 30
    minimum_executions: MinimumExecutions = 30
    direction: Direction = "both"
    seasonality: Seasonality = "hour_of_day"
    active: bool = True


class RuleUpdate(BaseModel):
    id: Id
    pipeline_id: Id = None
    metric_field: Metric = None
    z_threshold: ZThreshold = None
    lookback_days: LookbackDays = None
    minimum_executions: MinimumExecutions = None
    direction: Direction = None
    seasonality: Seasonality = None
    active: bool = None


def two_decimals(value: float) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


async def create_or_get(db: Database, body: RuleCreate) -> tuple[int, bool]:
    values = body.model_dump(exclude={"pipeline_id", "metric_field"})
    values["z_threshold"] = two_decimals(values["z_threshold"])
    async with db.write() as conn:
        await require_pipeline(conn, body.pipeline_id)
        return await get_or_create(
            conn, rule, {"pipeline_id": body.pipeline_id, "metric_field": body.metric_field}, {**values, "created_at": CLOCK.now()}
        )


async def list_rules(db: Database, paging: Page, pipeline_id: int | None, metric_field: str | None, active: bool | None):
    statement = select(rule)
    if pipeline_id is not None:
        statement = statement.where(id_equals(rule.c.pipeline_id, pipeline_id))
    if metric_field is not None:
        statement = statement.where(rule.c.metric_field == metric_field)
    if active is not None:
        statement = statement.where(rule.c.active == active)
    return await paging.fetch(db, statement, rule.c.id)


async def get_rule(db: Database, rule_id: int):
    async with db.read() as conn:
        return await _require(conn, rule_id)


async def _require(conn: AsyncConnection, rule_id: int):
    if not fits_int32(rule_id):
        raise NotFound(RULE_NOT_FOUND)
    found = (await conn.execute(select(rule).where(rule.c.id == rule_id))).first()
    if found is None:
        raise NotFound(RULE_NOT_FOUND)
    return found


async def patch_rule(db: Database, body: RuleUpdate):
    changes = {k: getattr(body, k) for k in body.model_fields_set if k != "id"}
    if "z_threshold" in changes:
        changes["z_threshold"] = two_decimals(changes["z_threshold"])
    async with db.write() as conn:
        current = await _require(conn, body.id)
        now = CLOCK.now()
        stops_watching = current.active and (
            changes.get("active") is False
            or changes.get("pipeline_id", current.pipeline_id) != current.pipeline_id
            or changes.get("metric_field", current.metric_field) != current.metric_field
        )
        if stops_watching:
            # Before the rule changes: a detection of this pipeline holding the lock finishes first, and
            # one waiting for it then finds the rule changed and opens nothing.
            await exclusive(conn, incidents.lock(current.pipeline_id))
        if "pipeline_id" in changes:
            await require_pipeline(conn, changes["pipeline_id"])
        pipeline_id = changes.get("pipeline_id", current.pipeline_id)
        metric = changes.get("metric_field", current.metric_field)
        clash = select(rule.c.id).where(and_(rule.c.pipeline_id == pipeline_id, rule.c.metric_field == metric, rule.c.id != body.id))
        if (await conn.execute(clash)).first() is not None:
            raise Conflict(COLLISION)
        try:
            updated = (await conn.execute(update(rule).where(rule.c.id == body.id).values(**changes, updated_at=now).returning(rule))).one()
        except IntegrityError:
            raise Conflict(COLLISION) from None
        if stops_watching:
            await incidents.unmonitored(conn, current.pipeline_id, current.metric_field, now)
        return updated


RULE_KEYS = (
    "id", "pipeline_id", "metric_field", "z_threshold", "lookback_days", "minimum_executions", "direction",
    "seasonality", "active", "created_at", "updated_at",
)  # fmt: skip


def render_rule(row) -> dict[str, Any]:
    return render_row(row, RULE_KEYS)
