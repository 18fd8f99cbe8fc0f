"""tap-dataverse | target-lorchestra: what lands in raw_objects, over a backfill and an incremental run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

TARGET = shutil.which("target-lorchestra", path=str(Path(sys.executable).parent))
PRIMARY_KEYS = {"contact": "contactid", "session": "cr8a1_sessionid", "report": "cr8a1_reportid"}
ENTITY_SETS = {"contact": "contacts", "session": "cr8a1_sessions", "report": "cr8a1_reports"}


@pytest.fixture
def pipe(config, tmp_path):
    """``pipe(state=None) -> last STATE`` the target emitted, after it has merged everything."""
    tap_config = tmp_path / "tap.json"
    tap_config.write_text(json.dumps(config))
    target_config = tmp_path / "target.json"
    target_config.write_text(json.dumps({"duckdb_path": str(tmp_path / "wh.duckdb")}))

    def pipe(state=None):
        command = [sys.executable, "-m", "tap_dataverse.tap", "--config", str(tap_config)]
        if state is not None:
            state_path = tmp_path / "state.json"
            state_path.write_text(json.dumps(state))
            command += ["--state", str(state_path)]
        tap = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        target = subprocess.run(
            [TARGET, "--config", str(target_config)], stdin=tap.stdout, capture_output=True, text=True, check=False
        )
        tap.stdout.close()
        assert tap.wait() == 0
        assert target.returncode == 0, target.stderr[-3000:]
        states = [json.loads(line) for line in target.stdout.splitlines() if line.strip()]
        return states[-1]

    return pipe


def _rows(tmp_path):
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        cursor = con.execute(
            "select idem_key, source_system, connection_name, object_type, schema_ref, external_id, "
            "payload::varchar from raw_objects"
        )
        return {r[0]: (*r[1:6], json.loads(r[6])) for r in cursor.fetchall()}


def test_pipe_into_target_lorchestra(app, pipe, tmp_path):
    assert TARGET is not None, "target-lorchestra is not installed in this venv"
    state = pipe()

    rows = _rows(tmp_path)
    assert len(rows) == 120 + 240 + 160
    for object_type, entity_set in ENTITY_SETS.items():
        for record in app.records(entity_set):
            external_id = record[PRIMARY_KEYS[object_type]]
            key = f"dataverse:dataverse-clinic:{object_type}:{external_id}"
            assert rows[key] == ("dataverse", "dataverse-clinic", object_type, None, external_id, record)

    # Incremental: one change, one new row, one hard delete upstream.
    contacts = app.records("contacts")
    changed, deleted = contacts[3]["contactid"], contacts[4]["contactid"]
    updated = app.update("contacts", changed, address1_city="Salem")
    created = app.create("contacts", firstname="Ines", lastname="Okoro", fullname="Ines Okoro")
    app.delete("contacts", deleted)

    pipe(state)

    rows = _rows(tmp_path)
    assert len(rows) == 120 + 240 + 160 + 1
    assert rows[f"dataverse:dataverse-clinic:contact:{changed}"][5] == updated
    assert rows[f"dataverse:dataverse-clinic:contact:{created['contactid']}"][5] == created
    # A row deleted upstream keeps its stored payload.
    assert rows[f"dataverse:dataverse-clinic:contact:{deleted}"][5] == contacts[4]
