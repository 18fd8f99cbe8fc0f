"""BigQuery under test: one fresh dataset per test on the session's emulator.

The emulator is the ``bigquery_emulator`` fixture of the ``lorchestra_testing`` plugin (its one launcher,
``lorchestra_testing.bqemulator``). It is never optional: if it cannot be started the tests fail with the
reason, they are not skipped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import sys
import uuid

from google.api_core.exceptions import NotFound
from google.cloud import bigquery

from lorchestra_testing.bqemulator import PROJECT, client_for


class BigQueryUnderTest:
    kind = "bigquery"
    project = PROJECT

    def __init__(self, endpoint: str, test_name: str, *, test_tables: bool = False) -> None:
        self.endpoint = endpoint
        self.client = self._client()
        slug = re.sub(r"[^A-Za-z0-9_]", "_", test_name)[:60]
        self.dataset = f"t_{slug}_{uuid.uuid4().hex[:8]}"
        self._create_dataset()
        self.raw_table = "test_raw_objects" if test_tables else "raw_objects"
        self.event_table = "test_event_log" if test_tables else "event_log"
        #: external_ids of the rows make_merge_fail_on had to put in raw_objects (none on DuckDB).
        self.merge_trap_ids: list[str] = []

    def _client(self) -> bigquery.Client:
        return client_for(self.endpoint)

    def _create_dataset(self) -> None:
        self.client.create_dataset(self.dataset)

    def config(self) -> dict:
        return {
            "warehouse": "bigquery",
            "bigquery": {"project_id": PROJECT, "dataset": self.dataset, "api_endpoint": self.endpoint},
            "raw_objects_table": self.raw_table,
            "event_log_table": self.event_table,
        }

    def ref(self, table: str) -> str:
        return f"{self.project}.{self.dataset}.{table}"

    def _query(self, sql: str) -> list[dict]:
        # The client already returns TIMESTAMP as aware UTC datetimes and JSON parsed into Python values.
        # Row.items() deep-copies each value: JSON nested up to BigQuery's 500 levels needs more frames.
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 5000))
        try:
            return [dict(row.items()) for row in self.client.query(sql).result()]
        finally:
            sys.setrecursionlimit(limit)

    def _exists(self, table: str) -> bool:
        try:
            self.client.get_table(self.ref(table))
        except NotFound:  # only "not found" means absent; any other error fails the test
            return False
        return True

    def raw_objects(self) -> list[dict]:
        if not self._exists(self.raw_table):
            return []
        return self._query(f"SELECT * FROM `{self.ref(self.raw_table)}` ORDER BY idem_key")

    def events(self) -> list[dict]:
        if not self._exists(self.event_table):
            return []
        return self._query(f"SELECT * FROM `{self.ref(self.event_table)}` ORDER BY created_at, event_id")

    def execute(self, sql: str) -> None:
        sql = sql.format(raw_objects=f"`{self.ref(self.raw_table)}`", event_log=f"`{self.ref(self.event_table)}`")
        self.client.query(sql).result()

    def tables(self) -> list[str]:
        return sorted(t.table_id for t in self.client.list_tables(self.dataset))

    def make_merge_fail_on(
        self, external_id: str, *, provenance: tuple[str, str, str] = ("gmail", "gmail-acct1", "email")
    ) -> None:
        """Make BigQuery itself refuse the MERGE of a batch carrying ``external_id`` (no mock).

        BigQuery has no CHECK constraints, and the emulator enforces no column constraint at all, so the
        only state that makes a real MERGE fail for one key is in ``raw_objects`` itself: two rows with
        that key's idem_key, which the MERGE transaction refuses (it would update both). The table is
        created exactly as the target creates it, so the schema check accepts it. Unlike DuckDB's CHECK
        constraint those two rows are visible: they are listed in ``merge_trap_ids``.
        """
        from target_lorchestra.tables import RAW_OBJECTS
        from target_lorchestra.warehouse.bigquery_schema import table_definition

        ref = bigquery.TableReference.from_string(self.ref(self.raw_table))
        with contextlib.suppress(Exception):
            self.client.create_table(table_definition(RAW_OBJECTS, ref))
        idem_key = ":".join((*provenance, external_id))
        sql = (
            f"INSERT INTO `{self.ref(self.raw_table)}` (idem_key, source_system, connection_name, object_type, "
            "external_id, payload, first_seen, last_seen) "
            "SELECT @k, @s, @c, @o, @e, JSON '{}', TIMESTAMP '2000-01-01', TIMESTAMP '2000-01-01' "
            "FROM UNNEST([1, 2])"
        )
        params = [
            bigquery.ScalarQueryParameter(name, "STRING", value)
            for name, value in zip("kscoe", (idem_key, *provenance, external_id), strict=True)
        ]
        self.client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params)).result()
        self.merge_trap_ids += [external_id, external_id]

    def drop(self) -> None:
        with contextlib.suppress(Exception):
            self.client.delete_dataset(self.dataset, delete_contents=True, not_found_ok=True)
        self.client.close()


#: The live suite: a real project, when these are set (credentials: Application Default Credentials).
LIVE_PROJECT = os.environ.get("LORCHESTRA_BQ_LIVE_PROJECT", "")
LIVE_LOCATION = os.environ.get("LORCHESTRA_BQ_LIVE_LOCATION", "US")
#: (test, step, statement type, bytes billed, slot ms) of every job the live suite ran, for the summary.
LIVE_JOBS: list[tuple[str, str, str, int, int]] = []


class LiveBigQueryUnderTest(BigQueryUnderTest):
    """The same behavioural tests against a real BigQuery project: one dataset per test, dropped after.

    On teardown it records what each of the target's jobs cost (bytes billed, slot time) for the summary
    the plugin prints; the flush's jobs carry a ``lorchestra_step`` label (stage, key_check, merge).
    """

    kind = "bigquery"

    def __init__(self, test_name: str, *, test_tables: bool = False) -> None:
        self.project = LIVE_PROJECT
        self.test_name = test_name
        self.started = dt.datetime.now(dt.UTC)
        super().__init__("", test_name, test_tables=test_tables)

    def _client(self) -> bigquery.Client:
        return bigquery.Client(project=LIVE_PROJECT, location=LIVE_LOCATION)

    def _create_dataset(self) -> None:
        dataset = bigquery.Dataset(f"{LIVE_PROJECT}.{self.dataset}")
        dataset.location = LIVE_LOCATION
        dataset.default_table_expiration_ms = 24 * 3600 * 1000  # a crashed run cleans up after itself
        self.client.create_dataset(dataset)

    def config(self) -> dict:
        config = super().config()
        config["bigquery"] = {"project_id": LIVE_PROJECT, "dataset": self.dataset}
        return config

    def drop(self) -> None:
        with contextlib.suppress(Exception):
            for job in self.client.list_jobs(min_creation_time=self.started, all_users=False):
                step = (job.labels or {}).get("lorchestra_step")
                if step and job.job_type == "query" and self.dataset in (job.query or ""):
                    LIVE_JOBS.append(
                        (
                            self.test_name,
                            step,
                            job.statement_type or "",
                            int(job.total_bytes_billed or 0),
                            int(job.slot_millis or 0),
                        )
                    )
        super().drop()


def live_summary() -> list[str]:
    """Lines of the live suite's cost report: per step, the statements and what they billed."""
    if not LIVE_JOBS:
        return []
    lines = [
        f"{'step':<10} {'statement':<12} {'jobs':>5} {'MiB billed (max)':>17} {'MiB billed (sum)':>17} {'slot s':>8}"
    ]
    steps = sorted({(j[1], j[2]) for j in LIVE_JOBS})
    for step, statement in steps:
        jobs = [j for j in LIVE_JOBS if (j[1], j[2]) == (step, statement)]
        billed = [j[3] for j in jobs]
        lines.append(
            f"{step:<10} {statement:<12} {len(jobs):>5} {max(billed) / 2**20:>17.1f} {sum(billed) / 2**20:>17.1f} "
            f"{sum(j[4] for j in jobs) / 1000:>8.1f}"
        )
    return lines


__all__ = ["BigQueryUnderTest", "LiveBigQueryUnderTest", "client_for", "live_summary"]
