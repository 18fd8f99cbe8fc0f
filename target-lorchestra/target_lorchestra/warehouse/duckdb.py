"""DuckDB back end: the embedded default, one local file.

A batch is registered as an Arrow table (no per-record SQL) and applied in one transaction by three
set-based statements: find the stored rows of its keys (one join), delete those it replaces, insert the
new keys and the replacements (which keep their first_seen). The statements' row counts are the exact
inserted/updated counts. DuckDB allows one writing process per file: a second run waits up
to ``lock_timeout_seconds`` for the lock, then fails with a clear error, never touching the file.

Why delete + insert rather than DuckDB's MERGE ... UPDATE (which BigQuery uses): DuckDB keeps updated
strings in memory, about three times their size, until the next checkpoint, and the checkpoint then
rewrites every row group they touched. On the 200 MB all-updates pass that held 110 MB of DuckDB memory
between batches and ran out of the 256 MB limit in some runs; delete + insert writes updates the way it
writes inserts, peaks at 75 MB, and is faster (BENCHMARKS.md).

The file is attached with row groups of ``ROW_GROUP_SIZE`` rows instead of DuckDB's 122,880. An insert
that fills a row group is written straight into the database file, compressed ("optimistic writing");
a smaller one is logged uncompressed in the WAL, held in memory, and written a second time at the next
checkpoint. A batch here is 1,300 (Gmail, 6 KB each) to 10,000 rows, so with the default size none
qualified. The size only applies to data this connection writes; the file stays a plain DuckDB database.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import typing as t
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from target_lorchestra.errors import ConfigError, SchemaMismatchError, WarehouseError
from target_lorchestra.tables import DUCKDB_TYPES, TABLES, TableDef, duckdb_ddl
from target_lorchestra.warehouse import MergeCounts, RawBatch, with_tables

logger = logging.getLogger("target-lorchestra.duckdb")

ROW_GROUP_SIZE = 4_096

# A batch is three statements in one transaction (the module docstring says why not MERGE ... UPDATE).
# 1. The stored rows of the batch's keys, each with the first_seen it keeps and whether the batch replaces
#    it (its extraction is not older), is an older replay, or (with last_seen_refresh_hours) an unchanged
#    copy; neither of the last two changes anything.
_FIND_STORED = """
CREATE OR REPLACE TEMP TABLE lorchestra_stored AS
SELECT idem_key, first_seen, newer AND NOT unchanged AS replaced, newer AND unchanged AS unchanged
FROM (
  SELECT t.idem_key, t.first_seen, s.seen_at >= t.last_seen AS newer, {unchanged} AS unchanged
  FROM {raw} AS t JOIN lorchestra_batch AS s ON t.idem_key = s.idem_key
)
"""
# Same payload text and schema_ref, and a stored last_seen at most $last_seen_refresh_us older. The text is
# compared as stored (DuckDB keeps JSON as sent): a copy whose text differs at all is written, the safe side.
_UNCHANGED = """(t.last_seen >= s.seen_at - to_microseconds($last_seen_refresh_us)
    AND t.payload = s.payload AND t.schema_ref IS NOT DISTINCT FROM $schema_ref)"""
# 2. The replaced rows go.
_DELETE_REPLACED = "DELETE FROM {raw} WHERE idem_key IN (SELECT idem_key FROM lorchestra_stored WHERE replaced)"
# 3. New keys and replacements come in; a replacement keeps its first_seen.
_INSERT = """
INSERT INTO {raw}
    (idem_key, source_system, connection_name, object_type, schema_ref, external_id, payload, first_seen, last_seen)
SELECT s.idem_key, $source_system, $connection_name, $object_type, $schema_ref, s.external_id, s.payload,
       coalesce(r.first_seen, s.seen_at), s.seen_at
FROM lorchestra_batch AS s LEFT JOIN lorchestra_stored AS r ON r.idem_key = s.idem_key
WHERE r.idem_key IS NULL OR r.replaced
"""


class DuckDBWarehouse:
    """raw_objects and event_log in one DuckDB file."""

    type_names = DUCKDB_TYPES

    def __init__(
        self,
        path: str,
        tables: dict[str, str],
        lock_timeout_seconds: float = 30.0,
        memory_limit: str | None = None,
        last_seen_refresh_us: int = 0,
    ) -> None:
        self.path = path
        self.tables = tables
        self.lock_timeout_seconds = lock_timeout_seconds
        self.memory_limit = memory_limit
        self.last_seen_refresh_us = last_seen_refresh_us
        self.con: duckdb.DuckDBPyConnection | None = None
        # The SDK drains sinks on worker threads; one DuckDB connection takes one call at a time.
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------

    def open(self) -> None:
        self.connect()
        try:
            for kind, name in self.tables.items():
                ensure_table(self._require(), TABLES[kind], name)
        except BaseException:
            self.close()  # a refused table leaves the file free for whoever repairs it
            raise

    def connect(self) -> None:
        self.con = self._connect()
        # Raw JSON payloads compress well with zstd, which DuckDB applies at streaming speed. Left to
        # choose per segment, DuckDB 2 tries its dictionary+FSST encoding first, which costs about five
        # times the rest of the load and gives a larger file (measured in BENCHMARKS.md).
        self.con.execute("SET force_compression = 'zstd'")
        # What still goes through the WAL (batches smaller than a row group) is checkpointed every 32 MB
        # rather than every 16: half as many checkpoints, each rewriting only the last small row group.
        self.con.execute("SET checkpoint_threshold = '32MB'")
        if self.memory_limit:
            # DuckDB's default (80% of RAM) lets its cache of table blocks grow with every run's data.
            try:
                self.con.execute("SET memory_limit = $limit", {"limit": self.memory_limit})
            except duckdb.Error as exc:
                raise ConfigError(
                    f"duckdb_memory_limit must be a size like '256MB', got {self.memory_limit!r}"
                ) from exc

    def close(self) -> None:
        with self._lock:
            if self.con is not None:
                self.con.close()
                self.con = None

    def _connect(self) -> duckdb.DuckDBPyConnection:
        path = Path(self.path)
        if str(path) != ":memory:":
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WarehouseError(
                    f"cannot create the directory of duckdb_path {self.path!r}: {exc.strerror}"
                ) from exc
        deadline = time.monotonic() + self.lock_timeout_seconds
        waiting = False
        while True:
            con = duckdb.connect()  # an in-memory catalog, so the file can be attached with its options
            try:
                con.execute(f"ATTACH $path AS lorchestra (ROW_GROUP_SIZE {ROW_GROUP_SIZE})", {"path": str(path)})
                con.execute("USE lorchestra")
                return con
            except BaseException as exc:
                con.close()
                if not isinstance(exc, duckdb.IOException):
                    raise
                locked = "lock" in str(exc).lower()
                if locked and time.monotonic() < deadline:
                    if not waiting:  # said once, so a run that seems stuck says why
                        waiting = True
                        logger.info(
                            "duckdb_path %r is locked by another process; waiting up to %gs for it",
                            self.path,
                            self.lock_timeout_seconds,
                        )
                    time.sleep(0.5)
                    continue
                if locked:
                    raise WarehouseError(
                        f"duckdb_path {self.path!r} is locked by another process (waited "
                        f"{self.lock_timeout_seconds:g}s); DuckDB allows one writer at a time"
                    ) from exc
                raise WarehouseError(f"cannot open duckdb_path {self.path!r}: {_first_line(exc)}") from exc

    # -- writes ---------------------------------------------------------------------------------

    def merge(self, batch: RawBatch) -> MergeCounts:
        con = self._require()
        staged = batch.to_arrow()
        newest = batch.newest_per_key()  # one row per idem_key: the MERGE must not see a key twice
        if newest is not None:
            staged = staged.take(newest)
        # Typed as Arrow's JSON extension, the payloads arrive as DuckDB JSON without being parsed again:
        # every payload is valid JSON already (msgspec checked the fast path's bytes, orjson wrote the rest).
        payload = staged.column("payload").combine_chunks()
        staged = staged.set_column(
            staged.schema.get_field_index("payload"),
            pa.field("payload", pa.json_(pa.string()), nullable=False),
            pa.ExtensionArray.from_storage(pa.json_(pa.string()), payload),
        )
        prov = batch.provenance
        params = {
            "source_system": prov.source_system,
            "connection_name": prov.connection_name,
            "object_type": prov.object_type,
            "schema_ref": prov.schema_ref,
        }
        with self._lock:
            return self._merge_locked(con, batch, staged, params)

    def _merge_locked(
        self, con: duckdb.DuckDBPyConnection, batch: RawBatch, staged: pa.Table, params: dict
    ) -> MergeCounts:
        raw = self.tables["raw_objects"]
        con.register("lorchestra_batch", staged)
        try:
            con.begin()
            if self.last_seen_refresh_us > 0:
                find = {"last_seen_refresh_us": self.last_seen_refresh_us, "schema_ref": params["schema_ref"]}
                con.execute(_FIND_STORED.format(raw=raw, unchanged=_UNCHANGED), find)
            else:
                con.execute(_FIND_STORED.format(raw=raw, unchanged="FALSE"))
            [(replaced,)] = con.execute(_DELETE_REPLACED.format(raw=raw)).fetchall()
            [(written,)] = con.execute(_INSERT.format(raw=raw), params).fetchall()
            [(unchanged,)] = con.execute("SELECT count(*) FROM lorchestra_stored WHERE unchanged").fetchall()
            con.execute("DROP TABLE lorchestra_stored")
            con.commit()
        except duckdb.Error as exc:
            _rollback(con)
            raise WarehouseError(f"MERGE into {raw} failed: {_first_line(exc)}") from exc
        finally:
            con.unregister("lorchestra_batch")
        return MergeCounts(
            rows=len(batch),
            distinct=staged.num_rows,
            inserted=written - replaced,
            updated=replaced,
            unchanged=unchanged,
        )

    def append_events(self, rows: list[dict]) -> None:
        con = self._require()
        table = pa.Table.from_pylist(
            [{**r, "payload": None if r["payload"] is None else orjson.dumps(r["payload"]).decode()} for r in rows]
        )
        columns = ", ".join(TABLES["event_log"].column_names)
        with self._lock:
            con.register("lorchestra_events", table)
            try:
                con.execute(
                    f"INSERT INTO {self.tables['event_log']} ({columns}) SELECT {columns} FROM lorchestra_events"
                )
            finally:
                con.unregister("lorchestra_events")

    def query(self, sql: str, params: t.Mapping[str, t.Any] | None = None) -> list[dict]:
        """Rows of a read query; ``{raw_objects}`` / ``{event_log}`` name the tables, ``@name`` the params."""
        text, used = duckdb_parameters(with_tables(sql, self.tables))
        given = params or {}
        # Strict both ways: BigQuery's reference is silent on values the SQL does not use, so none are sent.
        if used != given.keys():
            raise WarehouseError(f"query parameters: the SQL uses {sorted(used)}, the values given are {sorted(given)}")
        con = self._require()
        with self._lock:
            cur = con.execute(text, dict(given))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    # -- administration (lorchestra migrate) ---------------------------------------------------

    def describe(self, name: str) -> list[tuple[str, str, str]] | None:
        return _describe(self._require(), name) or None

    def copy_table(self, source: str, destination: str) -> int:
        con = self._require()
        con.execute(f"CREATE TABLE {destination} AS SELECT * FROM {source}")
        return self.row_count(destination)

    def drop_table(self, name: str) -> None:
        self._require().execute(f"DROP TABLE {name}")

    def create_table(self, kind: str, name: str) -> None:
        self._require().execute(duckdb_ddl(TABLES[kind], name))

    def row_count(self, name: str) -> int:
        return self._require().execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]

    def _require(self) -> duckdb.DuckDBPyConnection:
        if self.con is None:
            raise WarehouseError("the DuckDB warehouse is not open")
        return self.con


# The warehouse layer's parameters are BigQuery's ``@name``; DuckDB's own named form is ``$name``. A ``@``
# inside a string literal, a quoted identifier or a comment is text, so those are matched first and kept.
_SQL_TOKENS = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|@([A-Za-z_][A-Za-z0-9_]*)""", re.DOTALL)


def duckdb_parameters(sql: str) -> tuple[str, set[str]]:
    """``sql`` with each ``@name`` parameter written as DuckDB's ``$name``, and the names it uses."""
    names: set[str] = set()

    def rewrite(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return match.group(0)
        names.add(match.group(1))
        return "$" + match.group(1)

    return _SQL_TOKENS.sub(rewrite, sql), names


def ensure_table(con: duckdb.DuckDBPyConnection, table: TableDef, name: str) -> None:
    """Create ``name`` from its definition if missing; refuse it if its columns differ."""
    found = _describe(con, name)
    if not found:
        con.execute(duckdb_ddl(table, name))
        return
    expected = [(c.name, DUCKDB_TYPES[c.type], "YES" if c.nullable else "NO") for c in table.columns]
    differences = describe_differences(expected, found)
    if differences:
        raise SchemaMismatchError(
            f"table {name!r} exists with a different schema: {'; '.join(differences)}. "
            "Nothing was changed; migrate it with `lorchestra migrate` or point the target at another table."
        )


def _describe(con: duckdb.DuckDBPyConnection, name: str) -> list[tuple[str, str, str]]:
    return con.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = ? AND table_catalog = current_database() AND table_schema = current_schema() "
        "ORDER BY ordinal_position",
        [name],
    ).fetchall()


def describe_differences(expected: list[tuple], found: list[tuple]) -> list[str]:
    """Human-readable differences between (name, type, nullable) column lists."""
    want = {c[0]: c for c in expected}
    have = {c[0]: c for c in found}
    out = [f"missing column {n} {want[n][1]}" for n in want if n not in have]
    out += [f"unexpected column {n} {have[n][1]}" for n in have if n not in want]
    for n in want.keys() & have.keys():
        if want[n][1] != have[n][1]:
            out.append(f"column {n} is {have[n][1]}, expected {want[n][1]}")
        if want[n][2] != have[n][2]:
            nullable = "nullable" if have[n][2] == "YES" else "NOT NULL"
            out.append(f"column {n} is {nullable}, expected {'nullable' if want[n][2] == 'YES' else 'NOT NULL'}")
    return sorted(out)


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.rollback()
    except duckdb.Error:
        logger.debug("rollback after a failed MERGE failed too", exc_info=True)


def _first_line(exc: BaseException) -> str:
    """The first line of a driver error, bounded: DuckDB can quote input values after it."""
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
