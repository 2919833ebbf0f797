"""How OpenLineage names become Watcher names (docs/openlineage.md, "The mapping")."""

from __future__ import annotations

import hashlib
from typing import Any

from ..core.text import normalize

NAME_LIMIT = 150  # the length of pipeline and address names
_KEPT = NAME_LIMIT - 9  # room for "~" and eight hex digits

# Namespace schemes whose datasets are tables, and those whose datasets are files or objects.
DATABASE_SCHEMES = frozenset(
    [
        "postgres",
        "postgresql",
        "mysql",
        "mariadb",
        "snowflake",
        "bigquery",
        "redshift",
        "mssql",
        "sqlserver",
        "oracle",
        "trino",
        "presto",
        "hive",
        "databricks",
        "sqlite",
        "duckdb",
        "clickhouse",
        "db2",
        "teradata",
        "awsathena",
        "athena",
        "vertica",
        "synapse",
        "spanner",
    ]
)
FILE_SCHEMES = frozenset(["s3", "s3a", "s3n", "gs", "gcs", "abfs", "abfss", "wasb", "wasbs", "hdfs", "file", "dbfs", "azurestorage"])
NO_SCHEME = "openlineage"


def watcher_name(namespace: str, name: str) -> str:
    """`{namespace}/{name}`, normalised; too long, it keeps its start and gains a hash of the whole."""
    full = normalize(f"{namespace}/{name}")
    return shortened(full)


def shortened(text: str) -> str:
    if len(text) <= NAME_LIMIT:
        return text
    return f"{text[:_KEPT]}~{hashlib.sha256(text.encode('utf-8')).hexdigest()[:8]}"


def pipeline_type_name(job_facets: dict[str, Any] | None) -> str | None:
    """The jobType facet's integration (airflow, dbt, spark...), or None when the facet does not say."""
    job_type = (job_facets or {}).get("jobType")
    integration = job_type.get("integration") if isinstance(job_type, dict) else None
    if isinstance(integration, str) and integration.strip():
        return shortened(normalize(integration))
    return None


def namespace_type_name(namespace: str) -> str:
    return shortened(normalize(namespace))


def scheme(namespace: str) -> str:
    head, separator, _ = namespace.partition("://")
    return normalize(head) if separator and head.strip() else NO_SCHEME


def address_type(namespace: str) -> tuple[str, str]:
    """(address type name, group name) of a dataset namespace."""
    kind = scheme(namespace)
    if kind in DATABASE_SCHEMES:
        # not "database": that group parses `a.b.c` names into parts (contract §8.2), and a dataset URI such
        # as postgres://host/db.schema.table would split wrongly; the parts are filled from the dataset name
        return shortened(kind), "table"
    if kind in FILE_SCHEMES:
        return shortened(kind), "file"
    return shortened(kind), NO_SCHEME


def table_parts(name: str) -> dict[str, str]:
    """database_name, schema_name, table_name of a `db.schema.table` (or `schema.table`) dataset name."""
    parts = [normalize(part) for part in name.split(".")]
    if not all(parts) or any(len(part) > NAME_LIMIT for part in parts):
        return {}
    if len(parts) == 3:
        return dict(zip(("database_name", "schema_name", "table_name"), parts, strict=True))
    if len(parts) == 2:
        return dict(zip(("schema_name", "table_name"), parts, strict=True))
    return {}
