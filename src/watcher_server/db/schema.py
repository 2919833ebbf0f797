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
