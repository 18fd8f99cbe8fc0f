"""tap-google-forms | target-lorchestra: what lands in raw_objects (idem_key, columns, counts)."""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t
from pathlib import Path

import duckdb

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from lorchestra_sandbox.forms import FormsApp

BIN = Path(sys.executable).parent
INTAKE = "google-forms-intake-01"


def _pipe(tap_config: dict, target_config: dict, tmp_path: Path, state: dict | None = None) -> dict | None:
    """Run ``tap | target`` like Meltano does; return the last STATE the target emitted."""
    (tmp_path / "tap.json").write_text(json.dumps(tap_config))
    (tmp_path / "target.json").write_text(json.dumps(target_config))
    tap_args = [BIN / "tap-google-forms", "--config", tmp_path / "tap.json"]
    if state is not None:
        (tmp_path / "state.json").write_text(json.dumps(state))
        tap_args += ["--state", tmp_path / "state.json"]
    with subprocess.Popen(tap_args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as tap:
        target = subprocess.run(
            [BIN / "target-lorchestra", "--config", tmp_path / "target.json"],
            stdin=tap.stdout,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    assert tap.returncode == 0
    assert target.returncode == 0, target.stderr[-2000:]
    states = [json.loads(line) for line in target.stdout.splitlines() if line.strip()]
    return states[-1] if states else None


def _rows(db: Path) -> dict[str, tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT idem_key, source_system, connection_name, object_type, schema_ref, external_id, "
            "CAST(payload AS VARCHAR), first_seen, last_seen FROM raw_objects"
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_pipe_into_target_lorchestra(app: FormsApp, make_config: Callable, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    target_config = {"duckdb_path": str(db)}
    form_id = app.form_id(INTAKE)

    state = _pipe(make_config(), target_config, tmp_path)
    rows = _rows(db)

    responses = app.responses(form_id)
    assert len(rows) == len(responses) + 1 == 151
    form_key = f"google_forms:{INTAKE}:form:{form_id}"
    assert rows[form_key][:5] == ("google_forms", INTAKE, "form", None, form_id)
    assert json.loads(rows[form_key][5]) == app.form(form_id)
    for response in responses:
        key = f"google_forms:{INTAKE}:form_response:{response['responseId']}"
        assert rows[key][:5] == ("google_forms", INTAKE, "form_response", None, response["responseId"])
        assert json.loads(rows[key][5]) == response  # the payload is the API resource, unchanged

    # Second run from the target's STATE: one edit, one new response, one deletion.
    assert state is not None
    edited = app.edit_response(form_id, responses[10]["responseId"])
    new = app.submit_response(form_id)
    app.delete_response(form_id, responses[20]["responseId"])
    _pipe(make_config(), target_config, tmp_path, state=state)
    after = _rows(db)

    assert len(after) == 152  # one new row; the edit updated its row; the deletion erased nothing
    edited_row = after[f"google_forms:{INTAKE}:form_response:{edited['responseId']}"]
    assert json.loads(edited_row[5]) == edited
    assert edited_row[7] > rows[f"google_forms:{INTAKE}:form_response:{edited['responseId']}"][7]  # last_seen
    assert json.loads(after[f"google_forms:{INTAKE}:form_response:{new['responseId']}"][5]) == new
    assert f"google_forms:{INTAKE}:form_response:{responses[20]['responseId']}" in after
