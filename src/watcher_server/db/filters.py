"""WHERE clauses that can never turn client input into a database error."""

from sqlalchemy import BigInteger, false

from ..core.numbers import INT32_MAX, INT64_MAX
from ..core.text import contains_pattern


def id_equals(column, value: int):
    """`column = value`, or FALSE when the value cannot fit the column (it matches no row)."""
    limit = INT64_MAX if isinstance(column.type, BigInteger) else INT32_MAX
    if not -limit - 1 <= value <= limit:
        return false()
    return column == value


def contains(column, fragment: str):
    """Case-insensitive literal substring: names are stored lower-case and the fragment is normalised,
    and LIKE's wildcards in the fragment are escaped."""
    return column.like(contains_pattern(fragment), escape="\\")
