"""Secret redaction, reached: the BigQuery client raises errors whose text holds the configured secret.

The token endpoint (``lorchestra_testing.bigquery_auth.token_server``) quotes the refresh token and client
secret it was sent, so
google-auth's error carries them; the target must show the error (it names the problem) with each secret
replaced by ``[secret]``, in the exit message, the logs (DEBUG), and the event_log rows. Once when the
warehouse is opened (through the CLIs), once in the middle of a run (an API 401 makes the client refresh).
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from lorchestra_testing.bigquery import PROJECT
from lorchestra_testing.bigquery_auth import (
    CLIENT_SECRET,
    REFRESH_TOKEN,
    api_front,
    federated_user_credential,
    token_server,
)
from lorchestra_testing.inprocess import run_in_process
from lorchestra_testing.target import DATA, TARGET, failure_line, run_target

DEBUG_ENV = {"LOGLEVEL": "DEBUG", "TARGET_LORCHESTRA_LOG_LEVEL": "DEBUG"}
LORCHESTRA = str(TARGET).replace("target-lorchestra", "lorchestra")


def assert_no_secret(text: str) -> None:
    """No 12-character piece of either secret: a secret cut in half is still a leak."""
    for secret in (REFRESH_TOKEN, CLIENT_SECRET):
        pieces = [secret[i : i + 12] for i in range(len(secret) - 11)]
        assert [p for p in pieces if p in text] == []


def bigquery_config(api_endpoint: str, credential: dict, dataset: str = "lorchestra_redaction") -> dict:
    return {
        "warehouse": "bigquery",
        "bigquery": {
            "project_id": PROJECT,
            "dataset": dataset,
            "api_endpoint": api_endpoint,
            "credentials_json": json.dumps(credential),
        },
    }


#: Explanation before the quoted grant: none, or enough that the refresh token straddles the first 300
#: characters the error message keeps (whatever prefix google-auth puts before the description).
PADDING = {"quoted": 0, "quoted_across_the_300_character_cut": 230}


@pytest.mark.parametrize("padding", list(PADDING.values()), ids=list(PADDING))
def test_secret_quoted_by_the_token_endpoint_is_redacted_by_the_target_cli(duckdb_wh, tmp_path, padding):
    with token_server("echo", padding=padding) as token_url:
        config = bigquery_config("http://127.0.0.1:9", federated_user_credential(token_url))  # never reached
        result = run_target(duckdb_wh, "emails_initial.singer", config=config, env=DEBUG_ENV, tmp_path=tmp_path)

    assert result.returncode == 1
    assert result.states == []
    error = failure_line(result)
    assert "BigQuery authentication failed while checking the dataset: " in error
    assert "invalid_grant" in error
    if padding == 0:
        assert "refresh token [secret] of client lorchestra-loader:[secret] is revoked" in error
    assert "Traceback" not in result.stderr
    assert '"event_type":"job.completed"' in result.stderr  # the events, logged: checked below too
    assert_no_secret(result.stdout + result.stderr)


def test_secret_quoted_by_the_token_endpoint_is_redacted_by_lorchestra_validate(tmp_path):
    with token_server("echo") as token_url:
        config = tmp_path / "ops.json"
        config.write_text(json.dumps(bigquery_config("http://127.0.0.1:9", federated_user_credential(token_url))))
        proc = subprocess.run(
            [LORCHESTRA, "validate", "--config", str(config)],
            capture_output=True,
            text=True,
            env={**os.environ, **DEBUG_ENV},
            timeout=120,
            check=False,
        )
    assert proc.returncode == 1
    assert "lorchestra validate failed: BigQuery authentication failed" in proc.stderr
    assert "refresh token [secret]" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert_no_secret(proc.stdout + proc.stderr)


def test_secret_in_an_error_mid_run_is_redacted_in_event_log(bq):
    """Tables are created and events written with a granted token; BigQuery then answers the MERGE with 401,
    the client refreshes, and the token endpoint's refusal quotes the secrets."""
    with token_server("grant_once") as token_url, api_front(bq.endpoint) as front:
        config = bigquery_config(front, federated_user_credential(token_url), dataset=bq.dataset)
        result = run_in_process(bq, DATA / "emails_initial.singer", config=config)

    assert result.returncode == 1
    assert result.states == []
    assert result.error is not None, repr(result.exception)
    assert "BigQuery authentication failed while MERGE into raw_objects: " in result.error
    assert "refresh token [secret]" in result.error
    events = bq.events()
    [failed] = [e for e in events if e["event_type"] == "upsert.failed"]
    assert "refresh token [secret]" in failed["error_message"]
    assert events[-1]["event_type"] == "job.completed"
    assert events[-1]["status"] == "failed"
    assert bq.raw_objects() == []
    assert_no_secret(result.error + result.logs + json.dumps(events, default=str))
