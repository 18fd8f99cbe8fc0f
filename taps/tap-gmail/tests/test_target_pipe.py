"""tap-gmail | target-lorchestra: what lands in raw_objects."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
from lorchestra_testing.taps import executable
from tap_gmail.tap import TapGmail

TARGET_EXE = Path(sys.executable).with_name("target-lorchestra")


def pipe(config: dict, tmp_path: Path, warehouse: Path, state: dict | None = None) -> dict | None:
    """Run ``tap-gmail | target-lorchestra``; returns the last STATE the target emitted."""
    (tmp_path / "tap.json").write_text(json.dumps(config))
    (tmp_path / "target.json").write_text(json.dumps({"duckdb_path": str(warehouse)}))
    tap_args = [executable(TapGmail), "--config", str(tmp_path / "tap.json")]
    if state is not None:
        (tmp_path / "state.json").write_text(json.dumps(state))
        tap_args += ["--state", str(tmp_path / "state.json")]
    tap = subprocess.Popen(tap_args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    target = subprocess.run(
        [str(TARGET_EXE), "--config", str(tmp_path / "target.json")],
        stdin=tap.stdout,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert tap.stdout is not None
    tap.stdout.close()
    assert tap.wait(timeout=60) == 0
    assert target.returncode == 0, target.stderr[-2000:]
    states = [json.loads(line) for line in target.stdout.splitlines() if line.strip()]
    return states[-1] if states else None


def test_pipe_into_target_lorchestra(tmp_path, make_config, app):
    warehouse = tmp_path / "wh.duckdb"
    config = make_config("gmail-acct1")
    state = pipe(config, tmp_path, warehouse)

    expected = app.resources("gmail-acct1")
    with duckdb.connect(str(warehouse), read_only=True) as db:
        rows = db.execute(
            "SELECT idem_key, source_system, connection_name, object_type, schema_ref, external_id, "
            "CAST(payload AS VARCHAR) FROM raw_objects"
        ).fetchall()
    assert len(rows) == len(expected) == 166
    for idem_key, source_system, connection_name, object_type, schema_ref, external_id, payload in rows:
        assert idem_key == f"gmail:gmail-acct1:email:{external_id}"
        assert (source_system, connection_name, object_type, schema_ref) == ("gmail", "gmail-acct1", "email", None)
        assert json.loads(payload) == expected[external_id]  # the API resource, unchanged
    assert state is not None
    assert state["bookmarks"]["email"]["history_id"] == str(app.mailbox("gmail-acct1").history_id)

    # incremental run: one changed message and one new one; the deleted one keeps its stored payload
    ids = sorted(expected)
    app.modify_labels("gmail-acct1", ids[0], add=["Label_9"])
    new_id = app.add_message("gmail-acct1", "New appointment request", "Do you have Friday slots?")
    app.delete_message("gmail-acct1", ids[1])
    pipe(config, tmp_path, warehouse, state=state)

    with duckdb.connect(str(warehouse), read_only=True) as db:
        count = db.execute("SELECT count(*) FROM raw_objects WHERE connection_name = 'gmail-acct1'").fetchone()
        changed = db.execute(
            "SELECT CAST(payload AS VARCHAR), first_seen < last_seen FROM raw_objects WHERE external_id = ?",
            [ids[0]],
        ).fetchone()
        deleted = db.execute("SELECT count(*) FROM raw_objects WHERE external_id = ?", [ids[1]]).fetchone()
        added = db.execute("SELECT count(*) FROM raw_objects WHERE external_id = ?", [new_id]).fetchone()
    assert count == (167,)
    assert changed is not None
    assert "Label_9" in json.loads(changed[0])["labelIds"]
    assert changed[1] is True
    assert deleted == (1,)
    assert added == (1,)
