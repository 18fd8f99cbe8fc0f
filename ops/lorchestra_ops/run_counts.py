"""What one Meltano run wrote, read back from ``event_log`` by the run's correlation id.

``lorchestra reingest`` and the Dagster code location both give each ``meltano run`` its own
``MELTANO_RUN_ID``; the target uses it as the ``correlation_id`` of its events, so a run's counts per
object type are exactly the events that carry it.
"""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from target_lorchestra.warehouse import Warehouse

JOB_COUNTS = """
SELECT event_type, source_system, connection_name, target_object_type, status, error_message,
       CAST(JSON_VALUE(payload, '$.records') AS INT64) AS records,
       CAST(JSON_VALUE(payload, '$.inserted') AS INT64) AS inserted,
       CAST(JSON_VALUE(payload, '$.updated') AS INT64) AS updated
FROM {event_log}
WHERE correlation_id = @run_id AND event_type IN ('ingest.completed', 'ingest.failed', 'upsert.completed')
ORDER BY target_object_type, event_type
"""


def job_counts(warehouse: Warehouse, run_id: str) -> dict[str, dict]:
    """Per object type: records ingested, inserted, updated, and the error if it failed."""
    streams: dict[str, dict] = {}
    for row in warehouse.query(JOB_COUNTS, {"run_id": run_id}):
        s = streams.setdefault(
            row["target_object_type"],
            {"source_system": row["source_system"], "connection_name": row["connection_name"]},
        )
        if row["event_type"] == "upsert.completed":
            s.update(inserted=row["inserted"], updated=row["updated"])
        else:
            s.update(records=row["records"], status=row["status"], error=row["error_message"])
    return streams
