"""The migrated schema equals the table definitions, on both backends (§3)."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from watcher_server.all_tables import load_all_tables

CONTRACT_TABLES = {
    "pipeline_type", "pipeline", "pipeline_execution", "pipeline_execution_closure", "address_type", "address",
    "address_lineage", "anomaly_detection_rule", "anomaly_detection_result", "anomaly_incident",
    "freshness_pipeline_log", "timeliness_pipeline_execution_log", "alert", "alert_subject", "alert_channel_window", "periodic_run",
    "check_run", "openlineage_event",
}  # fmt: skip


def _differences(connection):
    context = MigrationContext.configure(connection, opts={"compare_type": False})
    return compare_metadata(context, load_all_tables())


async def test_migrations_produce_exactly_the_declared_schema(standalone_db):
    async with standalone_db.engine.connect() as conn:
        differences = await conn.run_sync(_differences)
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    assert differences == []
    assert tables - {"alembic_version"} == CONTRACT_TABLES


async def test_closure_and_execution_columns_match_the_users_sql(standalone_db):
    async with standalone_db.engine.connect() as conn:
        closure = await conn.run_sync(lambda c: [col["name"] for col in inspect(c).get_columns("pipeline_execution_closure")])
        execution = await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("pipeline_execution")})
        pk = await conn.run_sync(lambda c: inspect(c).get_pk_constraint("pipeline_execution_closure")["constrained_columns"])
    assert closure == ["parent_execution_id", "child_execution_id", "depth"]
    assert pk == ["parent_execution_id", "child_execution_id"]
    assert {"id", "parent_id", "pipeline_id", "start_date", "date_recorded", "hour_recorded", "weekday_recorded"} <= execution


async def test_database_enforces_check_constraints(standalone_db):
    import pytest
    from sqlalchemy.exc import IntegrityError

    async with standalone_db.write() as conn:
        await conn.execute(text("INSERT INTO pipeline_type (name, created_at) VALUES ('t', CURRENT_TIMESTAMP)"))
    for bad in ("freshness_datepart = 'fortnight'", "freshness_number = 0"):
        with pytest.raises(IntegrityError):
            async with standalone_db.write() as conn:
                await conn.execute(text(f"UPDATE pipeline_type SET {bad}"))


async def test_ids_start_at_one_on_a_fresh_database(standalone_db):
    async with standalone_db.write() as conn:
        result = await conn.execute(text("INSERT INTO pipeline_type (name, created_at) VALUES ('t', CURRENT_TIMESTAMP) RETURNING id"))
        assert result.scalar() == 1


async def test_inserting_an_execution_by_sql_writes_its_closure_rows(standalone_db):
    async with standalone_db.write() as conn:
        await conn.execute(text("INSERT INTO pipeline_type (name, created_at) VALUES ('t', CURRENT_TIMESTAMP)"))
        await conn.execute(
            text("INSERT INTO pipeline (name, pipeline_type_id, input_hash, created_at) VALUES ('p', 1, 'h', CURRENT_TIMESTAMP)")
        )
        for parent in (None, 1, 2):
            await conn.execute(
                text(
                    "INSERT INTO pipeline_execution (pipeline_id, parent_id, start_date, date_recorded, hour_recorded, weekday_recorded)"
                    " VALUES (1, :parent, CURRENT_TIMESTAMP, CURRENT_DATE, 0, 1)"
                ),
                {"parent": parent},
            )
        rows = (await conn.execute(text("SELECT parent_execution_id, child_execution_id, depth FROM pipeline_execution_closure"))).all()
    assert sorted(tuple(r) for r in rows) == [(1, 1, 0), (1, 2, 1), (1, 3, 2), (2, 2, 0), (2, 3, 1), (3, 3, 0)]
