"""BigQuery back end: one load job and one MERGE script per flush.

Per flush the batch is written as Parquet and loaded, in one load job, into this run's staging table
(``lorchestra_staging_<raw_objects>_<run>``, created on the first flush with an expiration, replaced
by each load, deleted when the run ends without a failed MERGE). One query job then runs ``_MERGE``.
Nothing is ever written per record, and event_log rows are streamed (``tabledata.insertAll``), so
telemetry is not DML and never queues behind or conflicts with the MERGEs on ``raw_objects``.

**Exact counts.** BigQuery reports ``dml_stats`` for a MERGE, the emulator does not (only the total
of affected rows), so the counts come from the data instead, the same way on both: a multi-statement
transaction first counts, per distinct key of the batch, whether ``raw_objects`` holds it and whether
the batch is newer, then MERGEs, then commits. BigQuery transactions read one snapshot and abort on a
concurrent change to the table, so the counts describe exactly the rows the MERGE acted on. The same
pass refuses a batch whose keys ``raw_objects`` holds more than once (the table has no unique
constraint; a MERGE would silently update every copy and the counts would be wrong).

**Values never reach SQL text.** The staged rows carry their provenance columns, so the script holds
no literals at all, only identifiers checked by ``bigquery_settings`` and ``checked_identifier``.
(BigQuery accepts query parameters in scripts, bqemulator 1.4.0 ignores them in scripts; staging
the values works on both and costs a few bytes per row.)

**Concurrency.** Fourteen scheduled jobs share ``raw_objects``: BigQuery runs 2 mutating DML
statements per table at a time and queues 20. Each run MERGEs one batch at a time (a lock across the
SDK's drain threads), and a MERGE that loses a concurrent-update conflict, or finds the queue full,
is retried with jittered exponential backoff; the retries are counted in ``upsert.completed``.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import random
import threading
import time
import typing as t
import uuid
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.parquet as pq
from google.api_core import exceptions as api_exceptions
from google.api_core.client_options import ClientOptions
from google.auth import exceptions as auth_exceptions
from google.cloud import bigquery
from requests import exceptions as requests_exceptions

from target_lorchestra.errors import WarehouseError
from target_lorchestra.tables import TABLES
from target_lorchestra.warehouse import MergeCounts, RawBatch, checked_identifier
from target_lorchestra.warehouse.bigquery_schema import (
    API_RETRY,
    API_TIMEOUT,
    ensure_table,
    require_dataset,
    schema_fields,
    table_definition,
)
from target_lorchestra.warehouse.bigquery_settings import (
    BigQuerySettings,
    checked_project,
    load_credentials,
    safe_message,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterator

logger = logging.getLogger("target-lorchestra.bigquery")

#: The staged batch: the columns of ``RawBatch.to_arrow()`` plus the batch's provenance.
STAGING_SCHEMA = [
    bigquery.SchemaField("idem_key", "STRING"),
    bigquery.SchemaField("external_id", "STRING"),
    bigquery.SchemaField("payload", "STRING"),  # JSON text exactly as received; PARSE_JSON in the MERGE
    bigquery.SchemaField("seen_at", "TIMESTAMP"),
    bigquery.SchemaField("seq", "INT64"),
    bigquery.SchemaField("source_system", "STRING"),
    bigquery.SchemaField("connection_name", "STRING"),
    bigquery.SchemaField("object_type", "STRING"),
    bigquery.SchemaField("schema_ref", "STRING"),
]

# ``counts`` is an ARRAY rather than a STRUCT or four variables: bqemulator 1.4.0 cannot read a STRUCT
# variable's fields nor SET several variables from one ``SELECT AS STRUCT``; an array works on both.
# A failed check uses ERROR() rather than RAISE: the emulator answers a RAISE with HTTP 500, which the
# client retries as a server error; ERROR() fails the job the same way on both. QUALIFY sits behind a
# WHERE because BigQuery requires one of WHERE / GROUP BY / HAVING with it.
_MERGE = """
DECLARE counts ARRAY<INT64>;
BEGIN TRANSACTION;
SET counts = (
  SELECT [COUNT(*), COUNTIF(copies = 0), COUNTIF(copies = 1 AND seen_at >= last_seen), COUNTIF(copies > 1)]
  FROM (
    SELECT s.idem_key, ANY_VALUE(s.seen_at) AS seen_at, COUNT(t.idem_key) AS copies, MAX(t.last_seen) AS last_seen
    FROM (SELECT idem_key, MAX(seen_at) AS seen_at FROM {staging} GROUP BY idem_key) AS s
    LEFT JOIN {raw} AS t ON t.idem_key = s.idem_key
    GROUP BY s.idem_key
  )
);
SET counts = IF(
  counts[OFFSET(3)] > 0,
  ERROR(CONCAT('{raw_name} holds ', CAST(counts[OFFSET(3)] AS STRING),
               ' idem_key(s) of this batch more than once; deduplicate the table before merging again')),
  counts
);
MERGE INTO {raw} AS t
USING (
  SELECT * FROM {staging} WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY idem_key ORDER BY seen_at DESC, seq DESC) = 1
) AS s
ON t.idem_key = s.idem_key
WHEN MATCHED AND s.seen_at >= t.last_seen THEN UPDATE SET
  payload = PARSE_JSON(s.payload), schema_ref = s.schema_ref, last_seen = s.seen_at
WHEN NOT MATCHED THEN INSERT
  (idem_key, source_system, connection_name, object_type, schema_ref, external_id, payload, first_seen, last_seen)
  VALUES (s.idem_key, s.source_system, s.connection_name, s.object_type, s.schema_ref, s.external_id,
          PARSE_JSON(s.payload), s.seen_at, s.seen_at);
COMMIT TRANSACTION;
SELECT counts[OFFSET(0)] AS distinct_keys, counts[OFFSET(1)] AS inserted, counts[OFFSET(2)] AS updated;
"""

#: Error texts of a MERGE that lost to concurrent DML on the same table (retryable as a whole).
_CONFLICT_MARKERS = (
    "concurrent update",  # "Transaction is aborted due to concurrent update against table ..."
    "could not serialize access",  # "Could not serialize access to table ... due to concurrent update"
    "too many dml statements outstanding",  # the 20-statement queue of the table is full
)

LOAD_JOB_PREFIX = "lorchestra_load_"
MERGE_JOB_PREFIX = "lorchestra_merge_"


class BigQueryWarehouse:
    """raw_objects and event_log in one BigQuery dataset."""

    def __init__(
        self,
        settings: BigQuerySettings,
        tables: dict[str, str],
        *,
        client: bigquery.Client | None = None,
        max_attempts: int = 6,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 60.0,
    ) -> None:
        self.settings = settings
        self.tables = {kind: checked_identifier(name, f"{kind}_table") for kind, name in tables.items()}
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.client = client  # built in open(): no network at construction
        self.project: str | None = settings.project_id
        self.run_token = uuid.uuid4().hex[:12]
        self.staging: bigquery.TableReference | None = None
        self.merge_failed = False
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any], tables: dict[str, str]) -> BigQueryWarehouse:
        return cls(BigQuerySettings.from_config(config), tables)

    # -- lifecycle ------------------------------------------------------------------------------

    def open(self) -> None:
        self.connect()
        with self._api("checking the dataset and tables"):
            require_dataset(self._require(), self._dataset_ref())
            for kind, name in self.tables.items():
                ensure_table(self._require(), TABLES[kind], self._ref(name))

    def connect(self) -> None:
        """Build the client (credentials, endpoint) and check that the dataset exists."""
        if self.client is None:
            credentials, credentials_project = load_credentials(self.settings)
            self.project = checked_project(self.settings.project_id or credentials_project or "")
            options = ClientOptions(api_endpoint=self.settings.api_endpoint) if self.settings.api_endpoint else None
            self.client = bigquery.Client(
                project=self.project,
                credentials=credentials,
                location=self.settings.location,
                client_options=options,
            )
        else:
            self.project = checked_project(self.project or self.client.project)

    def close(self) -> None:
        """Delete this run's staging table, unless a MERGE failed (it then expires on its own)."""
        if self.client is None:
            return
        if self.staging is not None and not self.merge_failed:
            try:
                self.client.delete_table(self.staging, not_found_ok=True, retry=API_RETRY, timeout=API_TIMEOUT)
            except (api_exceptions.GoogleAPIError, auth_exceptions.GoogleAuthError) as exc:
                logger.warning(
                    "could not delete staging table %s (it expires on its own): %s",
                    self.staging.table_id,
                    safe_message(exc, self.settings),
                )
            self.staging = None
        self.client.close()
        self.client = None

    # -- writes ---------------------------------------------------------------------------------

    def merge(self, batch: RawBatch) -> MergeCounts:
        client = self._require()
        with self._lock:
            try:
                staging = self._staging_table(client)
                self._load(client, staging, batch)
                distinct, inserted, updated, retries = self._run_merge(client, staging)
            except WarehouseError:
                self.merge_failed = True
                raise
        return MergeCounts(rows=len(batch), distinct=distinct, inserted=inserted, updated=updated, retries=retries)

    def append_events(self, rows: list[dict]) -> None:
        client = self._require()
        with self._api("appending to event_log"):
            errors = client.insert_rows(
                self._ref(self.tables["event_log"]),
                rows,
                selected_fields=schema_fields(TABLES["event_log"]),
                row_ids=[r["event_id"] for r in rows],  # best-effort de-duplication of a resent request
                retry=API_RETRY,
                timeout=API_TIMEOUT,
            )
        if errors:
            raise WarehouseError(f"event_log refused {len(errors)} row(s): {str(errors[0])[:300]}")

    def query(self, sql: str, params: dict | None = None) -> list[dict]:
        """Rows of a read query; ``{raw_objects}`` / ``{event_log}`` name the tables, ``@name`` the params."""
        client = self._require()
        names = {kind: self._sql_name(name) for kind, name in self.tables.items()}
        job_config = bigquery.QueryJobConfig(
            query_parameters=[_parameter(k, v) for k, v in (params or {}).items()],
            default_dataset=self._dataset_ref(),
        )
        with self._api("running a query"):
            return [dict(row.items()) for row in client.query(sql.format(**names), job_config=job_config).result()]

    # -- administration (lorchestra migrate) ---------------------------------------------------

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
        with self._api(f"copying {source} to {destination}"):
            self._require().copy_table(self._ref(source), self._ref(destination)).result()
        return self.row_count(destination)

    def drop_table(self, name: str) -> None:
        with self._api(f"dropping {name}"):
            self._require().delete_table(self._ref(checked_identifier(name, "table")))

    def create_table(self, kind: str, name: str) -> None:
        with self._api(f"creating {name}"):
            self._require().create_table(table_definition(TABLES[kind], self._ref(checked_identifier(name, "table"))))

    def row_count(self, name: str) -> int:
        with self._api(f"counting rows of {name}"):
            [row] = list(self._require().query(f"SELECT COUNT(*) AS n FROM {self._sql_name(name)}").result())
        return int(row["n"])

    # -- the flush, step by step ------------------------------------------------------------------

    def _staging_table(self, client: bigquery.Client) -> bigquery.TableReference:
        if self.staging is None:
            ref = self._ref(f"lorchestra_staging_{self.tables['raw_objects']}_{self.run_token}")
            table = bigquery.Table(ref, schema=STAGING_SCHEMA)
            table.expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=self.settings.staging_expiration_hours)
            table.description = "target-lorchestra staging for one run; deleted when the run succeeds"
            with self._api("creating the staging table"):
                client.create_table(table, retry=API_RETRY, timeout=API_TIMEOUT)
            self.staging = ref
        return self.staging

    def _load(self, client: bigquery.Client, staging: bigquery.TableReference, batch: RawBatch) -> None:
        """One load job: the whole batch, as Parquet, replacing the staging table's previous batch."""
        prov = batch.provenance
        staged = batch.to_arrow()
        n = staged.num_rows
        for name, value in (
            ("source_system", prov.source_system),
            ("connection_name", prov.connection_name),
            ("object_type", prov.object_type),
            ("schema_ref", prov.schema_ref),
        ):
            staged = staged.append_column(name, pa.array([value] * n, pa.string()))
        buffer = io.BytesIO()
        pq.write_table(staged, buffer)
        buffer.seek(0)
        job_config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            schema=STAGING_SCHEMA,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
            create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
            labels={"lorchestra_step": "stage"},
        )
        with self._api(f"loading the batch into staging table {staging.table_id}"):
            job = client.load_table_from_file(
                buffer, staging, job_config=job_config, job_id_prefix=LOAD_JOB_PREFIX, rewind=True
            )
            job.result()

    def _run_merge(self, client: bigquery.Client, staging: bigquery.TableReference) -> tuple[int, int, int, int]:
        raw_name = self.tables["raw_objects"]
        sql = _MERGE.format(raw=self._sql_name(raw_name), staging=self._sql_name(staging.table_id), raw_name=raw_name)
        job_config = bigquery.QueryJobConfig(labels={"lorchestra_step": "merge"})
        retries = 0
        while True:
            try:
                with self._api(f"MERGE into {raw_name}"):
                    job = client.query(sql, job_config=job_config, job_id_prefix=MERGE_JOB_PREFIX)
                    [row] = list(job.result())
                # int(): the emulator returns these as NUMERIC, BigQuery as INT64.
                return int(row["distinct_keys"]), int(row["inserted"]), int(row["updated"]), retries
            except _Conflict as conflict:
                retries += 1
                if retries >= self.max_attempts:
                    raise WarehouseError(
                        f"MERGE into {raw_name} failed after {retries} attempts, each losing a concurrent-update "
                        f"conflict: {conflict}"
                    ) from None
                delay = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (retries - 1))
                delay *= 0.5 + random.random() / 2  # noqa: S311 - jitter, not cryptography
                logger.warning(
                    "MERGE into %s lost a concurrent-update conflict (attempt %d of %d); retrying in %.1fs: %s",
                    raw_name,
                    retries,
                    self.max_attempts,
                    delay,
                    conflict,
                )
                time.sleep(delay)

    # -- helpers --------------------------------------------------------------------------------

    @contextmanager
    def _api(self, action: str) -> Iterator[None]:
        """Turn client and auth errors into one clear ``WarehouseError`` (conflicts into ``_Conflict``)."""
        try:
            yield
        except auth_exceptions.GoogleAuthError as exc:  # every kind: OAuthError quotes the token endpoint's reply
            raise WarehouseError(
                f"BigQuery authentication failed while {action}: {safe_message(exc, self.settings)}"
            ) from None
        except (api_exceptions.Unauthorized, api_exceptions.Forbidden) as exc:
            raise WarehouseError(
                f"BigQuery refused {action}: {safe_message(exc, self.settings)} "
                "(see setup/bigquery-setup.md for the roles the loader needs)"
            ) from None
        except api_exceptions.GoogleAPIError as exc:
            message = safe_message(exc, self.settings)
            if any(marker in message.lower() for marker in _CONFLICT_MARKERS):
                raise _Conflict(message) from None
            raise WarehouseError(f"BigQuery failed {action}: {message}") from None
        except requests_exceptions.RequestException as exc:
            raise WarehouseError(
                f"cannot reach BigQuery ({self.settings.api_endpoint or 'default endpoint'}) while {action}: "
                f"{type(exc).__name__}"
            ) from None

    def _require(self) -> bigquery.Client:
        if self.client is None:
            raise WarehouseError("the BigQuery warehouse is not open")
        return self.client

    def _dataset_ref(self) -> bigquery.DatasetReference:
        return bigquery.DatasetReference(t.cast("str", self.project), self.settings.dataset)

    def _ref(self, table: str) -> bigquery.TableReference:
        return self._dataset_ref().table(table)

    def _sql_name(self, table: str) -> str:
        """A backquoted table path; every part is a validated identifier, so nothing can escape the quotes."""
        return f"`{self.project}.{self.settings.dataset}.{checked_identifier(table, 'table')}`"


def _parameter(name: str, value: object) -> bigquery.ScalarQueryParameter:
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


class _Conflict(Exception):  # noqa: N818 - internal signal, never escapes BigQueryWarehouse
    """A MERGE lost a concurrent-update conflict; the whole transaction can be run again."""
