"""BigQuery-only behaviour, against the emulator: tables, settings, credentials, jobs per flush, retries.

The behavioural suite (every test using ``wh``) already runs on BigQuery; these tests cover what only
the BigQuery back end has.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json

import pytest
from google.api_core import exceptions as api_exceptions
from google.cloud import bigquery
from lorchestra_testing.bigquery import PROJECT, BigQueryUnderTest, client_for
from lorchestra_testing.bigquery_auth import service_account_key, token_server
from lorchestra_testing.target import DATA, failure_line, run_target
from target_lorchestra.errors import ConfigError
from target_lorchestra.provenance import Provenance
from target_lorchestra.tables import EVENT_LOG, RAW_OBJECTS
from target_lorchestra.target import TargetLorchestra
from target_lorchestra.warehouse import RawBatch
from target_lorchestra.warehouse.bigquery import CHECK_JOB_PREFIX, MERGE_JOB_PREFIX, BigQueryWarehouse
from target_lorchestra.warehouse.bigquery_schema import schema_fields
from target_lorchestra.warehouse.bigquery_settings import BigQuerySettings

# -- tables ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("test_tables", [False, True], ids=["production", "test"])
def test_tables_are_created_with_the_exact_schema(bigquery_emulator, request, tmp_path, test_tables):
    bq = BigQueryUnderTest(bigquery_emulator, request.node.name, test_tables=test_tables)
    request.addfinalizer(bq.drop)
    assert run_target(bq, "emails_initial.singer", tmp_path=tmp_path).returncode == 0
    prefix = "test_" if test_tables else ""
    assert bq.tables() == [f"{prefix}event_log", f"{prefix}raw_objects"]  # staging table gone

    raw = bq.client.get_table(bq.ref(f"{prefix}raw_objects"))
    assert [(f.name, f.field_type, f.mode) for f in raw.schema] == [
        (f.name, f.field_type, f.mode) for f in schema_fields(RAW_OBJECTS)
    ]
    assert raw.schema[6].name == "payload"
    assert raw.schema[6].field_type == "JSON"
    assert raw.clustering_fields == ["source_system", "connection_name", "object_type"]
    assert raw.time_partitioning is None

    events = bq.client.get_table(bq.ref(f"{prefix}event_log"))
    assert [(f.name, f.field_type, f.mode) for f in events.schema] == [
        (f.name, f.field_type, f.mode) for f in schema_fields(EVENT_LOG)
    ]
    assert events.schema[-1].field_type == "JSON"
    assert events.clustering_fields == ["source_system", "event_type"]
    assert events.time_partitioning.type_ == "DAY"
    assert events.time_partitioning.field == "created_at"


def test_existing_table_with_a_different_schema_is_refused(bq, tmp_path):
    fields = [
        f if f.name != "payload" else bigquery.SchemaField("payload", "STRING", "REQUIRED")
        for f in schema_fields(RAW_OBJECTS)
    ]
    fields.append(bigquery.SchemaField("legacy_note", "STRING"))
    table = bigquery.Table(bq.ref("raw_objects"), schema=fields)
    table.clustering_fields = ["source_system", "connection_name", "object_type"]
    bq.client.create_table(table)

    result = run_target(bq, "emails_initial.singer", tmp_path=tmp_path)

    assert result.returncode == 1
    assert result.states == []
    line = failure_line(result)
    assert "'raw_objects'" in line
    assert "column payload is STRING, expected JSON" in line
    assert "unexpected column legacy_note STRING" in line
    assert "Traceback" not in result.stderr
    assert [f.name for f in bq.client.get_table(bq.ref("raw_objects")).schema][-1] == "legacy_note"  # untouched


def test_missing_clustering_is_a_difference_too(bq, tmp_path):
    bq.client.create_table(bigquery.Table(bq.ref("raw_objects"), schema=schema_fields(RAW_OBJECTS)))
    result = run_target(bq, "emails_initial.singer", tmp_path=tmp_path)
    assert result.returncode == 1
    assert "clustered by nothing, expected ['source_system', 'connection_name', 'object_type']" in failure_line(result)


def test_missing_dataset_is_a_clear_error(bq, tmp_path):
    config = {"bigquery": {**bq.config()["bigquery"], "dataset": "no_such_dataset"}}
    result = run_target(bq, "emails_initial.singer", config=config, tmp_path=tmp_path)
    assert result.returncode == 1
    assert "dataset test-project:no_such_dataset does not exist" in failure_line(result)


# -- settings that reach SQL ----------------------------------------------------------------------

BAD_SETTINGS = {
    "dataset injection": ({"dataset": "d`; DROP TABLE raw_objects; --"}, "bigquery.dataset"),
    "dataset with dot": ({"dataset": "other_project.ds"}, "bigquery.dataset"),
    "project injection": ({"project_id": "test-project`.x; SELECT 1; --"}, "bigquery.project_id"),
    "project uppercase": ({"project_id": "Test_Project"}, "bigquery.project_id"),
    "location": ({"location": "US'; --"}, "bigquery.location"),
    "endpoint": ({"api_endpoint": "file:///etc/passwd"}, "bigquery.api_endpoint"),
    "expiration": ({"staging_expiration_hours": 0}, "bigquery.staging_expiration_hours"),
}


@pytest.mark.parametrize("case", sorted(BAD_SETTINGS))
def test_bad_settings_are_refused_before_any_request(case):
    override, named = BAD_SETTINGS[case]
    config = {"bigquery": {"project_id": "my-project", "dataset": "lorchestra", **override}}
    with pytest.raises(ConfigError) as info:
        BigQuerySettings.from_config(config)
    assert named in str(info.value)


def test_valid_settings_accept_real_ids():
    for project in ("my-project", "example.com:my-project", "p12345-abc"):
        assert (
            BigQuerySettings.from_config({"bigquery": {"project_id": project, "dataset": "Raw_2"}}).project_id
            == project
        )


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"raw_objects_table": "raw_objects`; DROP TABLE event_log; --"}, "raw_objects_table"),
        ({"event_log_table": "event-log"}, "event_log_table"),
        ({"bigquery": {"dataset": "x` OR TRUE --"}}, "bigquery.dataset"),
        ({"bigquery": {"dataset": "ok", "project_id": "a;b"}}, "bigquery.project_id"),
    ],
    ids=["raw table", "event table", "dataset", "project"],
)
def test_bad_identifiers_fail_the_run_clearly_and_touch_nothing(bq, tmp_path, override, named):
    if "bigquery" in override:
        override = {"bigquery": {**bq.config()["bigquery"], **override["bigquery"]}}
    result = run_target(bq, "emails_initial.singer", config=override, tmp_path=tmp_path)
    assert result.returncode == 1
    assert result.states == []
    assert named in failure_line(result)
    assert "Traceback" not in result.stderr
    assert bq.tables() == []


# -- credentials ----------------------------------------------------------------------------------

FAKE_KEY_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7fakefakefakefakeSECRETSECRET"


def service_account(private_key: str, token_uri: str = "https://oauth2.googleapis.com/token") -> dict:
    return {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": private_key,
        "client_email": "loader@test-project.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": token_uri,
    }


def test_unusable_credentials_json_is_a_clear_error_without_the_secret(bq, tmp_path):
    key = f"-----BEGIN PRIVATE KEY-----\n{FAKE_KEY_BODY}\n-----END PRIVATE KEY-----\n"
    config = {"bigquery": {**bq.config()["bigquery"], "credentials_json": json.dumps(service_account(key))}}
    result = run_target(bq, "emails_initial.singer", config=config, tmp_path=tmp_path)
    assert result.returncode == 1
    assert result.states == []
    assert "bigquery.credentials_json is not a usable Google credential" in failure_line(result)
    assert FAKE_KEY_BODY not in result.stderr
    assert "SECRETSECRET" not in result.stderr
    assert bq.tables() == []


def test_credentials_json_that_is_not_json_is_not_echoed(bq, tmp_path):
    config = {"bigquery": {**bq.config()["bigquery"], "credentials_json": "not json SECRETSECRET"}}
    result = run_target(bq, "emails_initial.singer", config=config, tmp_path=tmp_path)
    assert result.returncode == 1
    assert "bigquery.credentials_json is not valid JSON" in failure_line(result)
    assert "SECRETSECRET" not in result.stderr


def test_rejected_key_is_an_authentication_error_without_the_secret(bq, tmp_path):
    with token_server("refuse") as token_uri:
        info = service_account_key(token_uri)
        config = {"bigquery": {**bq.config()["bigquery"], "credentials_json": json.dumps(info)}}
        result = run_target(bq, "emails_initial.singer", config=config, tmp_path=tmp_path)
    assert result.returncode == 1
    assert result.states == []
    line = failure_line(result)
    assert "BigQuery authentication failed" in line
    assert "invalid_grant" in line
    key_lines = [ln for ln in info["private_key"].splitlines() if "PRIVATE KEY" not in ln]
    assert not any(ln in result.stderr for ln in key_lines)
    assert bq.tables() == []


# -- loading --------------------------------------------------------------------------------------


def _jobs_of(bq: BigQueryUnderTest, since: dt.datetime) -> list:
    jobs = bq.client.list_jobs(min_creation_time=since, all_users=True)
    return [j for j in jobs if _mentions(j, bq.dataset)]


def _mentions(job, dataset: str) -> bool:
    if job.job_type == "load":
        return job.destination.dataset_id == dataset
    return dataset in (getattr(job, "query", "") or "")


def test_one_load_job_and_one_merge_per_flush(bq, tmp_path):
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    result = run_target(bq, "state_checkpoints.singer", config={"batch_size_rows": 2}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = _jobs_of(bq, since)
    # Load jobs are told apart by type: bqemulator 1.4.0 names upload jobs itself (bqemu_...), ignoring the
    # lorchestra_load_ prefix BigQuery keeps. Query jobs keep their lorchestra_merge_ ids on both.
    loads = [j for j in jobs if j.job_type == "load"]
    merges = [j for j in jobs if j.job_type == "query" and j.job_id.startswith(MERGE_JOB_PREFIX)]
    checks = [j for j in jobs if j.job_type == "query" and j.job_id.startswith(CHECK_JOB_PREFIX)]
    assert (len(loads), len(checks), len(merges)) == (3, 3, 3)  # 5 records, batches of 2: three flushes
    assert len(jobs) == 9  # nothing else: event_log rows are streamed, never DML
    assert all(j.query.lstrip().startswith("MERGE INTO") for j in merges)  # one statement, no transaction
    assert not any("TRANSACTION" in j.query for j in merges + checks)
    assert {j.destination.table_id for j in loads} == {loads[0].destination.table_id}  # one staging table per run
    assert loads[0].destination.table_id.startswith("lorchestra_staging_raw_objects_")
    assert len(bq.raw_objects()) == 5


def _open_warehouse(bq: BigQueryUnderTest, requests_seen: list | None = None) -> BigQueryWarehouse:
    client = client_for(bq.endpoint)
    if requests_seen is not None:
        client._http.hooks["response"].append(lambda response, *a, **k: requests_seen.append(response.request))
    settings = BigQuerySettings.from_config(bq.config())
    warehouse = BigQueryWarehouse(
        settings, {"raw_objects": "raw_objects", "event_log": "event_log"}, client=client, backoff_seconds=0.01
    )
    warehouse.open()
    return warehouse


def _batch(*ids: str) -> RawBatch:
    batch = RawBatch(Provenance("gmail", "gmail-acct1", "email", None))
    for i, external_id in enumerate(ids):
        batch.append(f"gmail:gmail-acct1:email:{external_id}", external_id, b'{"id": "%s"}' % external_id.encode(), i)
    return batch


def test_staging_table_has_an_expiration_and_is_deleted_on_success(bq):
    seen: list = []
    warehouse = _open_warehouse(bq, seen)
    counts = warehouse.merge(_batch("a", "b"))
    assert (counts.inserted, counts.updated) == (2, 0)
    staging = warehouse.staging.table_id
    assert staging in bq.tables()
    # The expiration is requested when the staging table is created. (bqemulator 1.4.0 does not keep a
    # table's expirationTime, so it is checked in the request BigQuery receives, not read back.)
    created = [r for r in seen if r.method == "POST" and r.path_url.split("?")[0].endswith("/tables")]
    [body] = [json.loads(r.body) for r in created if staging in str(r.body)]
    expires = dt.datetime.fromtimestamp(int(body["expirationTime"]) / 1000, dt.UTC)
    assert abs(expires - (dt.datetime.now(dt.UTC) + dt.timedelta(hours=24))) < dt.timedelta(minutes=5)
    warehouse.close()
    assert staging not in bq.tables()


def test_staging_table_is_kept_for_inspection_after_a_failed_merge(bq):
    bq.make_merge_fail_on("bad")
    warehouse = _open_warehouse(bq)
    with pytest.raises(Exception, match="more than once"):
        warehouse.merge(_batch("ok", "bad"))
    staging = warehouse.staging.table_id
    warehouse.close()
    assert staging in bq.tables()  # it expires on its own
    assert not [r for r in bq.raw_objects() if r["external_id"] == "ok"]  # the whole batch rolled back


def test_failed_merge_means_no_state_and_upsert_failed(bq, tmp_path):
    bq.make_merge_fail_on("poison")
    result = run_target(bq, "merge_failure.singer", config={"batch_size_rows": 2}, tmp_path=tmp_path)
    assert result.returncode == 1
    assert result.states == []
    assert "MERGE into raw_objects" in failure_line(result)
    ids = sorted(r["external_id"] for r in bq.raw_objects())
    assert ids == sorted(["ok-1", "ok-2", *bq.merge_trap_ids])  # the first batch committed; the trap rows untouched
    assert bq.merge_trap_ids == ["poison", "poison"]
    failed = [e for e in bq.events() if e["event_type"] == "upsert.failed"]
    assert len(failed) == 1
    assert "more than once" in failed[0]["error_message"]
    assert bq.events()[-1]["status"] == "failed"


def test_counts_are_exact_across_insert_update_and_stale(bq):
    warehouse = _open_warehouse(bq)
    try:
        first = warehouse.merge(_batch("a", "b", "a"))
        assert (first.rows, first.distinct, first.inserted, first.updated) == (3, 2, 2, 0)
        second = _batch("a", "c")
        second.seen_at_us[0] = 10  # newer than a's stored copy
        newer = warehouse.merge(second)
        assert (newer.inserted, newer.updated, newer.skipped_stale) == (1, 1, 0)
        stale = RawBatch(Provenance("gmail", "gmail-acct1", "email", None))
        stale.append("gmail:gmail-acct1:email:a", "a", b'{"id": "a", "old": true}', 5)
        replay = warehouse.merge(stale)
        assert (replay.inserted, replay.updated, replay.skipped_stale) == (0, 0, 1)
    finally:
        warehouse.close()
    a = next(r for r in bq.raw_objects() if r["external_id"] == "a")
    assert a["payload"] == {"id": "a"}


# -- concurrent-update conflicts -------------------------------------------------------------------


def test_merge_conflict_is_retried_and_reported_in_event_log(bq, monkeypatch, caplog):
    """bqemulator runs jobs one at a time and never reports a conflict, so this one test injects the
    error BigQuery returns at the client boundary: the first MERGE job fails as if another job's DML
    had committed first; every other request goes to the emulator unchanged."""
    real_query = bigquery.Client.query
    failures = []

    def query(self, sql, *args, **kwargs):
        if "MERGE INTO" in sql and not failures:
            failures.append(sql)
            raise api_exceptions.BadRequest(
                "Transaction is aborted due to concurrent update against table test-project:ds.raw_objects."
            )
        return real_query(self, sql, *args, **kwargs)

    monkeypatch.setattr(bigquery.Client, "query", query)
    target = TargetLorchestra(config=bq.config(), parse_env_config=False)
    with contextlib.redirect_stdout(io.StringIO()) as stdout:
        target.listen(io.BytesIO((DATA / "emails_initial.singer").read_bytes()))
    assert json.loads(stdout.getvalue().splitlines()[-1]) == {"bookmarks": {"email": {"historyId": "100"}}}
    assert len(failures) == 1
    assert "lost a concurrent-update conflict (attempt 1, retrying for up to" in caplog.text
    completed = next(e for e in bq.events() if e["event_type"] == "upsert.completed")
    assert completed["payload"]["merge_retries"] == 1
    assert completed["payload"]["inserted"] == 3
    assert len(bq.raw_objects()) == 3


def test_persistent_conflicts_fail_the_batch_after_the_last_attempt(bq, monkeypatch):
    def query(self, sql, *args, **kwargs):
        raise api_exceptions.BadRequest("Could not serialize access to table raw_objects due to concurrent update")

    warehouse = _open_warehouse(bq)
    warehouse.retry_seconds = 0.3  # bigquery.merge_retry_minutes, shortened
    monkeypatch.setattr(bigquery.Client, "query", query)
    with pytest.raises(Exception, match=r"failed after \d+ attempts over 0.0 minutes \(bigquery.merge_retry_minutes\)"):
        warehouse.merge(_batch("a"))
    monkeypatch.undo()
    warehouse.close()


# -- the test helper itself (issue 20) --------------------------------------------------------------


def test_helper_reads_fail_loudly_unless_the_table_is_absent(bq, monkeypatch):
    """Only NotFound means "no table": any other read error must fail the test, never read as []."""
    assert bq.raw_objects() == []  # absent: NotFound

    def refuse(*args, **kwargs):
        raise api_exceptions.Forbidden("Access Denied: Table raw_objects")

    monkeypatch.setattr(bq.client, "get_table", refuse)
    with pytest.raises(api_exceptions.Forbidden):
        bq.raw_objects()
    with pytest.raises(api_exceptions.Forbidden):
        bq.events()
