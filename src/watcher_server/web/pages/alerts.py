"""/ui/alerts: the alert history with delivery state, attempts and the pipelines each alert is about."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from ...alerts.vocabulary import DELIVERY_STATUSES, KINDS
from ...http import DB, ClockDep
from ...reporting.alerts import ERROR_CHARACTERS, MESSAGE_CHARACTERS, alert_history
from ..paging import PAGE_SIZE, pager
from ..templating import page

router = APIRouter(include_in_schema=False)

MAX_PAGE = 2000

# the vocabulary's words, so a new kind or state is filterable without a change here
DeliveryFilter = Literal[("any", *DELIVERY_STATUSES)]  # type: ignore[valid-type]
KindFilter = Literal[("any", *KINDS)]  # type: ignore[valid-type]


@router.get("/ui/alerts")
async def alerts_page(
    request: Request,
    db: DB,
    clock: ClockDep,
    delivery: DeliveryFilter = "any",
    kind: KindFilter = "any",
    page_number: Annotated[int, Query(alias="page", ge=1, le=MAX_PAGE)] = 1,
):
    number = page_number
    rows = await alert_history(
        db, None if delivery == "any" else delivery, None if kind == "any" else kind, (number - 1) * PAGE_SIZE, PAGE_SIZE
    )
    context = {
        "alerts": rows[:PAGE_SIZE], "delivery": delivery, "kind": kind, "pager": pager(request, number, PAGE_SIZE, len(rows) > PAGE_SIZE and number < MAX_PAGE),
        "beyond": len(rows) > PAGE_SIZE and number == MAX_PAGE,
        "kinds": KINDS, "statuses": DELIVERY_STATUSES, "message_characters": MESSAGE_CHARACTERS, "error_characters": ERROR_CHARACTERS,
        "now": clock.now(),
    }  # fmt: skip
    return page(request, "alerts.html", context)
