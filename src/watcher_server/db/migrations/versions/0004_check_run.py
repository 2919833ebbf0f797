"""check_run: when each check last ran, so a run stamps one row instead of every open incident.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TABLE check_run (check_name VARCHAR(50) NOT NULL, last_run_at TIMESTAMP WITH TIME ZONE, PRIMARY KEY (check_name))"
        )
    else:
        op.execute("CREATE TABLE check_run (check_name VARCHAR(50) NOT NULL, last_run_at DATETIME, PRIMARY KEY (check_name))")
    op.execute(sa.text("INSERT INTO check_run (check_name) VALUES ('freshness')"))


def downgrade() -> None:
    op.execute("DROP TABLE check_run")
