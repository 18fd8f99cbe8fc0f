"""The Meltano project end to end: plugins installed by Meltano, real jobs against the sandboxes, into DuckDB
and into BigQuery (the bqemulator wire protocol); the operations CLI on both.

One module, its sandboxes and Meltano state shared by its tests (module-scoped fixtures; the suite runs
with --dist loadscope, so one xdist worker runs the whole module). The BigQuery tests come last: they
change upstream data the DuckDB counts do not expect."""

from __future__ import annotations

import json
import os

import duckdb
import pytest
from google.cloud import bigquery
from lorchestra_testing.bigquery import PROJECT, BigQueryUnderTest
from lorchestra_testing.e2e import MELTANO, lorchestra, meltano

#: What the sandboxes are seeded with, per connection and object type (deterministic seeds).
EXPECTED = {
    ("gmail", "gmail-acct1", "email"): 166,
    ("gmail", "gmail-acct2", "email"): 111,
    ("gmail", "gmail-acct3", "email"): 184,
    ("exchange", "exchange-ben-mensio", "email"): 90,
    ("exchange", "exchange-booking-mensio", "email"): 70,
    ("exchange", "exchange-info-mensio", "email"): 60,
    ("exchange", "exchange-ben-efs", "email"): 50,
    ("dataverse", "dataverse-clinic", "contact"): 120,
    ("dataverse", "dataverse-clinic", "session"): 240,
    ("dataverse", "dataverse-clinic", "report"): 160,
    ("google_forms", "google-forms-ipip120", "form"): 1,
    ("google_forms", "google-forms-ipip120", "form_response"): 60,
    ("google_forms", "google-forms-intake-01", "form"): 1,
    ("google_forms", "google-forms-intake-01", "form_response"): 150,
    ("google_forms", "google-forms-intake-02", "form"): 1,
    ("google_forms", "google-forms-intake-02", "form_response"): 90,
    ("google_forms", "google-forms-followup", "form"): 1,
    ("google_forms", "google-forms-followup", "form_response"): 240,
}
JOBS = [
    "gmail_ingest_acct1", "gmail_ingest_acct2", "gmail_ingest_acct3",
    "exchange_ingest_ben_mensio", "exchange_ingest_booking_mensio", "exchange_ingest_info_mensio",
    "exchange_ingest_ben_efs",
    "dataverse_ingest_contacts", "dataverse_ingest_sessions", "dataverse_ingest_reports",
    "google_forms_ingest_ipip120", "google_forms_ingest_intake_01", "google_forms_ingest_intake_02",
    "google_forms_ingest_followup",
]  # fmt: skip


def query(env: dict, sql: str) -> list[tuple]:
    with duckdb.connect(env["TARGET_LORCHESTRA_DUCKDB_PATH"], read_only=True) as con:
        return con.execute(sql).fetchall()


def run_job(meltano_env, job: str, where: str) -> dict:
    """``meltano run job``; the counts of the newest ``upsert.completed`` event matching ``where``."""
    result = meltano(meltano_env, "run", job)
    assert result.returncode == 0, result.stderr[-3000:]
    [(payload,)] = query(
        meltano_env,
        f"SELECT payload FROM event_log WHERE event_type = 'upsert.completed' AND {where} "
        "ORDER BY created_at DESC LIMIT 1",
    )
    return json.loads(payload)


@pytest.fixture(scope="module")
def reingested(sandboxes, meltano_env, tmp_path_factory):
    """`lorchestra reingest`: all fourteen jobs, fresh state, into an empty DuckDB."""
    logs = tmp_path_factory.mktemp("logs")
    result = lorchestra(
        meltano_env, "reingest", "--meltano", str(MELTANO),
        "--duckdb-path", meltano_env["TARGET_LORCHESTRA_DUCKDB_PATH"], "--log-dir", str(logs),
    )  # fmt: skip
    return result, logs


def test_meltano_lists_the_fourteen_jobs_with_schedules(meltano_env):
    jobs = meltano(meltano_env, "job", "list", "--format", "json")
    assert jobs.returncode == 0, jobs.stderr
    listed = json.loads(jobs.stdout[jobs.stdout.index("{") :])["jobs"]
    assert [j["job_name"] for j in listed] == JOBS
    schedules = meltano(meltano_env, "schedule", "list", "--format", "json")
    assert schedules.returncode == 0, schedules.stderr
    scheduled = {
        s["job"]["name"] for s in json.loads(schedules.stdout[schedules.stdout.index("{") :])["schedules"]["job"]
    }
    assert scheduled == set(JOBS)


def test_reingest_runs_every_job_and_lands_every_object(reingested, meltano_env):
    result, logs = reingested
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"14 jobs, {sum(EXPECTED.values())} records, 0 failed" in result.stdout
    counts = {tuple(r[:3]): r[3] for r in query(meltano_env,
        "SELECT source_system, connection_name, object_type, count(*) FROM raw_objects GROUP BY 1, 2, 3")}  # fmt: skip
    assert counts == EXPECTED
    bad_keys = query(
        meltano_env,
        "SELECT count(*) FROM raw_objects WHERE idem_key <> "
        "source_system || ':' || connection_name || ':' || object_type || ':' || external_id",
    )
    assert bad_keys == [(0,)]
    # Every job ran under its own correlation id, with upsert.completed counts matching what landed.
    upserts = query(
        meltano_env,
        "SELECT connection_name, target_object_type, "
        "CAST(json_extract(payload, '$.inserted') AS INT) FROM event_log WHERE event_type = 'upsert.completed'",
    )
    assert {(c, o): n for c, o, n in upserts} == {(c, o): n for (_, c, o), n in EXPECTED.items()}
    runs = query(meltano_env, "SELECT count(DISTINCT correlation_id) FROM event_log WHERE event_type = 'job.started'")
    assert runs == [(14,)]
    assert sorted(p.name for p in logs.iterdir()) == sorted(f"{j}.log" for j in JOBS)


def test_validate_reports_all_checks_passing(reingested, meltano_env):
    result = lorchestra(meltano_env, "validate", "--duckdb-path", meltano_env["TARGET_LORCHESTRA_DUCKDB_PATH"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5/5 checks passed" in result.stdout
    assert "all emails across providers   731" in result.stdout


def test_second_run_of_a_job_pulls_only_what_changed(reingested, sandboxes, meltano_env):
    """Incremental state per job: after the backfill, `meltano run` sees only the new and changed objects."""
    gmail = sandboxes["gmail"]
    new_id = gmail.add_message("gmail-acct1", "Reschedule request", "Could we move Thursday's session?")
    counts = run_job(meltano_env, "gmail_ingest_acct1", "connection_name = 'gmail-acct1'")
    assert (counts["total_records"], counts["inserted"], counts["updated"]) == (1, 1, 0)
    assert query(meltano_env, f"SELECT count(*) FROM raw_objects WHERE external_id = '{new_id}'") == [(1,)]

    dataverse = sandboxes["dataverse"]
    contact_id = next(iter(dataverse.tables["contacts"].rows))
    dataverse.update("contacts", contact_id, description="Prefers evening sessions")
    counts = run_job(meltano_env, "dataverse_ingest_contacts", "target_object_type = 'contact'")
    assert counts["updated"] >= 1
    assert counts["inserted"] == 0
    assert counts["total_records"] < 10  # only the changed page, not the 120 contacts
    [(stored,)] = query(
        meltano_env, f"SELECT payload->>'description' FROM raw_objects WHERE external_id = '{contact_id}'"
    )
    assert stored == "Prefers evening sessions"
    # The other jobs' states were not touched by these runs.
    states = meltano(meltano_env, "state", "list")
    assert "sandbox:tap-gmail--acct2-to-target-lorchestra" in states.stdout + states.stderr


# -- BigQuery ---------------------------------------------------------------------------------------


def bigquery_env(env: dict, bq: BigQueryUnderTest) -> dict:
    """The same Meltano project, its loader switched to BigQuery through Meltano's env-var settings."""
    return {
        **env,
        "TARGET_LORCHESTRA_WAREHOUSE": "bigquery",
        "TARGET_LORCHESTRA_BIGQUERY_PROJECT_ID": PROJECT,
        "TARGET_LORCHESTRA_BIGQUERY_DATASET": bq.dataset,
        "TARGET_LORCHESTRA_BIGQUERY_API_ENDPOINT": bq.endpoint,
    }


def test_jobs_land_in_bigquery_and_validate(sandboxes, meltano_env, bq, tmp_path):
    env = bigquery_env(meltano_env, bq)
    for job in ("exchange_ingest_ben_efs", "google_forms_ingest_intake_02"):
        result = meltano(env, "run", "--full-refresh", job)
        assert result.returncode == 0, result.stderr[-3000:]

    rows = bq.raw_objects()
    counts: dict[tuple, int] = {}
    for r in rows:
        key = (r["source_system"], r["connection_name"], r["object_type"])
        counts[key] = counts.get(key, 0) + 1
        assert r["idem_key"] == f"{key[0]}:{key[1]}:{key[2]}:{r['external_id']}"
    assert counts == {
        ("exchange", "exchange-ben-efs", "email"): 50,
        ("google_forms", "google-forms-intake-02", "form"): 1,
        ("google_forms", "google-forms-intake-02", "form_response"): 90,
    }
    upserts = {e["target_object_type"]: e["payload"] for e in bq.events() if e["event_type"] == "upsert.completed"}
    assert upserts["email"]["inserted"] == 50
    assert upserts["form_response"]["inserted"] == 90

    # A second run pulls only the new message.
    sandboxes["exchange"].add_message("ben@efs.example", subject="Termin verschoben")
    assert meltano(env, "run", "exchange_ingest_ben_efs").returncode == 0
    last = [e for e in bq.events() if e["event_type"] == "upsert.completed"][-1]["payload"]
    assert (last["total_records"], last["inserted"], last["updated"]) == (1, 1, 0)

    config = tmp_path / "target.json"
    config.write_text(json.dumps(bq.config()))
    report = lorchestra(env, "validate", "--config", str(config))
    assert report.returncode == 0, report.stdout + report.stderr
    assert "5/5 checks passed" in report.stdout
    assert "all emails across providers   51" in report.stdout


def test_migrate_on_bigquery_archives_then_recreates(bq, tmp_path):
    old_raw = [
        bigquery.SchemaField("idem_key", "STRING", mode="REQUIRED"),
        bigquery.SchemaField("source_system", "STRING", mode="REQUIRED"),
        bigquery.SchemaField("object_type", "STRING", mode="REQUIRED"),
        bigquery.SchemaField("payload", "JSON", mode="REQUIRED"),
        bigquery.SchemaField("first_seen", "TIMESTAMP", mode="REQUIRED"),
        bigquery.SchemaField("last_seen", "TIMESTAMP", mode="REQUIRED"),
    ]
    old_events = [
        bigquery.SchemaField("event_id", "STRING", mode="REQUIRED"),
        bigquery.SchemaField("event_type", "STRING", mode="REQUIRED"),
        bigquery.SchemaField("source_system", "STRING"),
        bigquery.SchemaField("object_type", "STRING"),
        bigquery.SchemaField("idem_key", "STRING"),
        bigquery.SchemaField("created_at", "TIMESTAMP", mode="REQUIRED"),
        bigquery.SchemaField("status", "STRING", mode="REQUIRED"),
    ]
    bq.client.create_table(bigquery.Table(bq.ref("raw_objects"), schema=old_raw))
    bq.client.create_table(bigquery.Table(bq.ref("event_log"), schema=old_events))
    bq.execute(
        "INSERT INTO {raw_objects} (idem_key, source_system, object_type, payload, first_seen, last_seen) VALUES "
        "('google-forms--intake-01:form_response:R1', 'google-forms--intake-01', 'form_response', "
        "JSON '{{\"responseId\": \"R1\"}}', TIMESTAMP '2024-01-01', TIMESTAMP '2024-02-01'), "
        "('gmail--acct1:email:m1', 'gmail--acct1', 'email', JSON '{{\"id\": \"m1\"}}', "
        "TIMESTAMP '2024-01-01', TIMESTAMP '2024-02-01')"
    )
    bq.execute(
        "INSERT INTO {event_log} (event_id, event_type, source_system, object_type, idem_key, created_at, status) "
        "VALUES ('e1', 'ingestion.completed', 'google-forms--intake-01', 'form_response', 'x', "
        "CURRENT_TIMESTAMP(), 'success')"
    )
    config = tmp_path / "target.json"
    config.write_text(json.dumps(bq.config()))

    dry = lorchestra(dict(os.environ), "migrate", "--config", str(config), "--tables", "production")
    assert dry.returncode == 0, dry.stderr
    assert "archive raw_objects -> raw_objects_legacy (2 rows" in dry.stdout
    assert "raw_objects_legacy" not in bq.tables()

    done = lorchestra(dict(os.environ), "migrate", "--config", str(config), "--tables", "production", "--yes")
    assert done.returncode == 0, done.stderr
    assert set(bq.tables()) >= {"raw_objects", "raw_objects_legacy", "event_log", "event_log_legacy"}
    legacy = bq._query(f"SELECT source_system FROM `{bq.ref('raw_objects_legacy')}` ORDER BY 1")
    assert [r["source_system"] for r in legacy] == ["gmail--acct1", "google-forms--intake-01"]
    assert bq.raw_objects() == []
    fields = {f.name: f.field_type for f in bq.client.get_table(bq.ref("raw_objects")).schema}
    assert fields["connection_name"] == "STRING"
    assert fields["payload"] == "JSON"
    assert "idem_key" not in {f.name for f in bq.client.get_table(bq.ref("event_log")).schema}

    again = lorchestra(dict(os.environ), "migrate", "--config", str(config), "--tables", "production", "--yes")
    assert again.returncode == 1
    assert "--replace-legacy" in again.stderr
