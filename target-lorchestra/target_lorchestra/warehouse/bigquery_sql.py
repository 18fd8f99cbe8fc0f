"""The SQL of one BigQuery flush, and why each statement is shaped the way it is.

Per flush (see ``bigquery.py``): the batch is loaded into a staging table, then

1. The key check, a read-only query over ``raw_objects``' small columns only (``idem_key``, ``last_seen``
   and the three clustering columns), restricted to the batch's ``source_system`` / ``connection_name``
   / ``object_type``. Those are the table's clustering columns and constant within a batch, so BigQuery
   prunes the blocks of every other connection ("Querying clustered tables": block pruning on filters of
   clustered columns). It returns how many keys of the batch are new, newer, stale or stored twice. With
   ``last_seen_refresh_hours`` it also reads ``payload`` and ``schema_ref`` (still of those blocks only) to
   find the copies that would change nothing: the ``unchanged`` ones.
2. One ``MERGE`` statement, outside any multi-statement transaction: only an ``INSERT`` clause when the
   check found nothing to update (unchanged copies included), else the ``UPDATE`` clause too.

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
    import decimal

    from target_lorchestra.warehouse import RawBatch

    #: What a query parameter can hold (the BigQuery client's scalar parameter values).
    ScalarValue = str | int | float | decimal.Decimal | bool | dt.datetime | dt.date | None

#: Provenance parameters of every statement of a flush (constants of the batch).
PROVENANCE_PARAMS = ("source_system", "connection_name", "object_type")

_PROVENANCE_FILTER = (
    "source_system = @source_system AND connection_name = @connection_name AND object_type = @object_type"
)

# The newest staged row of each idem_key: what the MERGE applies (QUALIFY sits behind a WHERE because
# BigQuery requires one of WHERE / GROUP BY / HAVING with it).
_NEWEST_STAGED = """
SELECT * FROM {staging} WHERE TRUE
QUALIFY ROW_NUMBER() OVER (PARTITION BY idem_key ORDER BY seen_at DESC, seq DESC) = 1
"""

# A stored row the newest staged copy would not change (``last_seen_refresh_hours``): same payload and
# schema_ref, and a stored last_seen at most @last_seen_refresh_us older. Payloads are compared as BigQuery
# serialises the parsed JSON, so insignificant whitespace is no change. The docs do not promise that two
# texts with their keys in another order serialise alike; if they do not, the copy counts as a change and is
# written, the safe side.
_UNCHANGED = """(t.last_seen >= TIMESTAMP_SUB(s.seen_at, INTERVAL @last_seen_refresh_us MICROSECOND)
    AND TO_JSON_STRING(t.payload) = TO_JSON_STRING(PARSE_JSON(s.payload, wide_number_mode => 'round'))
    AND t.schema_ref IS NOT DISTINCT FROM s.schema_ref)"""

_KEY_CHECK = """
SELECT COUNT(*) AS distinct_keys,
       COUNTIF(copies = 0) AS inserted,
       COUNTIF(copies = 1 AND seen_at >= last_seen AND NOT unchanged) AS updated,
       COUNTIF(copies = 1 AND seen_at >= last_seen AND unchanged) AS unchanged,
       COUNTIF(copies > 1) AS duplicated
FROM (
  SELECT s.idem_key, ANY_VALUE(s.seen_at) AS seen_at, COUNT(t.idem_key) AS copies, MAX(t.last_seen) AS last_seen,
         IFNULL(LOGICAL_AND({unchanged}), FALSE) AS unchanged
  FROM ({source}) AS s
  LEFT JOIN (SELECT {columns} FROM {raw} WHERE {provenance}) AS t
    ON t.idem_key = s.idem_key
  GROUP BY s.idem_key
)
"""

_MERGE_HEAD = """
MERGE INTO {raw} AS t
USING ({source}) AS s
ON t.idem_key = s.idem_key
   AND t.source_system = @source_system AND t.connection_name = @connection_name AND t.object_type = @object_type
"""

_UPDATE = """WHEN MATCHED AND s.seen_at >= t.last_seen{unless_unchanged} THEN UPDATE SET
  payload = PARSE_JSON(s.payload, wide_number_mode => 'round'), schema_ref = s.schema_ref, last_seen = s.seen_at
"""

_INSERT = """WHEN NOT MATCHED THEN INSERT
  (idem_key, source_system, connection_name, object_type, schema_ref, external_id, payload, first_seen, last_seen)
  VALUES (s.idem_key, s.source_system, s.connection_name, s.object_type, s.schema_ref, s.external_id,
          PARSE_JSON(s.payload, wide_number_mode => 'round'), s.seen_at, s.seen_at)
"""


def merge_sql(*, raw: str, staging: str, with_update: bool, skip_unchanged: bool) -> str:
    """The flush's one MERGE: insert-only (billed for what it reads) or with the UPDATE clause."""
    head = _MERGE_HEAD.format(raw=raw, source=_NEWEST_STAGED.format(staging=staging))
    if not with_update:
        return head + _INSERT
    unless = f"\n  AND NOT {_UNCHANGED}" if skip_unchanged else ""
    return head + _UPDATE.format(unless_unchanged=unless) + _INSERT


def key_check_sql(*, raw: str, staging: str, skip_unchanged: bool) -> str:
    """The key check. It reads ``payload`` (this connection's blocks only) just when ``skip_unchanged``."""
    if skip_unchanged:
        source = _NEWEST_STAGED.format(staging=staging)
        columns, unchanged = "idem_key, last_seen, payload, schema_ref", _UNCHANGED
    else:
        source = f"SELECT idem_key, MAX(seen_at) AS seen_at FROM {staging} GROUP BY idem_key"
        columns, unchanged = "idem_key, last_seen", "FALSE"
    return _KEY_CHECK.format(
        source=source, columns=columns, raw=raw, provenance=_PROVENANCE_FILTER, unchanged=unchanged
    )


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


def parameter(name: str, value: ScalarValue) -> bigquery.ScalarQueryParameter:
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
