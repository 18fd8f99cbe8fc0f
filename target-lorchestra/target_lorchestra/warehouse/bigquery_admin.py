"""``lorchestra migrate`` on BigQuery: describe, archive, drop, create, count, and find running jobs.

Mixed into ``BigQueryWarehouse`` (it uses its client, names and error handling). Archives are made with
``CREATE TABLE ... AS SELECT``, never a copy job, because of the streaming buffer (see ``copy_table``).
"""

from __future__ import annotations

import datetime as dt
import typing as t

from google.api_core import exceptions as api_exceptions
from google.cloud import bigquery

from target_lorchestra.tables import TABLES
from target_lorchestra.warehouse import checked_identifier
from target_lorchestra.warehouse.bigquery_schema import table_definition
from target_lorchestra.warehouse.bigquery_sql import ACTIVE_RUNS, parameter

if t.TYPE_CHECKING:
    from contextlib import AbstractContextManager


class BigQueryAdmin:
    """Table administration over the warehouse's client (``WarehouseAdmin`` in ``warehouse/__init__``)."""

    location: str | None

    if t.TYPE_CHECKING:

        def _api(self, action: str) -> AbstractContextManager[None]: ...
        def _require(self) -> bigquery.Client: ...
        def _ref(self, table: str) -> bigquery.TableReference: ...
        def _sql_name(self, table: str) -> str: ...

    #: tables.py already names BigQuery types.
    type_names: t.ClassVar[dict[str, str]] = {}

    def describe(self, name: str) -> list[tuple[str, str, str]] | None:
        with self._api(f"describing {name}"):
            try:
                table = self._require().get_table(self._ref(checked_identifier(name, "table")))
            except api_exceptions.NotFound:
                return None
        return [(f.name, f.field_type, "NO" if f.mode == "REQUIRED" else "YES") for f in table.schema]

    def copy_table(self, source: str, destination: str) -> int:
        """Archive ``source`` with CREATE TABLE ... AS SELECT, never a copy job.

        Rows streamed into ``event_log`` stay in the streaming buffer for a while and "can take up to 90
        minutes to become available for copy operations" (DML docs, Limitations), so a copy job could
        silently leave the newest events behind. A query reads the streaming buffer too.
        """
        sql = f"CREATE TABLE {self._sql_name(destination)} AS SELECT * FROM {self._sql_name(source)}"
        with self._api(f"archiving {source} to {destination}"):
            self._require().query(
                sql, job_config=bigquery.QueryJobConfig(labels={"lorchestra_step": "archive"}), location=self.location
            ).result()
        return self.row_count(destination)

    def active_runs(self, event_log: str, *, hours: float = 6.0) -> list[str]:
        """correlation_ids of target runs on ``event_log`` that started in the last ``hours`` and never completed."""
        columns = {name for name, _, _ in self.describe(event_log) or []}
        if not {"event_type", "correlation_id", "created_at"} <= columns:
            # Absent, or an older shape: the target refuses a table that differs, so no run writes to it.
            return []
        since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)
        sql = ACTIVE_RUNS.format(event_log=self._sql_name(event_log))
        job_config = bigquery.QueryJobConfig(query_parameters=[parameter("since", since)])
        with self._api(f"looking for running jobs in {event_log}"):
            rows = self._require().query(sql, job_config=job_config, location=self.location).result()
        return sorted(str(row["correlation_id"]) for row in rows)

    def drop_table(self, name: str) -> None:
        with self._api(f"dropping {name}"):
            self._require().delete_table(self._ref(checked_identifier(name, "table")))

    def create_table(self, kind: str, name: str) -> None:
        with self._api(f"creating {name}"):
            self._require().create_table(table_definition(TABLES[kind], self._ref(checked_identifier(name, "table"))))

    def row_count(self, name: str) -> int:
        with self._api(f"counting rows of {name}"):
            sql = f"SELECT COUNT(*) AS n FROM {self._sql_name(name)}"
            [row] = list(self._require().query(sql, location=self.location).result())
        return int(row["n"])
