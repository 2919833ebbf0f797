"""The one MetaData every table registers with, and naming rules for constraints."""

from sqlalchemy import MetaData

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def enum_check(column: str, values) -> str:
    """SQL text for a CHECK that limits a varchar column to lower-case enumerated values."""
    listed = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({listed})"


def load_all_tables() -> MetaData:
    """Import every domain's tables so that `metadata` is complete (Alembic, tests)."""
    from ..alerts import tables as _alerts  # noqa: F401
    from ..executions import tables as _executions  # noqa: F401
    from ..jobs import tables as _jobs  # noqa: F401
    from ..lineage import tables as _lineage  # noqa: F401
    from ..monitoring import tables as _monitoring  # noqa: F401
    from ..pipelines import tables as _pipelines  # noqa: F401

    return metadata
