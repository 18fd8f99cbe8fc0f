"""The SQL of one BigQuery flush, and why each statement is shaped the way it is.

Per flush (see ``bigquery.py``): the batch is loaded into a staging table, then

1. ``KEY_CHECK``, a read-only query over ``raw_objects``' small columns only (``idem_key``, ``last_seen``
   and the three clustering columns), restricted to the batch's ``source_system`` / ``connection_name``
   / ``object_type``. Those are the table's clustering columns and constant within a batch, so BigQuery
   prunes the blocks of every other connection ("Querying clustered tables": block pruning on filters of
   clustered columns). It returns how many keys of the batch are new, newer, stale or stored twice.
2. One ``MERGE`` statement, outside any multi-statement transaction: only an ``INSERT`` clause when the
   check found nothing to update, else the ``UPDATE`` clause too.

Why (BigQuery's "DML statements" page, "On-demand query size calculation", non-partitioned tables): a
``MERGE`` with only ``INSERT`` clauses is billed ``q``, the bytes it reads; one with an ``UPDATE`` or
``DELETE`` clause is billed ``q + t``, where ``t`` is the size of the whole target table, every column,
whatever the statement touches. The docs say nothing about clustering reducing ``t``; the safe reading is
that it does not, so the ``UPDATE`` clause is sent only when there is something to update. ``raw_objects``
has no partitioning in the spec, so partition pruning is not available.

Why no transaction: a conflicting multi-statement transaction is cancelled, while mutating DML outside a
transaction is queued (2 running, 20 pending per table). Counts come from the job's ``dml_stats``
(``inserted_row_count`` / ``updated_row_count``); the key check's counts are used only where a job reports
no ``dml_stats`` (bqemulator 1.4.0), checked against the affected-row total it does report.

The clustering predicates appear in the ``ON`` condition: a stored row carries the provenance its
``idem_key`` was built from, so a key that matches always matches them too, and filtering the target side
on them changes no outcome (while letting BigQuery skip other connections' blocks in ``q``).

Payloads are parsed with ``wide_number_mode => 'round'`` (the JSON functions reference: the default,
``'exact'``, fails on a number a JSON value cannot hold without loss, i.e. outside INT64/UINT64 and not a
FLOAT64; ``'round'`` stores the nearest FLOAT64 and fails only when none exists). The target itself refuses
numbers with no FLOAT64 at all and nesting deeper than 500 (``records.py``), on every warehouse.
"""

from __future__ import annotations

import datetime as dt
import typing as t

from google.cloud import bigquery

if t.TYPE_CHECKING:
    from target_lorchestra.warehouse import RawBatch

#: Provenance parameters of every statement of a flush (constants of the batch).
PROVENANCE_PARAMS = ("source_system", "connection_name", "object_type")

_PROVENANCE_FILTER = (
    "source_system = @source_system AND connection_name = @connection_name AND object_type = @object_type"
)

KEY_CHECK = f"""
SELECT COUNT(*) AS distinct_keys,
       COUNTIF(copies = 0) AS inserted,
       COUNTIF(copies = 1 AND seen_at >= last_seen) AS updated,
       COUNTIF(copies > 1) AS duplicated
FROM (
  SELECT s.idem_key, ANY_VALUE(s.seen_at) AS seen_at, COUNT(t.idem_key) AS copies, MAX(t.last_seen) AS last_seen
  FROM (SELECT idem_key, MAX(seen_at) AS seen_at FROM {{staging}} GROUP BY idem_key) AS s
  LEFT JOIN (SELECT idem_key, last_seen FROM {{raw}} WHERE {_PROVENANCE_FILTER}) AS t
    ON t.idem_key = s.idem_key
  GROUP BY s.idem_key
)
"""

# QUALIFY sits behind a WHERE because BigQuery requires one of WHERE / GROUP BY / HAVING with it.
_MERGE_HEAD = """
MERGE INTO {raw} AS t
USING (
  SELECT * FROM {staging} WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY idem_key ORDER BY seen_at DESC, seq DESC) = 1
) AS s
ON t.idem_key = s.idem_key
   AND t.source_system = @source_system AND t.connection_name = @connection_name AND t.object_type = @object_type
"""

_UPDATE = """WHEN MATCHED AND s.seen_at >= t.last_seen THEN UPDATE SET
  payload = PARSE_JSON(s.payload, wide_number_mode => 'round'), schema_ref = s.schema_ref, last_seen = s.seen_at
"""

_INSERT = """WHEN NOT MATCHED THEN INSERT
  (idem_key, source_system, connection_name, object_type, schema_ref, external_id, payload, first_seen, last_seen)
  VALUES (s.idem_key, s.source_system, s.connection_name, s.object_type, s.schema_ref, s.external_id,
          PARSE_JSON(s.payload, wide_number_mode => 'round'), s.seen_at, s.seen_at)
"""


def merge_sql(*, raw: str, staging: str, with_update: bool) -> str:
    """The flush's one MERGE: insert-only (billed for what it reads) or with the UPDATE clause."""
    return _MERGE_HEAD.format(raw=raw, staging=staging) + (_UPDATE if with_update else "") + _INSERT


def key_check_sql(*, raw: str, staging: str) -> str:
    return KEY_CHECK.format(raw=raw, staging=staging)


#: Runs of the target that started and have not completed (``lorchestra migrate`` refuses to run then).
ACTIVE_RUNS = """
SELECT s.correlation_id, MIN(s.created_at) AS started_at
FROM {event_log} AS s
WHERE s.event_type = 'job.started' AND s.created_at >= @since
  AND NOT EXISTS (
    SELECT 1 FROM {event_log} AS c
    WHERE c.event_type = 'job.completed' AND c.correlation_id = s.correlation_id AND c.created_at >= @since
  )
GROUP BY s.correlation_id
"""


def provenance_parameters(batch: RawBatch) -> list[bigquery.ScalarQueryParameter]:
    """The batch's clustering columns as parameters: constants of a batch, so BigQuery can prune on them."""
    prov = batch.provenance
    return [
        bigquery.ScalarQueryParameter("source_system", "STRING", prov.source_system),
        bigquery.ScalarQueryParameter("connection_name", "STRING", prov.connection_name),
        bigquery.ScalarQueryParameter("object_type", "STRING", prov.object_type),
    ]


def parameter(name: str, value: object) -> bigquery.ScalarQueryParameter:
    if isinstance(value, bool):
        kind = "BOOL"
    elif isinstance(value, int):
        kind = "INT64"
    elif isinstance(value, float):
        kind = "FLOAT64"
    elif isinstance(value, dt.datetime):
        kind = "TIMESTAMP"
    else:
        kind = "STRING"
    return bigquery.ScalarQueryParameter(name, kind, value)
