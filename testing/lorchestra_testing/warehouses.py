"""The warehouses the behavioural suite runs against."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb


def _parse_payload(row: dict) -> dict:
    if isinstance(row.get("payload"), str):
        row["payload"] = json.loads(row["payload"])
    for key in ("first_seen", "last_seen", "created_at"):
        if isinstance(row.get(key), dt.datetime):
            row[key] = row[key].astimezone(dt.UTC)
    return row


class DuckDBUnderTest:
    kind = "duckdb"

    def __init__(self, tmp_path: Path, *, test_tables: bool = False) -> None:
        self.path = tmp_path / "warehouse.duckdb"
        self.raw_table = "test_raw_objects" if test_tables else "raw_objects"
        self.event_table = "test_event_log" if test_tables else "event_log"
        #: Rows make_merge_fail_on had to add to the table (none here: DuckDB enforces a CHECK).
        self.merge_trap_ids: list[str] = []

    def config(self) -> dict:
        return {
            "warehouse": "duckdb",
            "duckdb_path": str(self.path),
            "raw_objects_table": self.raw_table,
            "event_log_table": self.event_table,
            "lock_timeout_seconds": 2,
        }

    def _query(self, sql: str) -> list[dict]:
        if not self.path.exists():
            return []
        with duckdb.connect(str(self.path), read_only=True) as con:
            cur = con.execute(sql)
            names = [d[0] for d in cur.description]
            return [_parse_payload(dict(zip(names, r, strict=True))) for r in cur.fetchall()]

    def raw_objects(self) -> list[dict]:
        return self._query(f"SELECT * FROM {self.raw_table} ORDER BY idem_key")

    def events(self) -> list[dict]:
        return self._query(f"SELECT * FROM {self.event_table} ORDER BY created_at, event_id")

    def execute(self, sql: str) -> None:
        with duckdb.connect(str(self.path)) as con:
            con.execute(sql.format(raw_objects=self.raw_table, event_log=self.event_table))

    def make_merge_fail_on(self, external_id: str) -> None:
        """Make the warehouse itself reject a MERGE that carries ``external_id`` (a real failure, no mock).

        The table keeps exactly the expected columns (so the target's schema check accepts it), plus a
        CHECK constraint that DuckDB enforces inside the MERGE.
        """
        from target_lorchestra.tables import RAW_OBJECTS, duckdb_ddl

        ddl = duckdb_ddl(RAW_OBJECTS, self.raw_table).rstrip().removesuffix(");")
        ddl += f",\n  CHECK (external_id <> '{external_id}')\n);"
        with duckdb.connect(str(self.path)) as con:
            con.execute(ddl)
