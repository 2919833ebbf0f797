"""Ids that cannot exist: anything outside the column's range is simply "not found" (§2.8)."""

import uuid

from .numbers import INT32_MAX, INT64_MAX


def fits_int32(value: int) -> bool:
    return 1 <= value <= INT32_MAX


def fits_int64(value: int) -> bool:
    return 1 <= value <= INT64_MAX


def canonical_uuid(value: str) -> str | None:
    """A UUID in its one text form (lower case, hyphenated), or None when `value` is not a UUID."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        return None
