"""Helpers of the alert delivery tests: alerts recorded at a chosen moment, an app pointed at a receiver."""

from __future__ import annotations

import contextlib
import datetime as dt

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import select

from watcher_server.alerts.service import Outbox, record_alert
from watcher_server.alerts.tables import alert
from watcher_server.app import create_app

NOW = dt.datetime(2025, 3, 1, 10, 0, tzinfo=dt.UTC)


async def record(db, settings, at: dt.datetime = NOW, title: str = "Freshness Check - Pipeline DML") -> int:
    async with db.write() as conn:
        return await record_alert(
            conn, settings, at, Outbox(), kind="freshness", event="opened", level="warning", title=title,
            message="Pipeline Freshness Check - 1 NEW pipeline(s) overdue", details={"Failed Pipelines": "orders"}, pipeline_ids=[1],
        )  # fmt: skip


async def row_of(db, alert_id: int):
    async with db.read() as conn:
        return (await conn.execute(select(alert).where(alert.c.id == alert_id))).one()


async def rows(db) -> list:
    async with db.read() as conn:
        return (await conn.execute(select(alert).order_by(alert.c.id))).all()


@contextlib.asynccontextmanager
async def watcher(settings, **overrides):
    """The app with some settings changed (a receiver's URL is known only once it runs): (client, services)."""
    app = create_app(settings.model_copy(update=overrides))
    async with LifespanManager(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://watcher.test") as http:
        yield http, app.state.services
