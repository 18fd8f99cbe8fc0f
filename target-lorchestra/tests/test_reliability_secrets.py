"""Secrets and identifiers, through the real CLI.

* The BigQuery ``credentials_json`` (a service-account key generated here, never a real one) never appears in
  stdout, stderr (DEBUG logging), STATE or event_log: when authentication fails at the token endpoint, when
  the key is garbled or unusable, and when the run succeeds with the key configured.
* Table, dataset, project and location names from config cannot inject SQL: each is rejected before any
  connection with one clear error naming the setting, and nothing already committed changes.
"""

from __future__ import annotations

import json
import os
import subprocess
import typing as t

import pytest
from lorchestra_testing import bigquery_auth
from lorchestra_testing.inprocess import run_in_process
from lorchestra_testing.target import DATA, TARGET, failure_line, run_target

DEBUG_ENV = {"LOGLEVEL": "DEBUG", "TARGET_LORCHESTRA_LOG_LEVEL": "DEBUG"}
LORCHESTRA = str(TARGET).replace("target-lorchestra", "lorchestra")


@pytest.fixture(scope="module")
def service_account_key() -> dict:
    return bigquery_auth.service_account_key("http://127.0.0.1:9/token")  # token_uri replaced per test


def secret_fragments(key: dict) -> list[str]:
    body = [line for line in key["private_key"].splitlines() if "-----" not in line]
    return [key["private_key_id"], *body, json.dumps(key)]


def assert_no_secret(text: str, key: dict) -> None:
    leaked = [s for s in secret_fragments(key) if s in text]
    assert leaked == []


@pytest.fixture
def token_endpoint() -> t.Iterator[str]:
    """Refuses every grant, as Google does for a key it does not know."""
    with bigquery_auth.token_server("refuse") as url:
        yield url


def bigquery_config(credentials_json: str) -> dict:
    return {
        "warehouse": "bigquery",
        "bigquery": {
            "project_id": "test-project",
            "dataset": "lorchestra_secrets",
            "api_endpoint": "http://127.0.0.1:9",  # never reached: the token is refused first
            "credentials_json": credentials_json,
        },
    }


@pytest.mark.parametrize("breakage", ["refused_by_token_endpoint", "garbled_json", "not_a_credential"])
def test_bigquery_credentials_never_leak_on_failure(duckdb_wh, tmp_path, service_account_key, token_endpoint, breakage):
    pytest.importorskip("target_lorchestra.warehouse.bigquery")
    key = {**service_account_key, "token_uri": token_endpoint}
    credentials = {
        "refused_by_token_endpoint": json.dumps(key),
        "garbled_json": json.dumps(key)[:-40],  # cut inside the private key
        "not_a_credential": json.dumps({"type": "service_account", "private_key": key["private_key"]}),
    }[breakage]

    words = {
        "refused_by_token_endpoint": "invalid_grant",
        "garbled_json": "credentials_json is not valid JSON",
        "not_a_credential": "credentials_json is not a usable Google credential",
    }[breakage]

    if breakage != "refused_by_token_endpoint":  # refused while reading config: in-process (logs at DEBUG)
        quick = run_in_process(duckdb_wh, DATA / "emails_initial.singer", config=bigquery_config(credentials))
        assert quick.returncode == 1
        assert quick.states == []
        assert quick.error is not None, repr(quick.exception)
        assert words in quick.error
        assert '"event_type":"job.completed"' in quick.logs  # the events, logged: they must be clean too
        assert_no_secret(quick.error + quick.logs, key)
        return

    result = run_target(
        duckdb_wh, "emails_initial.singer", config=bigquery_config(credentials), env=DEBUG_ENV, tmp_path=tmp_path
    )

    assert result.returncode == 1
    assert result.states == []
    error = failure_line(result)
    assert words in error
    assert "Traceback" not in result.stderr
    assert '"event_type":"job.completed"' in result.stderr  # the events, logged: they must be clean too
    assert_no_secret(result.stdout + result.stderr, key)


def test_bigquery_credentials_never_leak_on_success(duckdb_wh, tmp_path, service_account_key):
    """A run that succeeds with credentials_json configured (and unused: the warehouse is DuckDB; the emulator
    takes anonymous requests only): nothing of it in stdout, stderr, STATE or event_log."""
    key = service_account_key
    config: dict = {"bigquery": {"credentials_json": json.dumps(key)}}
    wh = duckdb_wh
    result = run_target(wh, "emails_initial.singer", config=config, env=DEBUG_ENV, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.states == [{"bookmarks": {"email": {"historyId": "100"}}}]
    assert "DEBUG" in result.stderr  # the DEBUG logs were on, so the check below means something
    assert_no_secret(result.stdout + result.stderr + json.dumps(wh.events(), default=str), key)


INJECTIONS = [
    ({"raw_objects_table": "raw_objects; DROP TABLE event_log; --"}, "raw_objects_table must be a plain identifier"),
    ({"event_log_table": 'event_log" (x) SELECT 1; --'}, "event_log_table must be a plain identifier"),
    (
        {"warehouse": "bigquery", "bigquery": {"project_id": "test-project", "dataset": "ds`; DROP SCHEMA ds; --"}},
        "bigquery.dataset must be a BigQuery dataset id",
    ),
    (
        {"warehouse": "bigquery", "bigquery": {"project_id": "test-project`.x.y; --", "dataset": "ds"}},
        "bigquery.project_id must be a Google Cloud project id",
    ),
]


@pytest.mark.parametrize(("override", "words"), INJECTIONS, ids=lambda v: str(v)[:40] if isinstance(v, dict) else "")
def test_identifiers_from_config_cannot_inject_sql(duckdb_wh, tmp_path, override, words):
    if override.get("warehouse") == "bigquery":
        pytest.importorskip("target_lorchestra.warehouse.bigquery")
    assert run_in_process(duckdb_wh, DATA / "emails_initial.singer").returncode == 0
    before = (duckdb_wh.raw_objects(), len(duckdb_wh.events()))

    result = run_target(duckdb_wh, "emails_later.singer", config=override, tmp_path=tmp_path)

    assert result.returncode == 1
    assert result.states == []
    error = failure_line(result)
    assert words in error
    assert "Traceback" not in result.stderr
    assert (duckdb_wh.raw_objects(), len(duckdb_wh.events())) == before  # nothing ran, nothing dropped


def test_lorchestra_cli_rejects_injected_table_names(duckdb_wh, tmp_path):
    assert run_in_process(duckdb_wh, DATA / "emails_initial.singer").returncode == 0
    config = tmp_path / "ops.json"
    config.write_text(json.dumps({**duckdb_wh.config(), "raw_objects_table": "raw_objects; DROP TABLE event_log"}))
    proc = subprocess.run(
        [LORCHESTRA, "validate", "--config", str(config)],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert "lorchestra validate failed: raw_objects_table must be a plain identifier" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(duckdb_wh.raw_objects()) == 3
    assert duckdb_wh.events()
