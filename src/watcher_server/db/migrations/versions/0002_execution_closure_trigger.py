"""Execution closure rows written by a trigger, in the statement that inserts the execution.

The rule (a self row, plus one row per ancestor of the parent one level deeper) lives in the schema
once for both backends, and a start is a single INSERT.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

LINK_ROWS = """
    INSERT INTO pipeline_execution_closure (parent_execution_id, child_execution_id, depth)
    SELECT NEW.id, NEW.id, 0
    UNION ALL
    SELECT c.parent_execution_id, NEW.id, c.depth + 1
    FROM pipeline_execution_closure c
    WHERE c.child_execution_id = NEW.parent_id;
"""

POSTGRESQL = [
    f"""
    CREATE FUNCTION pipeline_execution_link_closure() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
    {LINK_ROWS}
    RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER pipeline_execution_link_closure AFTER INSERT ON pipeline_execution
    FOR EACH ROW EXECUTE FUNCTION pipeline_execution_link_closure()
    """,
]

SQLITE = [
    f"""
    CREATE TRIGGER pipeline_execution_link_closure AFTER INSERT ON pipeline_execution
    BEGIN
    {LINK_ROWS}
    END
    """,
]


def upgrade() -> None:
    for statement in POSTGRESQL if op.get_bind().dialect.name == "postgresql" else SQLITE:
        op.execute(statement)


def downgrade() -> None:
    op.execute(
        "DROP TRIGGER pipeline_execution_link_closure" + (" ON pipeline_execution" if op.get_bind().dialect.name == "postgresql" else "")
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION pipeline_execution_link_closure()")
