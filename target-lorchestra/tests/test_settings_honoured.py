"""Every setting of the target's config schema does what it says: each test fails if its setting is ignored.

Already pinned elsewhere: ``warehouse``, ``duckdb_path`` and ``bigquery.api_endpoint``/``project_id``/``dataset``
(every test's warehouse), ``batch_size_rows`` (``test_merge.py``: batch_count), ``source_system`` and
``connection_name`` (``test_merge.py``: third-party tap), ``lock_timeout_seconds`` (``test_reliability_concurrency``:
the wait and its bound), ``credentials_json`` (``test_bigquery.py``, ``test_redaction.py``), ``bigquery.location``
(``test_bigquery_cost.py``: jobs carry it, a dataset elsewhere is refused). The rest is here.
"""

from __future__ import annotations

import datetime as dt
import json

import duckdb
from lorchestra_testing.bigquery_auth import service_account_key, token_server
from lorchestra_testing.inprocess import run_in_process
from lorchestra_testing.target import DATA, EMAIL_SCHEMA, singer
from target_lorchestra.provenance import Provenance
from target_lorchestra.target import TargetLorchestra
from target_lorchestra.warehouse import RawBatch
from target_lorchestra.warehouse.bigquery import BigQueryWarehouse

SCHEMA = EMAIL_SCHEMA


def rec(key: str, **fields) -> dict:
    return {"type": "RECORD", "stream": "email", "record": {"id": key, **fields}, "time_extracted": "2024-05-01T10:00Z"}


def upsert_completed(wh) -> dict:
    [event] = [e for e in wh.events() if e["event_type"] == "upsert.completed"]
    return event["payload"]


# -- records and batches ------------------------------------------------------------------------------


def test_validate_records_on_refuses_a_record_off_its_schema(duckdb_wh):
    bad = singer(SCHEMA, rec("a", v=1), rec("b", v="twelve"))
    result = run_in_process(duckdb_wh, bad, config={"validate_records": True})
    assert result.returncode == 1
    assert result.error is not None, repr(result.exception)
    assert "input line 3, stream 'email': record does not match the stream's JSON schema" in result.error
    assert duckdb_wh.raw_objects() == []  # the valid record before it is not committed either: no STATE covered it


def test_validate_records_off_stores_the_record_as_sent(duckdb_wh):
    result = run_in_process(duckdb_wh, singer(SCHEMA, rec("b", v="twelve")), config={"validate_records": False})
    assert result.returncode == 0, result.error
    assert [r["payload"] for r in duckdb_wh.raw_objects()] == [{"id": "b", "v": "twelve"}]


def test_batch_size_mb_flushes_when_the_payload_bytes_reach_it(duckdb_wh):
    """Four records of 400 KB with batch_size_mb=1: the third reaches 1 MB, so two MERGEs (3 + 1)."""
    records = [rec(f"r{i}", blob="x" * 400_000) for i in range(4)]
    result = run_in_process(duckdb_wh, singer(SCHEMA, *records), config={"batch_size_mb": 1})
    assert result.returncode == 0, result.error
    payload = upsert_completed(duckdb_wh)
    assert (payload["batch_count"], payload["inserted"]) == (2, 4)


# -- provenance fallbacks ---------------------------------------------------------------------------------


def test_schema_ref_fallback_applies_to_streams_that_declare_none(duckdb_wh):
    config = {
        "source_system": "github",
        "connection_name": "github-clinic",
        "schema_ref": "iglu:com.example/raw_github_issue/jsonschema/1-0-0",
    }
    result = run_in_process(duckdb_wh, DATA / "third_party_tap.singer", config=config)
    assert result.returncode == 0, result.error
    [row] = duckdb_wh.raw_objects()
    assert row["schema_ref"] == "iglu:com.example/raw_github_issue/jsonschema/1-0-0"


# -- table names ------------------------------------------------------------------------------------------


def test_table_names_are_the_configured_ones(wh):
    wh.raw_table, wh.event_table = "clinic_raw", "clinic_events"  # what wh reads back, and its config()
    result = run_in_process(wh, DATA / "emails_initial.singer")
    assert result.returncode == 0, result.error
    assert len(wh.raw_objects()) == 3
    assert upsert_completed(wh)["inserted"] == 3
    if wh.kind == "duckdb":
        with duckdb.connect(str(wh.path), read_only=True) as con:
            tables = sorted(r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall())
    else:
        tables = wh.tables()
    assert tables == ["clinic_events", "clinic_raw"]  # nothing under the default names


# -- DuckDB ------------------------------------------------------------------------------------------------


def _memory_limit_shown_for(value: str) -> str:
    """How DuckDB reports ``memory_limit`` once set to ``value`` (it normalises the unit)."""
    with duckdb.connect() as con:
        con.execute("SET memory_limit = $v", {"v": value})
        return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]


def test_duckdb_memory_limit_is_applied_to_the_connection(duckdb_wh):
    assert _memory_limit_shown_for("100MB") != _memory_limit_shown_for("256MB")  # distinguishable from the default
    target = TargetLorchestra(config={**duckdb_wh.config(), "duckdb_memory_limit": "100MB"}, parse_env_config=False)
    try:
        [row] = target.warehouse.query("SELECT current_setting('memory_limit') AS m")
    finally:
        target.warehouse.close()
    assert row["m"] == _memory_limit_shown_for("100MB")


def test_a_bad_duckdb_memory_limit_is_refused(duckdb_wh):
    result = run_in_process(duckdb_wh, DATA / "emails_initial.singer", config={"duckdb_memory_limit": "lots"})
    assert result.returncode == 1
    assert result.error == "target-lorchestra failed: duckdb_memory_limit must be a size like '256MB', got 'lots'"


# -- BigQuery ----------------------------------------------------------------------------------------------


def test_bigquery_staging_expiration_reaches_the_request(bq):
    """The emulator drops a table's expirationTime, so the request BigQuery would receive is checked."""
    config = bq.config()
    config["bigquery"] |= {"staging_expiration_hours": 3}
    warehouse = BigQueryWarehouse.from_config(config, {"raw_objects": "raw_objects", "event_log": "event_log"})
    warehouse.connect()
    seen: list = []
    warehouse.client._http.hooks["response"].append(lambda response, *a, **k: seen.append(response.request))
    try:
        warehouse.open()
        batch = RawBatch(Provenance("gmail", "gmail-acct1", "email", None))
        batch.append("gmail:gmail-acct1:email:a", "a", b'{"id": "a"}', 0)
        assert warehouse.merge(batch).inserted == 1
        staging = warehouse.staging.table_id
    finally:
        warehouse.close()

    texts = [r.body.decode() if isinstance(r.body, bytes) else r.body for r in seen if r.method == "POST"]
    bodies = [json.loads(text) for text in texts if text and text.startswith("{")]
    [created] = [b for b in bodies if b.get("tableReference", {}).get("tableId") == staging]
    expires = dt.datetime.fromtimestamp(int(created["expirationTime"]) / 1000, dt.UTC)
    assert abs(expires - (dt.datetime.now(dt.UTC) + dt.timedelta(hours=3))) < dt.timedelta(minutes=5)


def test_bigquery_credentials_path_is_used(bq, tmp_path):
    """A key file whose token endpoint refuses it: the run fails authenticating (it would succeed anonymously
    against the emulator if the setting were ignored)."""
    with token_server(mode="refuse") as token_uri:
        key_file = tmp_path / "key.json"
        key_file.write_text(json.dumps(service_account_key(token_uri)))
        config = {"bigquery": {**bq.config()["bigquery"], "credentials_path": str(key_file)}}
        result = run_in_process(bq, DATA / "emails_initial.singer", config=config)
    assert result.returncode == 1
    assert result.error is not None, repr(result.exception)
    assert "BigQuery authentication failed while checking the dataset" in result.error
    assert bq.tables() == []
