"""ddl/ is rendered from tables.py: one source of truth, and the tables the target creates match it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from target_lorchestra.errors import SchemaMismatchError
from target_lorchestra.tables import TABLE_SETS, render_ddl_files
from target_lorchestra.warehouse.duckdb import DuckDBWarehouse

DDL_DIR = Path(__file__).parents[2] / "ddl"


@pytest.mark.parametrize("relative", sorted(render_ddl_files()))
def test_ddl_file_matches_table_definitions(relative):
    assert (DDL_DIR / relative).read_text() == render_ddl_files()[relative], "run `lorchestra ddl`"


def test_bigquery_ddl_has_the_spec_clauses():
    raw = (DDL_DIR / "bigquery/raw_objects.sql").read_text()
    events = (DDL_DIR / "bigquery/event_log.sql").read_text()
    assert "payload         JSON NOT NULL" in raw
    assert "CLUSTER BY source_system, connection_name, object_type;" in raw
    assert "PARTITION BY DATE(created_at)\nCLUSTER BY source_system, event_type;" in events
    assert (
        (DDL_DIR / "bigquery/test_raw_objects.sql")
        .read_text()
        .startswith("CREATE TABLE IF NOT EXISTS test_raw_objects (")
    )


@pytest.mark.parametrize("table_set", sorted(TABLE_SETS))
def test_duckdb_ddl_files_create_what_the_target_expects(tmp_path, table_set):
    """Tables made by running the committed DDL files pass the target's own schema check."""
    path = tmp_path / "wh.duckdb"
    tables = TABLE_SETS[table_set]
    with duckdb.connect(str(path)) as con:
        for name in tables.values():
            con.execute((DDL_DIR / f"duckdb/{name}.sql").read_text())
    warehouse = DuckDBWarehouse(str(path), tables)
    warehouse.open()  # raises SchemaMismatchError on any difference
    warehouse.close()


def test_existing_table_with_other_columns_is_refused_not_altered(tmp_path):
    path = tmp_path / "wh.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE raw_objects (idem_key VARCHAR NOT NULL, source_system VARCHAR, object_type VARCHAR, "
            "payload VARCHAR NOT NULL, first_seen TIMESTAMPTZ NOT NULL, last_seen TIMESTAMPTZ NOT NULL, "
            "legacy_flag BOOLEAN)"
        )
    warehouse = DuckDBWarehouse(str(path), TABLE_SETS["production"])
    with pytest.raises(SchemaMismatchError) as err:
        warehouse.open()
    message = str(err.value)
    for fragment in (
        "missing column connection_name VARCHAR",
        "missing column schema_ref VARCHAR",
        "missing column external_id VARCHAR",
        "unexpected column legacy_flag BOOLEAN",
        "column payload is VARCHAR, expected JSON",
        "column source_system is nullable, expected NOT NULL",
    ):
        assert fragment in message
    with duckdb.connect(str(path)) as con:  # untouched
        cols = [
            r[0]
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'raw_objects'"
            ).fetchall()
        ]
    assert "legacy_flag" in cols
    assert "connection_name" not in cols
