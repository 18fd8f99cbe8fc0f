"""``lorchestra migrate``: old-shape tables are archived whole, then recreated from ddl/."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
from lorchestra_testing.target import run_target

LORCHESTRA = str(Path(sys.executable).parent / "lorchestra")

OLD_RAW = [
    (
        "google-forms--intake-01:form_response:ACYDBNi84NuJUO2O13A",
        "google-forms--intake-01",
        "form_response",
        "ACYDBNi84NuJUO2O13A",
        '{"responseId": "ACYDBNi84NuJUO2O13A"}',
    ),
    ("gmail--acct1:email:18c5a7b2e3f4d5c6", "gmail--acct1", "email", "18c5a7b2e3f4d5c6", '{"id": "18c5a7b2e3f4d5c6"}'),
]


def make_old_shape_warehouse(path: Path, prefix: str = "") -> None:
    """The pre-spec shape: conflated source_system, object_type and idem_key on events."""
    with duckdb.connect(str(path)) as con:
        con.execute(f"""CREATE TABLE {prefix}raw_objects (idem_key VARCHAR NOT NULL, source_system VARCHAR NOT NULL,
            object_type VARCHAR NOT NULL, external_id VARCHAR, payload JSON NOT NULL,
            first_seen TIMESTAMPTZ NOT NULL, last_seen TIMESTAMPTZ NOT NULL)""")
        for row in OLD_RAW:
            con.execute(
                f"INSERT INTO {prefix}raw_objects VALUES (?, ?, ?, ?, ?, TIMESTAMPTZ '2024-01-01 00:00:00+00', "
                "TIMESTAMPTZ '2024-02-01 00:00:00+00')",
                list(row),
            )
        con.execute(f"""CREATE TABLE {prefix}event_log (event_id VARCHAR NOT NULL, event_type VARCHAR NOT NULL,
            source_system VARCHAR, object_type VARCHAR, idem_key VARCHAR, correlation_id VARCHAR,
            created_at TIMESTAMPTZ NOT NULL, status VARCHAR NOT NULL, error_message VARCHAR, payload JSON)""")
        con.execute(
            f"INSERT INTO {prefix}event_log VALUES ('e1', 'ingestion.completed', 'google-forms--intake-01', "
            "'form_response', 'google-forms--intake-01:form_response:x', 'c1', now(), 'success', NULL, "
            "'{\"records\": 1}')"
        )


def migrate(path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LORCHESTRA, "migrate", "--duckdb-path", str(path), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def snapshot(path: Path, table: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=str)


def test_dry_run_changes_nothing(tmp_path):
    path = tmp_path / "wh.duckdb"
    make_old_shape_warehouse(path)
    before = snapshot(path, "raw_objects")
    result = migrate(path)
    assert result.returncode == 0, result.stderr
    assert "DRY RUN" in result.stdout
    assert "archive raw_objects -> raw_objects_legacy (2 rows" in result.stdout
    assert "connection_name  -" in result.stdout  # before/after comparison names the new column
    assert snapshot(path, "raw_objects") == before
    with duckdb.connect(str(path), read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert tables == {"raw_objects", "event_log"}


def test_migrate_archives_everything_then_recreates_and_target_loads(tmp_path):
    path = tmp_path / "wh.duckdb"
    make_old_shape_warehouse(path)
    make_old_shape_warehouse(path, prefix="test_")
    old_raw = snapshot(path, "raw_objects")
    old_events = snapshot(path, "event_log")

    result = migrate(path, "--yes")
    assert result.returncode == 0, result.stderr
    assert "MIGRATED" in result.stdout

    # Nothing lost: the archives hold the old rows exactly, for production and test tables.
    assert snapshot(path, "raw_objects_legacy") == old_raw
    assert snapshot(path, "event_log_legacy") == old_events
    assert snapshot(path, "test_raw_objects_legacy") == old_raw
    assert snapshot(path, "raw_objects") == []
    with duckdb.connect(str(path), read_only=True) as con:
        cols = [
            r[0]
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE "
                "table_name = 'event_log' ORDER BY ordinal_position"
            ).fetchall()
        ]
    assert "idem_key" not in cols
    assert "target_object_type" in cols

    # The recreated tables are exactly what the target expects: it loads into them.
    class Wh:
        def config(self):
            return {"duckdb_path": str(path)}

    assert run_target(Wh(), "emails_initial.singer", tmp_path=tmp_path).returncode == 0
    assert len(snapshot(path, "raw_objects")) == 3


def test_existing_archive_is_never_overwritten_without_being_told(tmp_path):
    path = tmp_path / "wh.duckdb"
    make_old_shape_warehouse(path)
    assert migrate(path, "--yes").returncode == 0
    archived = snapshot(path, "raw_objects_legacy")

    again = migrate(path, "--yes")
    assert again.returncode == 1
    assert "raw_objects_legacy" in again.stderr
    assert "--replace-legacy" in again.stderr
    assert snapshot(path, "raw_objects_legacy") == archived

    forced = migrate(path, "--yes", "--replace-legacy")
    assert forced.returncode == 0, forced.stderr


def test_migrate_only_test_tables(tmp_path):
    path = tmp_path / "wh.duckdb"
    make_old_shape_warehouse(path)
    make_old_shape_warehouse(path, prefix="test_")
    assert migrate(path, "--yes", "--tables=test").returncode == 0
    assert snapshot(path, "test_raw_objects") == []
    assert len(snapshot(path, "raw_objects")) == 2  # production untouched
    assert json.loads(snapshot(path, "test_raw_objects_legacy")[0][4])  # payload kept as JSON
