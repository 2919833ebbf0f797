"""WHERE clauses that can never turn client input into a database error."""

from sqlalchemy import BigInteger, any_, bindparam, false, func
from sqlalchemy.dialects.postgresql import ARRAY

from ..core.ids import canonical_uuid
from ..core.numbers import INT32_MAX, INT64_MAX
from ..core.text import contains_pattern


def id_equals(column, value: int):
    """`column = value`, or FALSE when the value cannot fit the column (it matches no row)."""
    limit = INT64_MAX if isinstance(column.type, BigInteger) else INT32_MAX
    if not -limit - 1 <= value <= limit:
        return false()
    return column == value


def uuid_equals(column, value: str):
    """`column = value` for a column holding UUIDs in their canonical text; any spelling of a UUID finds
    it, and what is not a UUID matches no row."""
    canonical = canonical_uuid(value)
    return false() if canonical is None else column == canonical


def contains(column, fragment: str):
    """Case-insensitive literal substring: names are stored lower-case and the fragment is normalised,
    and LIKE's wildcards in the fragment are escaped."""
    return column.like(contains_pattern(fragment), escape="\\")


def latest(dialect: str, *columns):
    """The latest non-null of several timestamp columns, NULL when all are NULL.

    PostgreSQL's GREATEST skips NULLs; SQLite's multi-argument max() returns NULL if any argument is
    NULL, so each argument there is a COALESCE that only falls back to the others."""
    if dialect == "postgresql":
        return func.greatest(*columns)
    rotations = [func.coalesce(*columns[i:], *columns[:i]) for i in range(len(columns))]
    return func.max(*rotations)


def one_of_parameter(dialect: str, column, name: str):
    """`column IN (the list bound as parameter name)`, for statements built once. On PostgreSQL it is
    one array parameter, so the statement text (and its prepared plan) does not change with the number
    of values."""
    return _one_of(dialect, column, bindparam(name, type_=_list_type(dialect, column), expanding=dialect != "postgresql"))


def _list_type(dialect: str, column):
    return ARRAY(column.type) if dialect == "postgresql" else column.type


def _one_of(dialect: str, column, parameter):
    return column == any_(parameter) if dialect == "postgresql" else column.in_(parameter)
