"""Meltano jobs into BigQuery (the bqemulator wire protocol), and the operations CLI on BigQuery."""

from __future__ import annotations

import json
import os

import pytest
from google.cloud import bigquery
from lorchestra_bigquery import PROJECT, BigQueryUnderTest
from lorchestra_e2e import lorchestra, meltano

pytestmark = pytest.mark.xdist_group("meltano")  # one worker: the sandboxes use fixed ports


@pytest.fixture
def bq(bigquery_emulator, request):
    wh = BigQueryUnderTest(bigquery_emulator, request.node.name)
    yield wh
    wh.drop()


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
