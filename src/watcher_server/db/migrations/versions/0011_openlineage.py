"""OpenLineage in (docs/openlineage.md).

* openlineage_event: every accepted event as received, for replay and audit; a unique hash of its
  canonical JSON recognises a producer's retry. No foreign keys: the log is cleaned up on its own.
* pipeline_execution.run_id: the OpenLineage runId of an execution, unique where present. The index is
  partial, so executions started through the API (run_id null) cost it nothing, and an end never
  changes it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COLUMNS = """
    received_at {timestamp} NOT NULL,
    event_time {timestamp} NOT NULL,
    event_kind VARCHAR(10) NOT NULL CONSTRAINT ck_openlineage_event_event_kind_enum CHECK (event_kind IN ('run', 'job', 'dataset')),
    event_type VARCHAR(10),
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    run_id VARCHAR(36),
    pipeline_id INTEGER,
    execution_id {bigint},
    event_hash VARCHAR(64) NOT NULL,
    event {json} NOT NULL,
    CONSTRAINT uq_openlineage_event_event_hash UNIQUE (event_hash)"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        columns = COLUMNS.format(bigint="BIGINT", timestamp="TIMESTAMP WITH TIME ZONE", json="JSONB")
        op.execute(
            f"CREATE TABLE openlineage_event (\n    id BIGSERIAL NOT NULL,{columns},\n    CONSTRAINT pk_openlineage_event PRIMARY KEY (id)\n)"
        )
    else:
        columns = COLUMNS.format(bigint="INTEGER", timestamp="DATETIME", json="JSON")
        op.execute(f"CREATE TABLE openlineage_event (\n    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,{columns}\n)")
    op.execute("CREATE INDEX ix_openlineage_event_run_id_id ON openlineage_event (run_id, id)")
    op.execute("CREATE INDEX ix_openlineage_event_namespace_name_id ON openlineage_event (namespace, name, id)")
    op.execute("CREATE INDEX ix_openlineage_event_event_time ON openlineage_event (event_time)")
    op.execute("CREATE INDEX ix_openlineage_event_received_at ON openlineage_event (received_at)")
    op.execute("ALTER TABLE pipeline_execution ADD COLUMN run_id VARCHAR(36)")
    op.execute("CREATE UNIQUE INDEX uq_pipeline_execution_run_id ON pipeline_execution (run_id) WHERE run_id IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX uq_pipeline_execution_run_id")
    op.execute("ALTER TABLE pipeline_execution DROP COLUMN run_id")
    op.execute("DROP TABLE openlineage_event")
