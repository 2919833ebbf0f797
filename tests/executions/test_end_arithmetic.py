"""Duration and throughput of an end are core.numbers' values on every path: on PostgreSQL the usual end
computes them in the database, in exact numeric arithmetic, and must agree to the last bit."""

from __future__ import annotations

import datetime as dt
import random

from watcher_server.core.numbers import INT64_MAX, duration_seconds, throughput

from ..helpers import create_pipeline, start

START = dt.datetime(2024, 1, 1, 10, 0, tzinfo=dt.UTC)
US = dt.timedelta(microseconds=1)
SECOND = dt.timedelta(seconds=1)

# (time from start to end, total_rows): ties of both roundings and the numbers at their edges
CASES = [
    (US, 5),  # rounds to 0 s: throughput 0
    (SECOND / 2 - US, None),
    (SECOND / 2, None),  # half a second rounds up
    (SECOND / 2, 7),
    (SECOND * 3 / 2, 1),  # 2 s, 0.5 rows/s
    (SECOND * 5 / 2 - US, 1),
    (SECOND * 20000, 1),  # 0.00005 rows/s: the tie at 4 places rounds up
    (SECOND * 20000 + SECOND, 1),
    (SECOND * 3, 1),  # 0.3333...
    (SECOND * 3, 2),  # 0.6666...
    (SECOND * 7, INT64_MAX),
    (SECOND, INT64_MAX),
    (SECOND * 3, 0),
    (dt.timedelta(days=400, microseconds=499_999), 10**15 + 1),
    (dt.timedelta(days=3, seconds=1, microseconds=500_000), 123_456_789),
    (SECOND * 40000, 3),  # 0.000075: a tie at the fifth place
]


def _random_cases(count: int) -> list[tuple[dt.timedelta, int | None]]:
    rng = random.Random(20261130)
    cases = []
    for _ in range(count):
        span = dt.timedelta(microseconds=rng.choice([rng.randrange(1, 10**7), rng.randrange(1, 10**12), rng.randrange(1, 10**14)]))
        cases.append((span, rng.choice([None, rng.randrange(0, 10**6), rng.randrange(0, 2**63)])))
    return cases


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def test_duration_and_throughput_are_core_numbers_values_on_every_end(client):
    pipeline_id = await create_pipeline(client, "arithmetic")
    for span, total_rows in CASES + _random_cases(40):
        execution_id = await start(client, pipeline_id, start_date=_iso(START))
        body = {"id": execution_id, "end_date": _iso(START + span), "completed_successfully": True}
        if total_rows is not None:
            body["total_rows"] = total_rows
        ended = await client.post("/end_pipeline_execution", json=body)
        assert ended.status_code == 200, ended.text
        expected_duration = duration_seconds(START, START + span)
        got = ended.json()
        assert (got["duration_seconds"], got["throughput"]) == (expected_duration, throughput(total_rows, expected_duration)), (
            span,
            total_rows,
        )


async def test_throughput_uses_the_stored_total_rows_when_the_end_sends_none(client):
    pipeline_id = await create_pipeline(client, "stored rows")
    execution_id = await start(client, pipeline_id, start_date=_iso(START))
    first = await client.post(
        "/end_pipeline_execution",
        json={"id": execution_id, "end_date": _iso(START + SECOND * 3), "completed_successfully": False, "total_rows": 10},
    )
    assert first.json()["throughput"] == 3.3333
    again = await client.post(
        "/end_pipeline_execution", json={"id": execution_id, "end_date": _iso(START + SECOND * 4), "completed_successfully": True}
    )
    assert again.status_code == 200 and again.json()["throughput"] == 2.5 and again.json()["total_rows"] == 10
