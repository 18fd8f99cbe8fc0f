"""What each BigQuery flush sends, proven on the requests themselves (issue 16, items 1-3 and 6).

bqemulator bills nothing, prunes nothing and reports no ``dml_stats``, so what decides the cost and the
counts on real BigQuery is checked here in the job configurations the target sends: the statements, their
parameters, their location. The live suite (``-m bigquery_live``) measures the bytes themselves.
"""

from __future__ import annotations

import contextlib
import json

import pytest
from google.cloud import bigquery
from google.cloud.bigquery.job.query import DmlStats
from lorchestra_testing.bigquery import PROJECT, BigQueryUnderTest, client_for
from lorchestra_testing.target import run_target
from target_lorchestra.errors import ConfigError
from target_lorchestra.provenance import Provenance
from target_lorchestra.warehouse import RawBatch
from target_lorchestra.warehouse import bigquery as bigquery_module
from target_lorchestra.warehouse.bigquery import CHECK_JOB_PREFIX, MERGE_JOB_PREFIX, BigQueryWarehouse
from target_lorchestra.warehouse.bigquery_settings import BigQuerySettings

PROVENANCE = Provenance("gmail", "gmail-acct1", "email", None)


@pytest.fixture
def bq(request: pytest.FixtureRequest, bigquery_emulator: str):
    under_test = BigQueryUnderTest(bigquery_emulator, request.node.name)
    yield under_test
    under_test.drop()


class Recorded:
    """The job-insert requests a client sent (``jobs.insert`` bodies), in order."""

    def __init__(self, client: bigquery.Client) -> None:
        self.bodies: list[dict] = []
        client._http.hooks["response"].append(self._record)

    def _record(self, response, *args, **kwargs) -> None:
        request = response.request
        if request.method == "POST" and request.path_url.split("?")[0].endswith("/jobs") and request.body:
            body = request.body if isinstance(request.body, (str, bytes)) else b""
            with contextlib.suppress(ValueError):  # a multipart upload (the load job) is not needed here
                self.bodies.append(json.loads(body))

    def queries(self, prefix: str) -> list[dict]:
        return [b["configuration"]["query"] for b in self.bodies if b["jobReference"]["jobId"].startswith(prefix)]


def open_recorded(
    bq: BigQueryUnderTest, *, last_seen_refresh_us: int = 0, **settings
) -> tuple[BigQueryWarehouse, Recorded]:
    client = client_for(bq.endpoint)
    recorded = Recorded(client)
    config = bq.config()
    config["bigquery"].update(settings)
    warehouse = BigQueryWarehouse(
        BigQuerySettings.from_config(config),
        {"raw_objects": "raw_objects", "event_log": "event_log"},
        client=client,
        backoff_seconds=0.01,
        last_seen_refresh_us=last_seen_refresh_us,
    )
    warehouse.open()
    return warehouse, recorded


def batch(*rows: tuple[str, int]) -> RawBatch:
    out = RawBatch(PROVENANCE)
    for external_id, seen_at in rows:
        payload = b'{"id": "%s"}' % external_id.encode()
        out.append(f"gmail:gmail-acct1:email:{external_id}", external_id, payload, seen_at)
    return out


def parameters(query: dict) -> dict[str, str]:
    return {p["name"]: p["parameterValue"]["value"] for p in query.get("queryParameters", [])}


# -- item 1: what a flush reads and is billed for ---------------------------------------------------


def test_a_batch_of_new_keys_is_merged_by_an_insert_only_statement(bq):
    warehouse, recorded = open_recorded(bq)
    try:
        counts = warehouse.merge(batch(("a", 1), ("b", 1)))
    finally:
        warehouse.close()
    assert (counts.inserted, counts.updated) == (2, 0)
    [check] = recorded.queries(CHECK_JOB_PREFIX)
    [merge] = recorded.queries(MERGE_JOB_PREFIX)
    # Only INSERT clauses: billed q (what it reads), not q + the whole table ("DML statements", pricing).
    assert "WHEN NOT MATCHED THEN INSERT" in merge["query"]
    assert "WHEN MATCHED" not in merge["query"]
    assert "UPDATE" not in merge["query"]
    assert "DELETE" not in merge["query"]
    # The key check reads raw_objects' small columns only, on the batch's clustered blocks only.
    raw = f"`{PROJECT}.{bq.dataset}.raw_objects`"
    assert (
        f"SELECT idem_key, last_seen FROM {raw} WHERE source_system = @source_system AND "
        "connection_name = @connection_name AND object_type = @object_type" in check["query"]
    )
    assert check["query"].count(raw) == 1
    assert "payload" not in check["query"]
    # The MERGE's target side is restricted to the same clustered blocks.
    assert (
        "AND t.source_system = @source_system AND t.connection_name = @connection_name "
        "AND t.object_type = @object_type" in merge["query"]
    )
    expected = {"source_system": "gmail", "connection_name": "gmail-acct1", "object_type": "email"}
    assert parameters(check) == parameters(merge) == expected
    # One statement per job, no multi-statement transaction (a conflicting transaction is cancelled).
    assert "TRANSACTION" not in merge["query"] + check["query"]
    assert merge["query"].count(";") == 0


def test_the_update_clause_is_sent_only_when_a_stored_key_is_replaced(bq):
    warehouse, recorded = open_recorded(bq)
    try:
        warehouse.merge(batch(("a", 1), ("b", 1)))
        stale = warehouse.merge(batch(("a", 0)))  # an older replay: nothing to update
        newer = warehouse.merge(batch(("a", 5), ("c", 5)))
    finally:
        warehouse.close()
    assert (stale.inserted, stale.updated, stale.skipped_stale) == (0, 0, 1)
    assert (newer.inserted, newer.updated, newer.skipped_stale) == (1, 1, 0)
    merges = [q["query"] for q in recorded.queries(MERGE_JOB_PREFIX)]
    assert ["WHEN MATCHED" in q for q in merges] == [False, False, True]
    assert "wide_number_mode => 'round'" in merges[2]
    assert {r["external_id"]: r["last_seen"].timestamp() * 1e6 for r in bq.raw_objects()} == {
        "a": 5,
        "b": 1,
        "c": 5,
    }


def test_counts_come_from_the_jobs_dml_stats_when_reported(bq, monkeypatch):
    """BigQuery reports dml_stats (the emulator does not): those are the counts. Here the first MERGE
    reports one insert where the key check saw two new keys, as when a concurrent run of the same
    connection inserted one in between: the MERGE is re-run with the UPDATE clause for that key."""
    reported = [
        DmlStats.from_api_repr({"insertedRowCount": "1", "updatedRowCount": "0"}),
        DmlStats.from_api_repr({"insertedRowCount": "0", "updatedRowCount": "1"}),
    ]
    monkeypatch.setattr(
        bigquery.QueryJob,
        "dml_stats",
        property(lambda job: reported.pop(0) if job.job_id.startswith(MERGE_JOB_PREFIX) else None),
    )
    warehouse, recorded = open_recorded(bq)
    try:
        counts = warehouse.merge(batch(("a", 1), ("b", 1)))
    finally:
        warehouse.close()
    assert (counts.inserted, counts.updated) == (1, 1)
    assert reported == []
    assert ["WHEN MATCHED" in q["query"] for q in recorded.queries(MERGE_JOB_PREFIX)] == [False, True]


def test_unchanged_copies_within_last_seen_refresh_hours_send_no_update_clause(bq):
    """The form jobs re-send what is stored on every run. With ``last_seen_refresh_hours`` such copies are
    found by the key check (which then also reads the payloads, of this connection's blocks only) and the
    MERGE stays insert-only: billed for what it reads, not for the whole table."""
    hour = 3_600_000_000
    warehouse, recorded = open_recorded(bq, last_seen_refresh_us=24 * hour)
    try:
        warehouse.merge(batch(("a", 1), ("b", 1)))
        resent = warehouse.merge(batch(("a", 2 * hour), ("b", 2 * hour), ("c", 2 * hour)))
        later = warehouse.merge(batch(("a", 26 * hour)))  # stored last_seen is 26 h old now
    finally:
        warehouse.close()
    assert (resent.inserted, resent.updated, resent.unchanged, resent.skipped_stale) == (1, 0, 2, 0)
    assert (later.inserted, later.updated, later.unchanged) == (0, 1, 0)
    merges = [q["query"] for q in recorded.queries(MERGE_JOB_PREFIX)]
    assert ["WHEN MATCHED" in q for q in merges] == [False, False, True]
    checks = recorded.queries(CHECK_JOB_PREFIX)
    raw = f"`{PROJECT}.{bq.dataset}.raw_objects`"
    assert all(q["query"].count(raw) == 1 and "t.payload" in q["query"] for q in checks)
    assert all(
        "WHERE source_system = @source_system AND connection_name = @connection_name "
        "AND object_type = @object_type" in q["query"]
        for q in checks
    )
    assert parameters(checks[0])["last_seen_refresh_us"] == str(24 * hour)
    assert {r["external_id"]: r["last_seen"].timestamp() * 1e6 for r in bq.raw_objects()} == {
        "a": 26 * hour,
        "b": 1,
        "c": 2 * hour,
    }


# -- item 3: staging tables stay far from 1,500 modifications a day ---------------------------------


def test_a_fresh_staging_table_every_n_loads(bq, monkeypatch):
    monkeypatch.setattr(bigquery_module, "STAGING_LOADS_PER_TABLE", 2)
    warehouse, _ = open_recorded(bq)
    try:
        for i in range(5):
            warehouse.merge(batch((f"k{i}", i)))
        staging = [ref.table_id for ref in warehouse.staging_tables]
        assert len(staging) == 3 == len(set(staging))
        assert set(staging) <= set(bq.tables())
    finally:
        warehouse.close()
    assert bq.tables() == ["event_log", "raw_objects"]  # every staging table deleted on success
    assert len(bq.raw_objects()) == 5


# -- item 6: the dataset's location -----------------------------------------------------------------


@pytest.fixture
def eu_dataset(bigquery_emulator: str):
    bq = BigQueryUnderTest(bigquery_emulator, "eu")
    bq.client.delete_dataset(bq.dataset)
    dataset = bigquery.Dataset(f"{PROJECT}.{bq.dataset}")
    dataset.location = "EU"
    bq.client.create_dataset(dataset)
    yield bq
    bq.drop()


def test_jobs_run_in_the_datasets_location_when_none_is_configured(eu_dataset):
    warehouse, recorded = open_recorded(eu_dataset)
    try:
        warehouse.merge(batch(("a", 1)))
    finally:
        warehouse.close()
    locations = {b["jobReference"].get("location") for b in recorded.bodies}
    assert locations == {"EU"}


def test_a_location_that_contradicts_the_dataset_is_a_clear_error(eu_dataset, tmp_path):
    result = run_target(
        eu_dataset,
        "emails_initial.singer",
        config={"bigquery": {**eu_dataset.config()["bigquery"], "location": "US"}},
        tmp_path=tmp_path,
    )
    assert result.returncode == 1
    assert result.states == []
    [line] = [s for s in result.stderr.splitlines() if "target-lorchestra failed:" in s]
    assert f"bigquery.location is 'US' but dataset {PROJECT}:{eu_dataset.dataset} is in 'EU'" in line
    assert eu_dataset.tables() == []


def test_a_matching_location_is_accepted_in_any_case(eu_dataset):
    warehouse, _ = open_recorded(eu_dataset, location="eu")
    warehouse.close()
    with pytest.raises(ConfigError, match=r"bigquery\.merge_retry_minutes"):
        BigQuerySettings.from_config({"bigquery": {"dataset": "d", "merge_retry_minutes": "soon"}})
