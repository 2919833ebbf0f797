"""The SQL forms of the configuration rules decide exactly as the contract words them (§10.2, §11.2)."""

import itertools

from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, insert, select

from watcher_server.monitoring.rules import Effective, effective_config_columns, eligible_condition

NUMBERS, DATEPARTS, FLAGS = (None, 2), (None, "day"), (False, True)


def effective_config(own_number, own_datepart, type_number, type_datepart) -> Effective | None:
    """§10.2: the pipeline's own pair when both are set, else the type's when both are set, never mixed."""
    if own_number is not None and own_datepart is not None:
        return Effective(own_number, own_datepart, True)
    if type_number is not None and type_datepart is not None:
        return Effective(type_number, type_datepart, False)
    return None


def eligible(own_mute: bool, type_mute: bool, active: bool, skip_inactive: bool) -> bool:
    """§10.2: not muted on the pipeline nor its type; active too when inactive pipelines are skipped."""
    return not own_mute and not type_mute and (active or not skip_inactive)


async def test_effective_config_and_eligibility_in_sql_match_the_python_rules(standalone_db):
    scratch = Table(
        "rule_cases", MetaData(), Column("id", Integer, primary_key=True),
        Column("own_number", Integer), Column("own_datepart", String(10)), Column("type_number", Integer), Column("type_datepart", String(10)),
        Column("own_mute", Boolean), Column("type_mute", Boolean), Column("active", Boolean),
    )  # fmt: skip
    cases = [
        dict(zip(("own_number", "own_datepart", "type_number", "type_datepart", "own_mute", "type_mute", "active"), values, strict=True))
        for values in itertools.product(NUMBERS, DATEPARTS, (None, 3), (None, "hour"), FLAGS, FLAGS, FLAGS)
    ]
    c = scratch.c
    number, datepart, own = effective_config_columns(c.own_number, c.own_datepart, c.type_number, c.type_datepart)
    async with standalone_db.write() as conn:
        await conn.run_sync(scratch.metadata.create_all)
        await conn.execute(insert(scratch), cases)
        for skip in FLAGS:
            rows = (
                await conn.execute(
                    select(number, datepart, own, eligible_condition(c.own_mute, c.type_mute, c.active, skip)).order_by(c.id)
                )
            ).all()  # fmt: skip
            for case, (sql_number, sql_datepart, sql_own, sql_eligible) in zip(cases, rows, strict=True):
                expected = effective_config(case["own_number"], case["own_datepart"], case["type_number"], case["type_datepart"])
                found = None if sql_number is None else (sql_number, sql_datepart, bool(sql_own))
                assert found == (tuple(expected) if expected else None), case
                assert bool(sql_eligible) == eligible(case["own_mute"], case["type_mute"], case["active"], skip), case
