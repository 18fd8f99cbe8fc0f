"""BigQuery back end: per flush one load job, one key check, one MERGE statement.

Per flush the batch is written as Parquet and loaded, in one load job, into this run's staging table
(``lorchestra_staging_<raw_objects>_<run>_<n>``, created with an expiration, replaced by each load, and
rotated every ``STAGING_LOADS_PER_TABLE`` loads so no staging table nears BigQuery's 1,500 modifications
per table per day; deleted when the run ends without a failed MERGE). Then a read-only key check and one
``MERGE`` statement run; ``bigquery_sql.py`` says why each is shaped as it is (cost and concurrency).
Nothing is ever written per record, and event_log rows are streamed (``tabledata.insertAll``), so
telemetry is not DML and never queues behind or conflicts with the MERGEs on ``raw_objects``.

**Exact counts.** From the MERGE job's ``dml_stats``. bqemulator reports none (only the total of affected
rows): there the key check's counts are used, after checking that they add up to that total. The key
check also refuses a batch whose keys ``raw_objects`` holds more than once (the table has no unique
constraint; a MERGE would silently update every copy and the counts would be wrong).

**Values never reach SQL text.** Identifiers are checked by ``bigquery_settings`` and
``checked_identifier``; the batch's provenance travels as query parameters and as staged columns.

**Concurrency.** Fourteen scheduled jobs share ``raw_objects``: BigQuery runs 2 mutating DML statements
per table at a time and queues 20; statements outside a transaction are queued rather than cancelled.
Each run MERGEs one batch at a time (a lock across the SDK's drain threads), and a statement that loses a
concurrent-update conflict, or finds the queue full, is retried with jittered exponential backoff for up
to ``merge_retry_minutes``; the retries are counted in ``upsert.completed``.
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
from typing_extensions import override

from target_lorchestra.errors import WarehouseError
from target_lorchestra.tables import TABLES
from target_lorchestra.warehouse import (
    MergeCounts,
    RawBatch,
    checked_identifier,
    last_seen_refresh_us,
    with_tables,
)
from target_lorchestra.warehouse.bigquery_admin import BigQueryAdmin
from target_lorchestra.warehouse.bigquery_schema import (
    API_RETRY,
    API_TIMEOUT,
    ensure_table,
    require_dataset,
    schema_fields,
)
from target_lorchestra.warehouse.bigquery_settings import (
    BigQuerySettings,
    checked_location,
    checked_project,
    load_credentials,
    safe_message,
)
from target_lorchestra.warehouse.bigquery_sql import (
    key_check_sql,
    merge_sql,
    parameter,
    provenance_parameters,
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

#: Error texts of a MERGE that lost to concurrent DML on the same table (retryable as a whole).
_CONFLICT_MARKERS = (
    "concurrent update",  # "Transaction is aborted due to concurrent update against table ..."
    "could not serialize access",  # "Could not serialize access to table ... due to concurrent update"
    "too many dml statements outstanding",  # the 20-statement queue of the table is full
)

LOAD_JOB_PREFIX = "lorchestra_load_"
MERGE_JOB_PREFIX = "lorchestra_merge_"
CHECK_JOB_PREFIX = "lorchestra_keycheck_"
#: Loads into one staging table before the next flush gets a fresh one (the daily limit is 1,500 per table).
STAGING_LOADS_PER_TABLE = 500


class BigQueryWarehouse(BigQueryAdmin):
    """raw_objects and event_log in one BigQuery dataset."""

    def __init__(
        self,
        settings: BigQuerySettings,
        tables: dict[str, str],
        *,
        client: bigquery.Client | None = None,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 60.0,
        last_seen_refresh_us: int = 0,
    ) -> None:
        self.settings = settings
        self.last_seen_refresh_us = last_seen_refresh_us
        self.tables = {kind: checked_identifier(name, f"{kind}_table") for kind, name in tables.items()}
        #: How long a statement that keeps losing concurrent-update conflicts is retried.
        self.retry_seconds = settings.merge_retry_minutes * 60.0
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.client = client  # built in open(): no network at construction
        self.project: str | None = settings.project_id
        self.run_token = uuid.uuid4().hex[:12]
        self.staging: bigquery.TableReference | None = None
        self.staging_tables: list[bigquery.TableReference] = []
        self.staging_loads = 0
        self.location: str | None = settings.location
        self.merge_failed = False
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any], tables: dict[str, str]) -> BigQueryWarehouse:
        return cls(BigQuerySettings.from_config(config), tables, last_seen_refresh_us=last_seen_refresh_us(config))

    # -- lifecycle ------------------------------------------------------------------------------

    def open(self) -> None:
        self.connect()
        with self._api("checking the dataset and tables"):
            for kind, name in self.tables.items():
                ensure_table(self._require(), TABLES[kind], self._ref(name))

    def connect(self) -> None:
        """Build the client (credentials, endpoint) and check that the dataset exists."""
        if self.client is None:
            credentials, credentials_project = load_credentials(self.settings)
            self.project = checked_project(self.settings.project_id or credentials_project or "")
            options = ClientOptions(api_endpoint=self.settings.api_endpoint) if self.settings.api_endpoint else None
            self.client = bigquery.Client(project=self.project, credentials=credentials, client_options=options)
        else:
            self.project = checked_project(self.project or self.client.project)
        with self._api("checking the dataset"):
            dataset = require_dataset(self.client, self._dataset_ref())
        self.location = checked_location(self.settings.location, dataset)
        # Every job is sent with this location: a job run elsewhere fails with "not found in location".

    def close(self) -> None:
        """Delete this run's staging table, unless a MERGE failed (it then expires on its own)."""
        if self.client is None:
            return
        if not self.merge_failed:
            for staging in self.staging_tables:
                try:
                    self.client.delete_table(staging, not_found_ok=True, retry=API_RETRY, timeout=API_TIMEOUT)
                except (api_exceptions.GoogleAPIError, auth_exceptions.GoogleAuthError) as exc:
                    logger.warning(
                        "could not delete staging table %s (it expires on its own): %s",
                        staging.table_id,
                        safe_message(exc, self.settings),
                    )
            self.staging_tables = []
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
                return self._flush(client, staging, batch)
            except WarehouseError:
                self.merge_failed = True
                raise

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

    def query(self, sql: str, params: t.Mapping[str, t.Any] | None = None) -> list[dict]:
        """Rows of a read query; ``{raw_objects}`` / ``{event_log}`` name the tables, ``@name`` the params."""
        client = self._require()
        names = {kind: self._sql_name(name) for kind, name in self.tables.items()}
        job_config = bigquery.QueryJobConfig(
            query_parameters=[parameter(k, v) for k, v in (params or {}).items()],
            default_dataset=self._dataset_ref(),
        )
        with self._api("running a query"):
            return [
                dict(row.items())
                for row in client.query(with_tables(sql, names), job_config=job_config, location=self.location).result()
            ]

    # -- the flush, step by step ------------------------------------------------------------------

    def _staging_table(self, client: bigquery.Client) -> bigquery.TableReference:
        if self.staging is None or self.staging_loads >= STAGING_LOADS_PER_TABLE:
            # A fresh table every STAGING_LOADS_PER_TABLE loads: a load counts as a modification of its
            # destination, failed ones too, and a table takes 1,500 a day ("Load jobs" quotas).
            ref = self._ref(
                f"lorchestra_staging_{self.tables['raw_objects']}_{self.run_token}_{len(self.staging_tables) + 1}"
            )
            table = bigquery.Table(ref, schema=STAGING_SCHEMA)
            table.expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=self.settings.staging_expiration_hours)
            table.description = "target-lorchestra staging for one run; deleted when the run succeeds"
            with self._api("creating the staging table"):
                client.create_table(table, retry=API_RETRY, timeout=API_TIMEOUT)
            self.staging = ref
            self.staging_tables.append(ref)
            self.staging_loads = 0
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
        self.staging_loads += 1
        with self._api(f"loading the batch into staging table {staging.table_id}"):
            job = client.load_table_from_file(
                buffer,
                staging,
                job_config=job_config,
                job_id_prefix=LOAD_JOB_PREFIX,
                rewind=True,
                location=self.location,
            )
            job.result()

    def _flush(self, client: bigquery.Client, staging: bigquery.TableReference, batch: RawBatch) -> MergeCounts:
        """Key check, then one MERGE (insert-only when nothing is to be updated); exact counts."""
        raw_name = self.tables["raw_objects"]
        names = {"raw": self._sql_name(raw_name), "staging": self._sql_name(staging.table_id)}
        skip_unchanged = self.last_seen_refresh_us > 0
        params = provenance_parameters(batch)
        if skip_unchanged:
            params.append(bigquery.ScalarQueryParameter("last_seen_refresh_us", "INT64", self.last_seen_refresh_us))
        retries = 0
        started = time.monotonic()
        while True:
            try:
                check = self._key_check(client, key_check_sql(**names, skip_unchanged=skip_unchanged), params, raw_name)
                with_update = check["updated"] > 0
                sql = merge_sql(**names, with_update=with_update, skip_unchanged=skip_unchanged)
                inserted, updated = self._merge(client, sql, params, check)
                if not with_update and inserted < check["inserted"]:
                    # Keys of this batch appeared since the check (a concurrent run of the same connection):
                    # apply the newest-wins rule to them too. Idempotent: nothing is inserted twice.
                    sql = merge_sql(**names, with_update=True, skip_unchanged=skip_unchanged)
                    extra_ins, updated = self._merge(client, sql, params, None)
                    inserted += extra_ins
                return MergeCounts(
                    rows=len(batch),
                    distinct=check["distinct_keys"],
                    inserted=inserted,
                    updated=updated,
                    unchanged=check["unchanged"],
                    retries=retries,
                )
            except _Conflict as conflict:
                retries += 1
                elapsed = time.monotonic() - started
                if elapsed >= self.retry_seconds:
                    raise WarehouseError(
                        f"MERGE into {raw_name} failed after {retries} attempts over {elapsed / 60:.1f} minutes "
                        f"(bigquery.merge_retry_minutes), each losing a concurrent-update conflict: {conflict}"
                    ) from None
                delay = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** min(retries - 1, 16))
                delay *= 0.5 + random.random() / 2  # noqa: S311 - jitter, not cryptography
                delay = max(0.0, min(delay, self.retry_seconds - elapsed))
                logger.warning(
                    "MERGE into %s lost a concurrent-update conflict (attempt %d, retrying for up to %.0f more "
                    "seconds); retrying in %.1fs: %s",
                    raw_name,
                    retries,
                    self.retry_seconds - elapsed,
                    delay,
                    conflict,
                )
                time.sleep(delay)

    def _key_check(self, client: bigquery.Client, sql: str, params: list, raw_name: str) -> dict[str, int]:
        job_config = bigquery.QueryJobConfig(query_parameters=params, labels={"lorchestra_step": "key_check"})
        with self._api(f"checking the batch's keys in {raw_name}"):
            [row] = list(
                client.query(
                    sql, job_config=job_config, job_id_prefix=CHECK_JOB_PREFIX, location=self.location
                ).result()
            )
        check = {k: int(row[k] or 0) for k in ("distinct_keys", "inserted", "updated", "unchanged", "duplicated")}
        if check["duplicated"]:
            raise WarehouseError(
                f"MERGE into {raw_name} refused: {raw_name} holds {check['duplicated']} idem_key(s) of this batch "
                "more than once; deduplicate the table before merging again"
            )
        return check

    def _merge(self, client: bigquery.Client, sql: str, params: list, check: dict[str, int] | None) -> tuple[int, int]:
        """(inserted, updated) of one MERGE statement: from ``dml_stats``, else the key check (emulator)."""
        job_config = bigquery.QueryJobConfig(query_parameters=params, labels={"lorchestra_step": "merge"})
        raw_name = self.tables["raw_objects"]
        with self._api(f"MERGE into {raw_name}"):
            job = client.query(sql, job_config=job_config, job_id_prefix=MERGE_JOB_PREFIX, location=self.location)
            job.result()
        stats = job.dml_stats
        if stats is not None:
            return int(stats.inserted_row_count or 0), int(stats.updated_row_count or 0)
        # No dml_stats: bqemulator 1.4.0 (BigQuery always reports them for DML). Its jobs run one at a time,
        # so the key check's snapshot is the MERGE's; the affected-row total it does report must agree.
        affected = int(job.num_dml_affected_rows or 0)
        if check is None:
            return affected, 0
        expected_updates = check["updated"] if "WHEN MATCHED" in sql else 0
        if affected != check["inserted"] + expected_updates:
            raise WarehouseError(
                f"MERGE into {raw_name} affected {affected} rows where the key check expected "
                f"{check['inserted'] + expected_updates}, and the job reports no dml_stats to count them exactly"
            )
        return check["inserted"], expected_updates

    # -- helpers --------------------------------------------------------------------------------

    @override
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

    @override
    def _require(self) -> bigquery.Client:
        if self.client is None:
            raise WarehouseError("the BigQuery warehouse is not open")
        return self.client

    def _dataset_ref(self) -> bigquery.DatasetReference:
        return bigquery.DatasetReference(t.cast("str", self.project), self.settings.dataset)

    @override
    def _ref(self, table: str) -> bigquery.TableReference:
        return self._dataset_ref().table(table)

    @override
    def _sql_name(self, table: str) -> str:
        """A backquoted table path; every part is a validated identifier, so nothing can escape the quotes."""
        return f"`{self.project}.{self.settings.dataset}.{checked_identifier(table, 'table')}`"


class _Conflict(Exception):  # noqa: N818 - internal signal, never escapes BigQueryWarehouse
    """A MERGE lost a concurrent-update conflict; the whole transaction can be run again."""
