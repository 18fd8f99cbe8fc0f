"""An unexpected failure (not one the target raises on purpose) whose text quotes a secret setting.

A library may put its credentials in an exception message. The target records unexpected failures in
``ingest.failed`` / ``job.completed`` and prints their traceback: neither may carry a secret setting's value.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from lorchestra_testing.target import singer

REFRESH_TOKEN = "1//0gRefreshTokenValueThatMustNeverBeShown-abcdef"
PRIVATE_KEY = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
    "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
    "-----END PRIVATE KEY-----\n"
)
CREDENTIALS = json.dumps({
    "type": "authorized_user", "client_id": "104729.apps.example", "client_secret": "GOCSPX-clientSecretValue42",
    "refresh_token": REFRESH_TOKEN, "private_key": PRIVATE_KEY,
})  # fmt: skip
SECRETS = [
    REFRESH_TOKEN,
    "GOCSPX-clientSecretValue42",
    *(line for line in PRIVATE_KEY.splitlines() if "---" not in line),
]
SCHEMA = {"type": "object", "properties": {"id": {"type": "string"}}, "x-lorchestra": {
    "source_system": "files", "connection_name": "files-1"}}  # fmt: skip
INPUT = singer(
    {"type": "SCHEMA", "stream": "things", "schema": SCHEMA, "key_properties": ["id"]},
    {"type": "RECORD", "stream": "things", "record": {"id": "1"}},
)

# The real target CLI, with one library call replaced by one that fails quoting the credentials it was
# given (as an authentication library's error may): the fault is injected, everything else is real.
LEAKY_TARGET = """
import sys
from target_lorchestra import records
from target_lorchestra.warehouse.duckdb import DuckDBWarehouse

def leaky(*args, **kwargs):
    raise RuntimeError("token refresh failed: refresh_token=" + REFRESH_TOKEN + " key=" + PRIVATE_KEY
                       + " secret=GOCSPX-clientSecretValue42")

REFRESH_TOKEN, PRIVATE_KEY = sys.argv.pop(), sys.argv.pop()  # not in this file: a traceback quotes its lines
if sys.argv.pop() == "merge":
    DuckDBWarehouse.merge = leaky  # wrapped by the sink into a MERGE failure
else:
    records.external_id = leaky  # reaches the target's own handling of unexpected failures
from target_lorchestra.target import TargetLorchestra
TargetLorchestra.cli()
"""


@pytest.mark.parametrize("where", ["merge", "record"])
def test_unexpected_error_quoting_a_secret_keeps_it_out_of_events_and_stderr(
    tmp_path: Path, duckdb_wh, where: str
) -> None:
    config = {**duckdb_wh.config(), "bigquery": {"dataset": "unused", "credentials_json": CREDENTIALS}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "leaky_target.py").write_text(LEAKY_TARGET)
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "leaky_target.py"), "--config", str(tmp_path / "config.json"),
         where, PRIVATE_KEY, REFRESH_TOKEN],
        input=INPUT, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "RuntimeError" in proc.stderr  # the failure is still reported, with its traceback
    assert "token refresh failed" in proc.stderr
    events = duckdb_wh.events()
    failed = [e for e in events if e["event_type"] in ("ingest.failed", "job.completed")]
    assert {e["event_type"] for e in failed} == {"ingest.failed", "job.completed"}
    assert all("RuntimeError: token refresh failed: refresh_token=[secret]" in e["error_message"] for e in failed), [
        e["error_message"] for e in failed
    ]
    everything = proc.stdout + proc.stderr + repr(events)
    leaked = [s for s in SECRETS if s in everything]
    assert leaked == []
