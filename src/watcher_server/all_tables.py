"""Every table of every domain, registered on the one MetaData (for Alembic and the schema test)."""

from sqlalchemy import MetaData

from .db.schema import metadata


def load_all_tables() -> MetaData:
    """Import every domain's tables so that `metadata` is complete."""
    from .alerts import tables as _alerts  # noqa: F401
    from .anomalies import tables as _anomalies  # noqa: F401
    from .executions import tables as _executions  # noqa: F401
    from .jobs import tables as _jobs  # noqa: F401
    from .lineage import tables as _lineage  # noqa: F401
    from .monitoring import tables as _monitoring  # noqa: F401
    from .openlineage import tables as _openlineage  # noqa: F401
    from .pipelines import tables as _pipelines  # noqa: F401

    return metadata
