"""Portable column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, DateTime, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

UTC = dt.UTC


class UTCDateTime(TypeDecorator):
    """An instant in UTC: timestamptz on PostgreSQL, naive UTC text on SQLite, always read back aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(DateTime(timezone=False))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        else:
            value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None or value.tzinfo is UTC:
            return value
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# JSON documents: jsonb on PostgreSQL; a Python None is stored as SQL NULL, never JSON 'null'.
JSONDocument = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")

# 64-bit keys; on SQLite the column must be spelled INTEGER to be the rowid alias.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def created_at_column():
    """`created_at`: set by the service in UTC; the server default only guards direct SQL inserts."""
    from sqlalchemy import Column, func

    return Column("created_at", UTCDateTime, nullable=False, server_default=func.current_timestamp())
