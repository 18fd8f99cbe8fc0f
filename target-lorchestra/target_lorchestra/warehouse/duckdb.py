"""DuckDB back end: the embedded default, one local file.

A batch is registered as an Arrow table (no per-record SQL) and merged with DuckDB's own MERGE inside
one transaction; ``RETURNING merge_action`` gives exact inserted/updated counts. DuckDB allows one
writing process per file: a second run waits up to ``lock_timeout_seconds`` for the lock, then fails
with a clear error, never touching the file.

The file is attached with row groups of ``ROW_GROUP_SIZE`` rows instead of DuckDB's 122,880. DuckDB
writes an insert straight into the database file, compressed, once it fills a row group ("optimistic
writing"); anything smaller is logged uncompressed in the WAL at commit, held in memory, and written a
second time at the next checkpoint, which also rewrites the table's last, partly filled row group. A
batch here is 1,300 (Gmail, 6 KB each) to 10,000 rows: with the default size no batch ever qualifies.
Measured on the 200 MB benchmark: about 20 % less time and 100 MB less peak memory (BENCHMARKS.md).
The size only applies to data written by this connection; the file stays a plain DuckDB database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from target_lorchestra.errors import ConfigError, SchemaMismatchError, WarehouseError
from target_lorchestra.tables import DUCKDB_TYPES, TABLES, TableDef, duckdb_ddl
from target_lorchestra.warehouse import MergeCounts, RawBatch

logger = logging.getLogger("target-lorchestra.duckdb")

ROW_GROUP_SIZE = 8_192

_MERGE = """
MERGE INTO {raw} AS t
USING lorchestra_batch AS s
ON t.idem_key = s.idem_key
WHEN MATCHED AND s.seen_at >= t.last_seen THEN UPDATE SET
    payload = s.payload, schema_ref = $schema_ref, last_seen = s.seen_at
WHEN NOT MATCHED THEN INSERT
    (idem_key, source_system, connection_name, object_type, schema_ref, external_id, payload, first_seen, last_seen)
    VALUES (s.idem_key, $source_system, $connection_name, $object_type, $schema_ref, s.external_id, s.payload,
            s.seen_at, s.seen_at)
RETURNING merge_action
"""


class DuckDBWarehouse:
    """raw_objects and event_log in one DuckDB file."""

    type_names = DUCKDB_TYPES

    def __init__(
        self, path: str, tables: dict[str, str], lock_timeout_seconds: float = 30.0, memory_limit: str | None = None
    ) -> None:
        self.path = path
        self.tables = tables
        self.lock_timeout_seconds = lock_timeout_seconds
        self.memory_limit = memory_limit
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
        # A checkpoint rewrites the table's last, partly filled row group (up to 122,880 rows, hundreds of
        # MB of payloads here): at the default 16 MB of WAL that happens after nearly every batch and the
        # load turns superlinear. 64 MB checkpoints a quarter as often while keeping the not yet
        # checkpointed updates (held in memory) well inside memory_limit.
        self.con.execute("SET checkpoint_threshold = '64MB'")
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
        while True:
            con = duckdb.connect()  # an in-memory catalog, so the file can be attached with its options
            try:
                con.execute(f"ATTACH $path AS lorchestra (ROW_GROUP_SIZE {ROW_GROUP_SIZE})", {"path": str(path)})
                con.execute("USE lorchestra")
                return con
            except duckdb.IOException as exc:
                con.close()
                locked = "lock" in str(exc).lower()
                if locked and time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
                if locked:
                    raise WarehouseError(
                        f"duckdb_path {self.path!r} is locked by another process (waited "
                        f"{self.lock_timeout_seconds:g}s); DuckDB allows one writer at a time"
                    ) from exc
                raise WarehouseError(f"cannot open duckdb_path {self.path!r}: {_first_line(exc)}") from exc
            except BaseException:
                con.close()
                raise

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
        con.register("lorchestra_batch", staged)
        try:
            con.begin()
            actions = con.execute(_MERGE.format(raw=self.tables["raw_objects"]), params).fetchall()
            con.commit()
        except duckdb.Error as exc:
            _rollback(con)
            raise WarehouseError(f"MERGE into {self.tables['raw_objects']} failed: {_first_line(exc)}") from exc
        finally:
            con.unregister("lorchestra_batch")
        counts = _count_actions(actions)
        return MergeCounts(
            rows=len(batch), distinct=staged.num_rows, inserted=counts.get("INSERT", 0), updated=counts.get("UPDATE", 0)
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

    def query(self, sql: str, params: dict | None = None) -> list[dict]:
        """Rows of a read query; ``{raw_objects}`` / ``{event_log}`` in ``sql`` name the configured tables."""
        con = self._require()
        with self._lock:
            cur = con.execute(sql.format(**self.tables), params or {})
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
        return self._require().execute(f"SELECT count(*) FROM {name}").fetchone()[0]

    def _require(self) -> duckdb.DuckDBPyConnection:
        if self.con is None:
            raise WarehouseError("the DuckDB warehouse is not open")
        return self.con


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


def _count_actions(actions: list[tuple[str]]) -> Counter[str]:
    return Counter(action for (action,) in actions)


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.rollback()
    except duckdb.Error:
        logger.debug("rollback after a failed MERGE failed too", exc_info=True)


def _first_line(exc: BaseException) -> str:
    """The first line of a driver error, bounded: DuckDB can quote input values after it."""
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
