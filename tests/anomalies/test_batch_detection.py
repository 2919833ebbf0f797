"""Detection of many executions in one transaction (`detection.detect_many`, what the embedded runner
runs for queued ends): the outcomes of running `detect` one at a time, baselines reduced in the
database as exactly as Python's `statistics` reduces them (contract §13.2 step 3), a number of
statements that does not grow with the batch, and incidents that move on run by run inside a batch.

The data is written straight into the tables of a database without the app: no end goes through HTTP,
so no background detection flags a run (and changes a baseline) while a test runs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import random
import shutil
import statistics
import uuid

import asyncpg
import pytest
from sqlalchemy import event, insert, select

from watcher_server.alerts.service import Outbox
from watcher_server.alerts.tables import alert, alert_subject
from watcher_server.anomalies import detection
from watcher_server.anomalies.evaluation import SEASON_COLUMN, Rule, evaluate
from watcher_server.anomalies.tables import anomaly_detection_result, anomaly_detection_rule, anomaly_incident
from watcher_server.db.engine import Database, create_engine
from watcher_server.executions.tables import pipeline_execution as pe
from watcher_server.pipelines.tables import pipeline, pipeline_type

from ..conftest import PG_ADMIN_URL

UTC = dt.UTC
NOW = dt.datetime(2025, 3, 25, 12, 0, tzinfo=UTC)  # a Tuesday
REL = 1e-12


# --- a second fresh database of the same backend (the "fresh copy" a one-at-a-time run works on) ---


@pytest.fixture
async def twin_db(request, backend, tmp_path):
    """A Database on another fresh migrated database of the test's backend."""
    if backend == "sqlite":
        path = tmp_path / "twin.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
        name = None
    else:
        template = request.getfixturevalue("postgres_template")
        name = f"watcher_twin_{uuid.uuid4().hex[:12]}"
        admin_dsn = PG_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")
        admin = await asyncpg.connect(admin_dsn)
        try:
            await admin.execute(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY")
        finally:
            await admin.close()
        url = f"{PG_ADMIN_URL.rpartition('/')[0]}/{name}"
    engine = create_engine(url)
    yield Database(engine)
    await engine.dispose()
    if name is not None:
        admin = await asyncpg.connect(admin_dsn)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()


# --- writing a world straight into the tables ---


async def pipelines(db: Database, *names: str) -> list[int]:
    async with db.write() as conn:
        type_id = (await conn.execute(select(pipeline_type.c.id).where(pipeline_type.c.name == "t"))).scalar()
        if type_id is None:
            type_id = (await conn.execute(insert(pipeline_type).values(name="t").returning(pipeline_type.c.id))).scalar_one()
        rows = [{"name": name, "pipeline_type_id": type_id, "input_hash": "-"} for name in names]
        ids = []
        for row in rows:
            ids.append((await conn.execute(insert(pipeline).values(**row).returning(pipeline.c.id))).scalar_one())
    return ids


async def add_rule(
    db: Database,
    pipeline_id: int,
    metric: str = "total_rows",
    z: float = 2.0,
    lookback: int = 30,
    minimum: int = 5,
    direction: str = "both",
    seasonality: str = "hour_of_day",
    active: bool = True,
) -> Rule:
    values = {
        "pipeline_id": pipeline_id, "metric_field": metric, "z_threshold": z, "lookback_days": lookback,
        "minimum_executions": minimum, "direction": direction, "seasonality": seasonality, "active": active,
    }  # fmt: skip
    async with db.write() as conn:
        rule_id = (await conn.execute(insert(anomaly_detection_rule).values(**values).returning(anomaly_detection_rule.c.id))).scalar_one()
    return Rule(rule_id, metric, z, lookback, minimum, direction, seasonality)


async def runs(db: Database, pipeline_id: int, *specs: dict) -> list[int]:
    """One execution per spec: `start` (a datetime), `minutes` it ran (10), `ok` (True; None: still
    running), `flags` (anomaly_flags), and metric values. Returns their ids, in order."""
    ids = []
    async with db.write() as conn:
        for spec in specs:
            spec = dict(spec)
            start, minutes, ok, flags = spec.pop("start"), spec.pop("minutes", 10), spec.pop("ok", True), spec.pop("flags", None)
            ended = ok is not None
            row = {
                "pipeline_id": pipeline_id, "start_date": start, "date_recorded": start.date(), "hour_recorded": start.hour,
                "weekday_recorded": start.isoweekday(), "end_date": start + dt.timedelta(minutes=minutes) if ended else None,
                "duration_seconds": round(minutes * 60) if ended else None, "completed_successfully": ok, "anomaly_flags": flags,
                **spec,
            }  # fmt: skip
            ids.append((await conn.execute(insert(pe).values(**row).returning(pe.c.id))).scalar_one())
    return ids


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2025, month, day, hour, minute, tzinfo=UTC)


async def rows_of(db: Database, table, *order) -> list[dict]:
    async with db.read() as conn:
        return [dict(row._mapping) for row in await conn.execute(select(table).order_by(*order))]


async def state(db: Database) -> dict[str, list[dict]]:
    """What detection writes: flags and checks, result rows, incidents, alerts and their subjects."""
    executions = await rows_of(db, pe, pe.c.id)
    return {
        "executions": [{k: e[k] for k in ("id", "anomaly_flags", "anomaly_checked_at")} for e in executions],
        "results": await rows_of(db, anomaly_detection_result, "pipeline_execution_id", "rule_id"),
        "incidents": await rows_of(db, anomaly_incident, anomaly_incident.c.id),
        "alerts": await rows_of(db, alert, alert.c.id),
        "alert_subjects": await rows_of(db, alert_subject, "alert_id", "pipeline_id", "pipeline_execution_id"),
    }


def same(a, b, path="") -> None:
    """a == b, floats equal to 12 significant digits (sums may be taken in another order)."""
    if isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=REL, abs=0) or (math.isnan(a) and math.isnan(b)), f"{path}: {a!r} != {b!r}"
    elif isinstance(a, dict) and isinstance(b, dict):
        assert list(a) == list(b), f"{path}: keys {list(a)} != {list(b)}"
        for key in a:
            same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
        assert len(a) == len(b), f"{path}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


# --- contract §13.2 step 1, in Python over the raw rows: the expectation every baseline is held to ---


def baseline_values(executions: list[dict], subject: dict, rule: Rule, now: dt.datetime) -> list[float]:
    since = now - dt.timedelta(days=rule.lookback_days)
    column = SEASON_COLUMN.get(rule.seasonality)
    m = rule.metric_field
    return [
        float(x[m])
        for x in executions
        if x["pipeline_id"] == subject["pipeline_id"]
        and x["id"] != subject["id"]
        and x["completed_successfully"] is True
        and x["end_date"] is not None
        and x["end_date"] >= since
        and (column is None or x[column] == subject[column])
        and x[m] is not None
        and (x["anomaly_flags"] or {}).get(m) is not True
    ]


def expected_outcome(executions: list[dict], subject: dict, rules: list[Rule], now: dt.datetime) -> dict:
    """What the contract says detection of `subject` finds with these active rules: its status, each
    fired rule's (baseline size, statistics.fmean, statistics.stdev), and the skipped rules with why."""
    if subject["completed_successfully"] is not True or not rules:
        return {"status": "skipped", "fired": {}, "skipped": []}
    fired, skipped = {}, []
    for rule in rules:
        value = subject[rule.metric_field]
        if value is None:
            skipped.append((rule.id, "no_value"))
            continue
        values = baseline_values(executions, subject, rule, now)
        if len(values) < rule.minimum_executions:
            skipped.append((rule.id, "insufficient_history"))
            continue
        if evaluate(float(value), values, rule.z_threshold, rule.direction) is not None:
            fired[rule.id] = (len(values), statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0)
    return {"status": "warning" if fired else "success", "fired": fired, "skipped": skipped}


def observed(outcome: dict) -> dict:
    fired = {a["rule_id"]: (a["context"]["execution_count"], a["historical_mean"], a["std_deviation_value"]) for a in outcome["anomalies"]}
    skipped = [(s["rule_id"], s["reason"]) for s in outcome["skipped_rules"]]
    return {"status": outcome["status"], "fired": fired, "skipped": skipped}


async def detect_all(db: Database, settings, ids, now: dt.datetime = NOW, only_pending: bool = False) -> dict[int, dict]:
    """One detect_many call: its outcomes by execution id."""
    outcomes = await detection.detect_many(db, settings, list(ids), now, Outbox(), only_pending=only_pending)
    found = {o["pipeline_execution_id"]: o for o in outcomes}
    assert len(found) == len(outcomes), "an execution reported twice by one call"
    return found


async def anomaly_alerts(db: Database) -> list[tuple[str, list[str]]]:
    """The anomaly alerts as (event, metrics), oldest first."""
    return [(a["event"], a["details"]["Metrics"]) for a in await rows_of(db, alert, alert.c.id) if a["kind"] == "anomaly"]


NORMAL = [20, 22, 24, 26, 28]  # mean 24, sd √10: with z = 2 the band is 17.68-30.32


async def watched(db: Database, name: str, values=NORMAL) -> int:
    """A pipeline with a total_rows rule (z = 2, minimum 5, hour of day) and one run of each value at
    10:00 from March 1."""
    [pid] = await pipelines(db, name)
    await add_rule(db, pid)
    await runs(db, pid, *({"start": at(day, 10), "total_rows": v} for day, v in enumerate(values, start=1)))
    return pid


# --- 1. a batch decides what one-at-a-time detection decides ---


async def _world(db: Database, settings) -> tuple[dict[str, int], dict[int, list[Rule]]]:
    """Four pipelines, the same on every database it is written to (a seeded generator):

    * `spread`: two runs a day (03:00 and 10:00) from January 31 to March 24 with spread on
      total_rows, inserts, updates (ints) and throughput (a float with all its digits), and rules with
      each season and four lookbacks (30, 14, 60, 7 days; 'updates' watches drops only). Its history
      holds what a baseline must leave out: a run flagged by a real detection (1,000,000 rows), a
      failed run and a run still going (10,000,000 rows), a run with no total_rows and no
      throughput, a run whose inserts are flagged but whose total_rows flag is false (kept for
      total_rows only), and two runs at the edge of the 14-day lookback: one ending exactly at
      now - 14 days (kept), one 0.6 s earlier (left out).
    * `holes`: a run with no total_rows and no throughput (no_value twice) and a duration spike.
    * `young`: three runs, fewer than its rule's minimum of five (insufficient_history).
    * `bare`: no active rule (an inactive one only).

    Returns the ids of the executions the test detects, by name, and each pipeline's active rules."""
    rng = random.Random(1303)
    spread, holes, young, bare = await pipelines(db, "spread", "holes", "young", "bare")
    rules = {
        spread: [
            await add_rule(db, spread, "total_rows", z=2, lookback=30, seasonality="hour_of_day"),
            await add_rule(db, spread, "throughput", z=2.5, lookback=14, seasonality="none"),
            await add_rule(db, spread, "inserts", z=3, lookback=60, seasonality="day_of_week"),
            await add_rule(db, spread, "updates", z=2, lookback=7, seasonality="hour_of_day", direction="drop"),
        ],
        holes: [
            await add_rule(db, holes, "total_rows"),
            await add_rule(db, holes, "throughput", seasonality="none"),
            await add_rule(db, holes, "duration_seconds", z=3, seasonality="none"),
        ],
        young: [await add_rule(db, young, "total_rows", seasonality="none")],
        bare: [],
    }
    await add_rule(db, spread, "soft_deletes", active=False)
    await add_rule(db, bare, "total_rows", active=False)

    def usual(start: dt.datetime, **extra) -> dict:
        values = {"total_rows": rng.randint(950, 1050), "inserts": rng.randint(480, 520), "updates": rng.randint(90, 110)}
        return {"start": start, **values, "throughput": rng.uniform(10, 20), **extra}

    days = [NOW.replace(hour=hour) - dt.timedelta(days=back) for back in range(52, 0, -1) for hour in (3, 10)]
    [flagged, *_] = await runs(
        db,
        spread,
        usual(at(15, 10, 30), total_rows=1_000_000),
        *(usual(day) for day in days),
        usual(at(19, 10, 30), ok=False, total_rows=10_000_000, inserts=10_000_000, updates=0, throughput=1e6),
        usual(at(24, 10, 30), ok=None, total_rows=10_000_000),
        usual(at(21, 10, 30), total_rows=None, throughput=None),
        usual(at(18, 10, 30), inserts=1_000_000, flags={"total_rows": False, "inserts": True}),
        usual(at(11, 11, 50), throughput=40.0),  # ends at now - 14 days exactly
        usual(at(11, 11, 49), minutes=10.99, throughput=1000.0),  # ends 0.6 s before
    )
    assert observed(await detection.detect(db, settings, flagged, NOW, Outbox()))["status"] == "warning"
    await runs(
        db, holes, *({"start": at(day, 10), "minutes": rng.uniform(9, 11), "total_rows": rng.randint(950, 1050), "throughput": rng.uniform(1, 2)} for day in range(10, 25))
    )  # fmt: skip
    await runs(db, young, *({"start": at(day, 10), "total_rows": 100} for day in (22, 23, 24)))
    await runs(db, bare, *({"start": at(day, 10), "total_rows": 100} for day in (20, 21, 22, 23, 24)))
    central = {"total_rows": 1000, "inserts": 500, "updates": 100, "throughput": 15.0}
    names = ["normal", "spike", "drop", "hole", "young", "failed", "bare"]
    ids = [
        *await runs(db, spread, {"start": at(25, 10), **central}),
        *await runs(db, spread, {"start": at(25, 10, 20), **central, "total_rows": 5000}),
        *await runs(db, spread, {"start": at(25, 3), **central, "inserts": 5, "throughput": 100.0}),
        *await runs(db, holes, {"start": at(25, 10), "minutes": 100, "total_rows": None, "throughput": None}),
        *await runs(db, young, {"start": at(25, 10), "total_rows": 100}),
        *await runs(db, spread, {"start": at(25, 11), "ok": False, "total_rows": 10_000_000}),
        *await runs(db, bare, {"start": at(25, 10), "total_rows": 100}),
    ]
    return dict(zip(names, ids, strict=True)), rules


async def test_one_batch_decides_and_writes_what_detecting_each_execution_alone_does(standalone_db, twin_db, settings):
    """The same world on two fresh databases: on one, `detect` for each execution in id order; on the
    other, one detect_many over them all, given in reverse order. A batch computes every baseline
    before it flags anything, so the world is built for the two to agree: a run that fires is in no
    later run's baseline for the metric it fires on (`spike` fires on total_rows by hour at 10:00,
    and no later detected run of `spread` is at 10:00; `drop` is the last detected run of `spread`).
    Besides the outcomes and everything written, each fired rule's mean and sd are checked against
    Python's statistics over the baseline the contract defines, read from the rows before detection."""
    batch, rules = await _world(standalone_db, settings)
    alone, _ = await _world(twin_db, settings)
    assert alone == batch
    before = {row["id"]: row for row in await rows_of(standalone_db, pe, pe.c.id)}

    one_by_one = {i: await detection.detect(twin_db, settings, i, NOW, Outbox()) for i in sorted(alone.values())}
    together = await detect_all(standalone_db, settings, sorted(batch.values(), reverse=True))

    same(together, one_by_one)
    same(await state(standalone_db), await state(twin_db))
    spread_rules = {r.metric_field: r.id for r in rules[before[batch["spike"]]["pipeline_id"]]}
    hole_rules = {r.metric_field: r.id for r in rules[before[batch["hole"]]["pipeline_id"]]}
    decided = {name: observed(together[i]) for name, i in batch.items()}
    assert {name: (d["status"], sorted(d["fired"]), d["skipped"]) for name, d in decided.items()} == {
        "normal": ("success", [], []),
        "spike": ("warning", [spread_rules["total_rows"]], []),
        "drop": ("warning", sorted([spread_rules["throughput"], spread_rules["inserts"]]), []),
        "hole": (
            "warning",
            [hole_rules["duration_seconds"]],
            [(hole_rules["total_rows"], "no_value"), (hole_rules["throughput"], "no_value")],
        ),
        "young": ("success", [], [(rules[before[batch["young"]]["pipeline_id"]][0].id, "insufficient_history")]),
        "failed": ("skipped", [], []),
        "bare": ("skipped", [], []),
    }
    assert together[batch["failed"]]["reason"] == detection.NOT_SUCCESSFUL
    assert together[batch["bare"]]["reason"] == detection.NO_ACTIVE_RULE
    for name, i in batch.items():
        expected = expected_outcome(list(before.values()), before[i], rules[before[i]["pipeline_id"]], NOW)
        same(decided[name], expected, name)
    # the incident of the flagged run is recovered by `normal`; `spike` opens another, which `drop`
    # (normal on total_rows) recovers in the same batch while opening two of its own
    assert await anomaly_alerts(standalone_db) == [
        ("opened", ["total_rows"]),
        ("recovered", ["total_rows"]),
        ("opened", ["total_rows"]),
        ("opened", ["throughput", "inserts"]),
        ("recovered", ["total_rows"]),
        ("opened", ["duration_seconds"]),
    ]


# --- 2. precision: the database's arithmetic against Python's statistics ---


async def _detected_against(db: Database, settings, metric: str, baseline: list, *values) -> list[dict]:
    """For each of `values`, a pipeline with a `metric` rule (no season, z = 3) over runs of these
    baseline values and then one run of the value; all detected in one batch. Their outcomes, in order."""
    subjects = []
    for value in values:
        [pid] = await pipelines(db, f"p{uuid.uuid4().hex[:8]}")
        await add_rule(db, pid, metric, z=3, seasonality="none", minimum=len(baseline))
        await runs(db, pid, *({"start": at(day, 10), metric: v} for day, v in enumerate(baseline, start=1)))
        subjects += await runs(db, pid, {"start": at(24, 10), metric: value})
    outcomes = await detect_all(db, settings, subjects)
    return [outcomes[i] for i in subjects]


SPREAD = {
    "2**53 plus a little": [2**53 + d for d in (0, 2, 4, 6, 10, 16, 26)],
    "2**53 plus odd numbers, rounded to float64": [2**53 + d for d in (1, 3, 5, 7, 9, 11)],
    "2**62 spread by millions": [2**62 + d * 1_000_003 for d in (0, 3, 7, 12, 20, 33)],
    "thirds": [k / 3 for k in (1, 1, 2, 1, 4, 1, 2)],
    "thirds a billionth apart": [1 / 3 + k * 1e-9 for k in (0, 1, 2, 4, 7)],
}


@pytest.mark.parametrize("case", list(SPREAD))
async def test_a_batch_baseline_of_large_or_inexact_values_has_the_mean_and_sd_of_python_statistics(standalone_db, settings, case):
    """Contract §13.2 step 3: mean and sample sd of the float64 values. The reference is
    statistics.fmean / statistics.stdev, which round once (as the single-execution detection did
    before batches); a run far above the baseline fires, so its result shows both numbers."""
    baseline = SPREAD[case]
    metric = "throughput" if isinstance(baseline[0], float) else "total_rows"
    [outcome] = await _detected_against(standalone_db, settings, metric, baseline, 1000.0 if metric == "throughput" else 2**63 - 1)
    [anomaly] = outcome["anomalies"]
    values = [float(v) for v in baseline]
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    assert anomaly["context"]["execution_count"] == len(values)
    assert anomaly["historical_mean"] == pytest.approx(mean, rel=REL, abs=0)
    got = anomaly["std_deviation_value"]
    assert got == pytest.approx(sd, rel=REL, abs=0), f"sd {got!r}, Python {sd!r}: relative error {abs(got - sd) / sd:.1e}"


@pytest.mark.parametrize("value", [0.1, 1 / 3, 2.0 / 3.0 * 1e-7, float(2**53)], ids=["0.1", "1/3", "2/3e-7", "2**53"])
async def test_a_batch_baseline_of_one_repeated_value_has_no_spread_and_flags_the_next_float_either_way(standalone_db, settings, value):
    """Seven runs of `value` (their float sum is not 7 × value, except for 2**53): sd is exactly 0, the
    band is exactly the value, the value itself is normal and the nearest float on either side fires
    with no z-score (§13.2 step 4)."""
    metric = "total_rows" if value == 2**53 else "throughput"
    same_value, above, below = (
        (int(value), 2**53 + 2, 2**53 - 1) if metric == "total_rows" else (value, math.nextafter(value, 2), math.nextafter(value, 0))
    )
    normal, spike, drop = await _detected_against(standalone_db, settings, metric, [same_value] * 7, same_value, above, below)
    assert (normal["status"], normal["skipped_rules"]) == ("success", [])
    for outcome, kind in ((spike, "spike"), (drop, "drop")):
        [anomaly] = outcome["anomalies"]
        assert anomaly["context"]["anomaly_type"] == kind
        assert (anomaly["historical_mean"], anomaly["std_deviation_value"], anomaly["z_score"]) == (value, 0.0, None)
        assert (anomaly["threshold_min_value"], anomaly["threshold_max_value"]) == (value, value)


# --- 3. a batch costs a fixed number of statements ---


async def _quiet(db: Database, count: int, tag: str) -> list[int]:
    """`count` pipelines, each with rules on four metrics in three seasonalities (60-day lookback),
    six unremarkable weekly runs (Tuesdays at 10:00) and a seventh, unremarkable too. Returns the
    seventh runs' ids."""
    ids = await pipelines(db, *(f"{tag}{i}" for i in range(count)))
    kinds = (("total_rows", "hour_of_day"), ("inserts", "hour_of_day"), ("throughput", "none"), ("duration_seconds", "day_of_week"))
    rules = [
        {"pipeline_id": pid, "metric_field": metric, "z_threshold": 3, "lookback_days": 60, "minimum_executions": 5, "seasonality": season}
        for pid in ids
        for metric, season in kinds
    ]
    async with db.write() as conn:
        await conn.execute(insert(anomaly_detection_rule), rules)
    subjects = []
    for pid in ids:
        weeks = [
            {"start": NOW.replace(hour=10) - dt.timedelta(weeks=w), "minutes": 10 + w % 3, "total_rows": 100 + w, "inserts": 50 + w, "throughput": 1.5 + w / 10}
            for w in range(6, 0, -1)
        ]  # fmt: skip
        *_, last = await runs(
            db, pid, *weeks, {"start": NOW.replace(hour=10), "minutes": 11, "total_rows": 104, "inserts": 54, "throughput": 1.9}
        )
        subjects.append(last)
    return subjects


async def test_a_batch_takes_as_many_statements_for_a_hundred_executions_as_for_five(standalone_db, settings):
    """Every execution of both batches is evaluated by all four rules and is normal: the count is that
    of a full detection, and must not depend on how many executions a batch holds."""
    small, large = await _quiet(standalone_db, 5, "small"), await _quiet(standalone_db, 100, "large")
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_):
        statements.append(statement)

    event.listen(standalone_db.engine.sync_engine, "before_cursor_execute", count)
    try:
        few = await detect_all(standalone_db, settings, small)
        for_five, statements[:] = list(statements), []
        many = await detect_all(standalone_db, settings, large)
        for_a_hundred = list(statements)
    finally:
        event.remove(standalone_db.engine.sync_engine, "before_cursor_execute", count)
    outcomes = [*few.values(), *many.values()]
    assert len(outcomes) == 105 and {(o["status"], len(o["skipped_rules"])) for o in outcomes} == {("success", 0)}
    assert all(e["anomaly_checked_at"] is not None for e in await rows_of(standalone_db, pe, pe.c.id) if e["id"] in [*small, *large])
    assert len(for_a_hundred) == len(for_five), f"5 executions: {len(for_five)} statements, 100: {len(for_a_hundred)}"
    assert len(for_five) <= 12  # a handful: one baseline statement per seasonality, half a dozen others


# --- 4. checked executions: left alone with only_pending, unchanged by a re-run ---


async def test_only_pending_leaves_executions_already_checked_alone(standalone_db, settings):
    p = await watched(standalone_db, "p")
    [bare] = await pipelines(standalone_db, "bare")
    spike, later = await runs(standalone_db, p, {"start": at(6, 10), "total_rows": 500}, {"start": at(7, 10), "total_rows": 25})
    [unwatched] = await runs(standalone_db, bare, {"start": at(7, 10), "total_rows": 1})
    assert (await detect_all(standalone_db, settings, [spike, unwatched]))[spike]["status"] == "warning"
    written = await state(standalone_db)

    an_hour_later = NOW + dt.timedelta(hours=1)
    outcomes = await detect_all(standalone_db, settings, [spike, later, unwatched, 10**9], now=an_hour_later, only_pending=True)
    assert list(outcomes) == [later] and outcomes[later]["status"] == "success"  # an unknown id is left out too
    assert await detect_all(standalone_db, settings, [spike, later, unwatched], now=an_hour_later, only_pending=True) == {}
    after = await state(standalone_db)
    assert after["results"] == written["results"]  # detected_at still that of the first run
    checked = {e["id"]: e["anomaly_checked_at"] for e in after["executions"]}
    assert (checked[spike], checked[unwatched], checked[later]) == (NOW, NOW, an_hour_later)
    # without only_pending a checked execution is detected again
    assert list(await detect_all(standalone_db, settings, [spike], now=an_hour_later)) == [spike]


async def test_detecting_an_execution_again_keeps_one_result_per_rule_and_alerts_once(standalone_db, settings):
    p = await watched(standalone_db, "p")
    [spike] = await runs(standalone_db, p, {"start": at(6, 10), "total_rows": 500})
    first = await detection.detect(standalone_db, settings, spike, NOW, Outbox())
    again = await detection.detect(standalone_db, settings, spike, NOW, Outbox())
    twice_in_one_batch = await detect_all(standalone_db, settings, [spike, spike])
    assert first == again == twice_in_one_batch[spike] and first["status"] == "warning"
    written = await state(standalone_db)
    assert [(r["pipeline_execution_id"], r["metric_field"]) for r in written["results"]] == [(spike, "total_rows")]
    assert [(i["status"], i["flagged_count"]) for i in await incidents_of(standalone_db)] == [("open", 1)]
    assert await anomaly_alerts(standalone_db) == [("opened", ["total_rows"])]


# --- 5. incidents move on run by run inside a batch, and between batches running at once ---


async def incidents_of(db: Database) -> list[dict]:
    found = await rows_of(db, anomaly_incident, anomaly_incident.c.id)
    return [{**i, "status": "open" if i["resolved_at"] is None else "resolved"} for i in found]


async def test_in_one_batch_an_anomaly_opens_an_incident_that_a_later_normal_run_recovers(standalone_db, settings):
    """p: a spike, then a normal run; q: a normal run, then a spike. One batch, ids given in reverse:
    p's incident is opened and recovered, q's is opened only (an older normal run recovers nothing).
    The normal run is measured after the spike was flagged (a later round of the batch), so its
    baseline is the five normal runs: 25 is normal."""
    p, q = await watched(standalone_db, "p"), await watched(standalone_db, "q")
    p_spike, p_normal = await runs(standalone_db, p, {"start": at(6, 10), "total_rows": 500}, {"start": at(7, 10), "total_rows": 25})
    q_normal, q_spike = await runs(standalone_db, q, {"start": at(6, 10), "total_rows": 25}, {"start": at(7, 10), "total_rows": 500})
    outcomes = await detect_all(standalone_db, settings, [q_spike, q_normal, p_normal, p_spike])
    assert {i: o["status"] for i, o in outcomes.items()} == {
        p_spike: "warning",
        p_normal: "success",
        q_normal: "success",
        q_spike: "warning",
    }
    found = [
        (i["pipeline_id"], i["status"], i["opened_execution_id"], i["resolved_execution_id"]) for i in await incidents_of(standalone_db)
    ]
    assert found == [(p, "resolved", p_spike, p_normal), (q, "open", q_spike, None)]
    assert await anomaly_alerts(standalone_db) == [("opened", ["total_rows"]), ("recovered", ["total_rows"]), ("opened", ["total_rows"])]


async def test_a_pipelines_second_spike_in_a_batch_is_measured_without_its_first(standalone_db, settings):
    """Two spikes of one pipeline queued together (a backlog): the first is flagged before the second
    is measured, so the second's baseline is the five normal runs and it fires too, as when each is
    checked alone. Measured together, 500 in the baseline would widen the band to about -286-492 and
    480 would pass as normal."""
    p = await watched(standalone_db, "p")
    first, second = await runs(standalone_db, p, {"start": at(6, 10), "total_rows": 500}, {"start": at(7, 10), "total_rows": 480})
    outcomes = await detect_all(standalone_db, settings, [second, first])
    assert (outcomes[first]["status"], outcomes[second]["status"]) == ("warning", "warning")
    [anomaly] = outcomes[second]["anomalies"]
    assert (anomaly["context"]["execution_count"], anomaly["historical_mean"]) == (5, 24)


async def test_two_overlapping_batches_at_once_check_each_execution_once(standalone_db, settings):
    """Two queued batches sharing executions, run at once as the runner runs them (only_pending):
    whichever locks a shared execution first checks it, the other leaves it alone. p: spikes a and b,
    then a normal c; q: a spike d. Each spike fires whatever the order (each one's baseline holds at
    most the other, unflagged or not), and c recovers p's incident: one result per spike, one incident
    per pipeline, one alert each for opening and one for recovering."""
    p, q = await watched(standalone_db, "p"), await watched(standalone_db, "q")
    a, b, c = await runs(standalone_db, p, *({"start": at(day, 10), "total_rows": v} for day, v in ((6, 500), (7, 510), (8, 25))))
    [d] = await runs(standalone_db, q, {"start": at(6, 10), "total_rows": 500})
    first, second = await asyncio.gather(
        detect_all(standalone_db, settings, [a, b, d], only_pending=True), detect_all(standalone_db, settings, [d, c, b], only_pending=True)
    )
    assert sorted([*first, *second]) == [a, b, c, d]
    results = [
        (r["pipeline_execution_id"], r["metric_field"])
        for r in await rows_of(standalone_db, anomaly_detection_result, "pipeline_execution_id")
    ]
    assert results == [(a, "total_rows"), (b, "total_rows"), (d, "total_rows")]
    found = [(i["pipeline_id"], i["status"], i["resolved_execution_id"]) for i in await incidents_of(standalone_db)]
    assert sorted(found, key=lambda i: i[0]) == [(p, "resolved", c), (q, "open", None)]
    assert sorted(await anomaly_alerts(standalone_db)) == [
        ("opened", ["total_rows"]),
        ("opened", ["total_rows"]),
        ("recovered", ["total_rows"]),
    ]
    assert all(e["anomaly_checked_at"] == NOW for e in await rows_of(standalone_db, pe, pe.c.id) if e["id"] in (a, b, c, d))
