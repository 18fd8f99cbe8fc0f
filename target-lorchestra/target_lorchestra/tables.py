"""The two warehouse tables, defined once.

Everything else derives from these definitions: the DDL files in ``ddl/`` (rendered by
``lorchestra ddl``, and a test fails if a file drifts), the tables the target creates when they are
missing, and the schema check that refuses an existing table whose columns differ. ``event_row`` is the
shape of one ``event_log`` row, shared by the target's telemetry and the operations CLI (lorchestra-ops).
"""

from __future__ import annotations

import datetime as dt
import typing as t
import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One column in BigQuery terms (``STRING``, ``JSON``, ``TIMESTAMP``)."""

    name: str
    type: str
    nullable: bool = True
    description: str = ""


@dataclass(frozen=True)
class TableDef:
    """A table's columns, clustering and (optional) partitioning expression."""

    kind: str
    columns: tuple[Column, ...]
    cluster_by: tuple[str, ...]
    partition_by: str | None = None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


RAW_OBJECTS = TableDef(
    kind="raw_objects",
    columns=(
        Column(
            "idem_key",
            "STRING",
            nullable=False,
            description="opaque: {source_system}:{connection_name}:{object_type}:{external_id}",
        ),
        Column(
            "source_system", "STRING", nullable=False, description="provider: gmail, exchange, dataverse, google_forms"
        ),
        Column("connection_name", "STRING", nullable=False, description="account: gmail-acct1, exchange-ben-mensio"),
        Column(
            "object_type", "STRING", nullable=False, description="domain object: email, contact, session, form_response"
        ),
        Column("schema_ref", "STRING", nullable=True, description="Iglu URI of the payload schema (nullable)"),
        Column(
            "external_id", "STRING", nullable=True, description="upstream id (Gmail message id, Dataverse GUID, ...)"
        ),
        Column("payload", "JSON", nullable=False, description="the record exactly as the tap sent it"),
        Column(
            "first_seen",
            "TIMESTAMP",
            nullable=False,
            description="time_extracted of the first record merged for this key",
        ),
        Column(
            "last_seen", "TIMESTAMP", nullable=False, description="time_extracted of the record whose payload is stored"
        ),
    ),
    cluster_by=("source_system", "connection_name", "object_type"),
)

EVENT_LOG = TableDef(
    kind="event_log",
    columns=(
        Column("event_id", "STRING", nullable=False),
        Column(
            "event_type", "STRING", nullable=False, description="verb: job.started, ingest.completed, upsert.completed"
        ),
        Column("source_system", "STRING", nullable=False, description="provider, or 'lorchestra' for system events"),
        Column("connection_name", "STRING", nullable=True, description="account (NULL for system events)"),
        Column("target_object_type", "STRING", nullable=True, description="noun: email, session (NULL for job events)"),
        Column(
            "event_schema_ref",
            "STRING",
            nullable=True,
            description="iglu:com.mensio.event/ingest_completed/jsonschema/1-0-0",
        ),
        Column("correlation_id", "STRING", nullable=True),
        Column("trace_id", "STRING", nullable=True),
        Column("created_at", "TIMESTAMP", nullable=False),
        Column("status", "STRING", nullable=False),
        Column("error_message", "STRING", nullable=True),
        Column("payload", "JSON", nullable=True),
    ),
    cluster_by=("source_system", "event_type"),
    partition_by="DATE(created_at)",
)

TABLES = {"raw_objects": RAW_OBJECTS, "event_log": EVENT_LOG}

#: ``source_system`` of the events about a run rather than a provider's stream.
SYSTEM_SOURCE = "lorchestra"
EVENT_VENDOR = "com.mensio.event"


def event_schema_ref(event_type: str, version: str = "1-0-0") -> str:
    """``ingest.completed`` -> ``iglu:com.mensio.event/ingest_completed/jsonschema/1-0-0``."""
    return f"iglu:{EVENT_VENDOR}/{event_type.replace('.', '_')}/jsonschema/{version}"


def event_row(
    event_type: str,
    *,
    correlation_id: str,
    trace_id: str | None = None,
    source_system: str = SYSTEM_SOURCE,
    connection_name: str | None = None,
    target_object_type: str | None = None,
    status: str = "success",
    error_message: str | None = None,
    payload: dict[str, t.Any] | None = None,
    schema_version: str = "1-0-0",
) -> dict[str, t.Any]:
    """One ``event_log`` row, as the target's telemetry and the operations CLI write it."""
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "source_system": source_system,
        "connection_name": connection_name,
        "target_object_type": target_object_type,
        "event_schema_ref": event_schema_ref(event_type, schema_version),
        "correlation_id": correlation_id,
        "trace_id": trace_id,
        "created_at": dt.datetime.now(dt.UTC),
        "status": status,
        "error_message": error_message,
        "payload": payload,
    }


#: Production and test table names (the test tables have the same schema, the spec requires both).
TABLE_SETS = {
    "production": {"raw_objects": "raw_objects", "event_log": "event_log"},
    "test": {"raw_objects": "test_raw_objects", "event_log": "test_event_log"},
}

#: BigQuery type -> DuckDB type. TIMESTAMPTZ because a BigQuery TIMESTAMP is an absolute instant.
DUCKDB_TYPES = {"STRING": "VARCHAR", "JSON": "JSON", "TIMESTAMP": "TIMESTAMP WITH TIME ZONE"}


def _column_lines(table: TableDef, types: dict[str, str] | None = None) -> str:
    width = max(len(c.name) for c in table.columns)
    lines = []
    for i, c in enumerate(table.columns):
        sql_type = (types or {}).get(c.type, c.type) + ("" if c.nullable else " NOT NULL")
        comma = "," if i < len(table.columns) - 1 else ""
        comment = f"  -- {c.description}" if c.description else ""
        lines.append(f"  {c.name.ljust(width)} {sql_type}{comma}{comment}".rstrip())
    return "\n".join(lines)


def bigquery_ddl(table: TableDef, name: str) -> str:
    """``CREATE TABLE`` for BigQuery; ``name`` resolves against ``bq query --dataset_id``."""
    parts = [f"CREATE TABLE IF NOT EXISTS {name} (", _column_lines(table), ")"]
    if table.partition_by:
        parts.append(f"PARTITION BY {table.partition_by}")
    parts.append(f"CLUSTER BY {', '.join(table.cluster_by)};")
    return "\n".join(parts) + "\n"


def duckdb_ddl(table: TableDef, name: str) -> str:
    """``CREATE TABLE`` for DuckDB (no clustering or partitioning there)."""
    body = _column_lines(table, DUCKDB_TYPES)
    return f"CREATE TABLE IF NOT EXISTS {name} (\n{body}\n);\n"


def render_ddl_files() -> dict[str, str]:
    """Every file under ``ddl/``: relative path -> content."""
    files = {}
    for tables in TABLE_SETS.values():
        for kind, name in tables.items():
            files[f"bigquery/{name}.sql"] = bigquery_ddl(TABLES[kind], name)
            files[f"duckdb/{name}.sql"] = duckdb_ddl(TABLES[kind], name)
    return files
