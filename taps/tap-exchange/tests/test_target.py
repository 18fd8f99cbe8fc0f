"""tap-exchange | target-lorchestra: what lands in ``raw_objects``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb

TARGET = Path(sys.executable).with_name("target-lorchestra")
MAILBOX = "ben@mensio.example"
PREFIX = "exchange:exchange-ben-mensio:email:"


def pipe(tmp_path: Path, config: dict, state: dict | None, run: int) -> dict | None:
    """Run ``tap-exchange | target-lorchestra`` as Meltano would; returns the target's last STATE."""
    tap_config = tmp_path / "tap.json"
    tap_config.write_text(json.dumps(config))
    target_config = tmp_path / "target.json"
    target_config.write_text(json.dumps({"duckdb_path": str(tmp_path / "wh.duckdb")}))
    tap_cmd = [sys.executable, "-m", "tap_exchange.tap", "--config", str(tap_config)]
    if state is not None:
        state_file = tmp_path / f"state-{run}.json"
        state_file.write_text(json.dumps(state))
        tap_cmd += ["--state", str(state_file)]
    tap = subprocess.Popen(tap_cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    target = subprocess.run(
        [str(TARGET), "--config", str(target_config)],
        stdin=tap.stdout,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    tap.stdout.close()
    assert tap.wait(timeout=60) == 0
    assert target.returncode == 0, target.stderr[-2000:]
    lines = [line for line in target.stdout.splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else None


def rows(tmp_path: Path) -> dict[str, dict]:
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        cursor = con.execute(
            "SELECT idem_key, source_system, connection_name, object_type, schema_ref, external_id, "
            "CAST(payload AS VARCHAR) FROM raw_objects"
        )
        names = [d[0] for d in cursor.description]
        return {r[0]: dict(zip(names, r, strict=True)) for r in cursor.fetchall()}


def test_backfill_then_incremental_lands_in_raw_objects(app, make_config, expected, tmp_path):
    config = make_config(schema_ref=None, page_size=40)
    state = pipe(tmp_path, config, None, 1)

    landed = rows(tmp_path)
    want = expected()
    assert len(landed) == 90
    assert set(landed) == {PREFIX + i for i in want}
    for key, row in landed.items():
        external_id = key.removeprefix(PREFIX)
        assert row["source_system"] == "exchange"
        assert row["connection_name"] == "exchange-ben-mensio"
        assert row["object_type"] == "email"
        assert row["schema_ref"] is None
        assert row["external_id"] == external_id
        assert json.loads(row["CAST(payload AS VARCHAR)"]) == want[external_id]  # the Graph resource

    assert len(state["bookmarks"]["email"]["partitions"]) == 11  # the target passed the tap's STATE on
    inbox = app.messages(MAILBOX, ["inbox"])
    added = app.add_message(MAILBOX, "inbox")
    app.move_message(MAILBOX, inbox[0]["id"], "archive")
    app.delete_message(MAILBOX, inbox[1]["id"])
    app.requests.clear()
    pipe(tmp_path, config, state, 2)
    deltas = [c for c in app.api_calls() if c.path.endswith("/messages/delta")]
    assert deltas
    assert all("$deltatoken" in c.query for c in deltas)  # the second run asked only for changes

    landed = rows(tmp_path)
    assert len(landed) == 91  # one new message; the moved one is not a second row
    moved = json.loads(landed[PREFIX + inbox[0]["id"]]["CAST(payload AS VARCHAR)"])
    assert moved["parentFolderId"] == app.folder_ids(MAILBOX)["Archive"]
    deleted = json.loads(landed[PREFIX + inbox[1]["id"]]["CAST(payload AS VARCHAR)"])
    assert deleted == inbox[1]  # a deletion upstream never erases the stored payload
    assert PREFIX + added in landed
