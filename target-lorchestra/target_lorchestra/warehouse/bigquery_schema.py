"""BigQuery tables from ``tables.py``: create them through the API, or refuse one that differs.

Tables are created with the client API, never with SQL DDL: the API keeps the ``JSON`` column type,
the clustering and the ``DATE(created_at)`` partitioning in the table metadata (on the local emulator
a DDL-created table loses all three; see ``setup/bigquery-setup.md``).
"""

from __future__ import annotations

import re

from google.api_core import exceptions as api_exceptions
from google.cloud import bigquery

from target_lorchestra.errors import SchemaMismatchError, WarehouseError
from target_lorchestra.tables import TableDef
from target_lorchestra.warehouse.duckdb import describe_differences

_DATE_PARTITION = re.compile(r"^DATE\((\w+)\)$")

#: Metadata calls give up after a minute instead of the client's default ten (an unreachable endpoint).
API_RETRY = bigquery.DEFAULT_RETRY.with_deadline(60)
API_TIMEOUT = 30


def schema_fields(table: TableDef) -> list[bigquery.SchemaField]:
    """The table's columns as BigQuery ``SchemaField`` objects, in definition order."""
    return [
        bigquery.SchemaField(
            c.name,
            c.type,
            mode="NULLABLE" if c.nullable else "REQUIRED",
            description=c.description or None,
        )
        for c in table.columns
    ]


def time_partitioning(table: TableDef) -> bigquery.TimePartitioning | None:
    """``DATE(col)`` -> daily partitioning on ``col``; the only form tables.py uses."""
    if table.partition_by is None:
        return None
    match = _DATE_PARTITION.match(table.partition_by)
    if not match:
        raise ValueError(f"unsupported partitioning expression {table.partition_by!r}")  # a tables.py bug
    return bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.DAY, field=match.group(1))


def table_definition(table: TableDef, ref: bigquery.TableReference) -> bigquery.Table:
    """A ``bigquery.Table`` ready for ``create_table``: columns, clustering, partitioning."""
    definition = bigquery.Table(ref, schema=schema_fields(table))
    definition.clustering_fields = list(table.cluster_by)
    definition.time_partitioning = time_partitioning(table)
    return definition


def ensure_table(client: bigquery.Client, table: TableDef, ref: bigquery.TableReference) -> None:
    """Create ``ref`` from its definition if missing; raise ``SchemaMismatchError`` if it differs."""
    try:
        found = client.get_table(ref, retry=API_RETRY, timeout=API_TIMEOUT)
    except api_exceptions.NotFound:
        try:
            client.create_table(table_definition(table, ref), retry=API_RETRY, timeout=API_TIMEOUT)
        except api_exceptions.Conflict:
            pass  # another run created it a moment ago: check what it created
        else:
            return
        found = client.get_table(ref, retry=API_RETRY, timeout=API_TIMEOUT)
    differences = table_differences(table, found)
    if differences:
        raise SchemaMismatchError(
            f"table {ref.table_id!r} in {ref.project}:{ref.dataset_id} exists with a different schema: "
            f"{'; '.join(differences)}. Nothing was changed; migrate it or point the target at another table."
        )


def table_differences(table: TableDef, found: bigquery.Table) -> list[str]:
    """Human-readable differences between the definition and an existing table's metadata."""
    if found.table_type not in (None, "TABLE"):
        return [f"it is a {found.table_type}, expected a TABLE"]
    expected = [(c.name, c.type, "YES" if c.nullable else "NO") for c in table.columns]
    have = [(f.name, _canonical_type(f.field_type), "NO" if f.mode == "REQUIRED" else "YES") for f in found.schema]
    repeated = [f.name for f in found.schema if f.mode == "REPEATED"]
    out = describe_differences(expected, have)
    out += [f"column {name} is REPEATED, expected a single value" for name in repeated]
    want_clustering = list(table.cluster_by)
    if list(found.clustering_fields or []) != want_clustering:
        out.append(f"clustered by {found.clustering_fields or 'nothing'}, expected {want_clustering}")
    want = time_partitioning(table)
    got = found.time_partitioning
    want_desc = f"{want.type_} on {want.field}" if want else "none"
    got_desc = f"{got.type_} on {got.field or '_PARTITIONTIME'}" if got else "none"
    if want_desc != got_desc:
        out.append(f"partitioning is {got_desc}, expected {want_desc}")
    return out


def _canonical_type(field_type: str) -> str:
    """The REST API reports legacy names for some types; compare standard SQL names."""
    return {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}.get(field_type, field_type)


def require_dataset(client: bigquery.Client, ref: bigquery.DatasetReference) -> bigquery.Dataset:
    """The dataset must exist: the target creates tables, never datasets (location and IAM are an admin's call)."""
    try:
        return client.get_dataset(ref, retry=API_RETRY, timeout=API_TIMEOUT)
    except api_exceptions.NotFound:
        raise WarehouseError(
            f"BigQuery dataset {ref.project}:{ref.dataset_id} does not exist; create it first "
            "(see setup/bigquery-setup.md)"
        ) from None
