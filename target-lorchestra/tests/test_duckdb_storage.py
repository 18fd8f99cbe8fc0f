"""DuckDB storage choices that carry the speed and memory goals (BENCHMARKS.md), proven on real files."""

from __future__ import annotations

import sys

import duckdb
import pytest
from target_lorchestra.provenance import Provenance
from target_lorchestra.warehouse import RawBatch
from target_lorchestra.warehouse.duckdb import ROW_GROUP_SIZE, DuckDBWarehouse
from target_lorchestra.writer import SWITCH_INTERVAL, BatchWriter

TABLES = {"raw_objects": "raw_objects", "event_log": "event_log"}
PROV = Provenance("gmail", "gmail-acct1", "email", "iglu:com.mensio.raw/raw_gmail_email/jsonschema/1-0-0")
T0 = 1_790_000_000_000_000  # microseconds since the epoch


def batch(first: int, count: int, *, version: int, seen_at_us: int, body_bytes: int = 100) -> RawBatch:
    out = RawBatch(PROV)
    body = "x" * body_bytes
    for i in range(first, first + count):
        payload = f'{{"id":"m{i}","version":{version},"body":"{body}{i}"}}'.encode()
        out.append(PROV.idem_key(f"m{i}"), f"m{i}", payload, seen_at_us)
    return out


def test_updates_do_not_pile_up_in_memory(tmp_path):
    """An all-updates pass of 48 MB completes inside a 128 MB DuckDB memory limit, keeping first_seen.

    Updated strings held in memory until a checkpoint (DuckDB's MERGE ... UPDATE) need about three times
    their size; delete + insert writes them like inserts.
    """
    path = str(tmp_path / "wh.duckdb")
    wh = DuckDBWarehouse(path, TABLES, memory_limit="128MB")
    wh.open()
    try:
        for start in range(0, 12_000, 3_000):
            counts = wh.merge(batch(start, 3_000, version=1, seen_at_us=T0, body_bytes=4_000))
            assert (counts.inserted, counts.updated) == (3_000, 0)
        for start in range(0, 12_000, 3_000):
            counts = wh.merge(batch(start, 3_000, version=2, seen_at_us=T0 + 1, body_bytes=4_000))
            assert (counts.inserted, counts.updated) == (0, 3_000)
        [found] = wh.query(
            "SELECT count(*) AS rows, count(DISTINCT idem_key) AS keys, "
            "count(*) FILTER (WHERE payload->>'version' = '2') AS updated, "
            "count(*) FILTER (WHERE first_seen < last_seen) AS kept_first_seen FROM {raw_objects}"
        )
        assert found == {"rows": 12_000, "keys": 12_000, "updated": 12_000, "kept_first_seen": 12_000}
    finally:
        wh.close()


def test_a_batch_of_a_row_group_is_written_to_the_file_not_the_wal(tmp_path):
    """Batches of at least ROW_GROUP_SIZE rows skip the WAL: their data is written once, compressed."""
    path = tmp_path / "wh.duckdb"
    wh = DuckDBWarehouse(str(path), TABLES)
    wh.open()
    try:
        wh.con.execute("SET checkpoint_threshold = '10GB'")  # nothing may be moved out of the WAL by a checkpoint
        wh.merge(batch(0, ROW_GROUP_SIZE + 100, version=1, seen_at_us=T0, body_bytes=2_000))
        wal = path.with_name(path.name + ".wal")
        payload_bytes = (ROW_GROUP_SIZE + 100) * 2_000
        assert not wal.exists() or wal.stat().st_size < payload_bytes / 10
    finally:
        wh.close()
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw_objects").fetchall() == [(ROW_GROUP_SIZE + 100,)]


def test_the_file_stays_a_plain_duckdb_database(tmp_path):
    """Attached with its own row-group size, the file opens in any DuckDB client with the rows written."""
    path = str(tmp_path / "wh.duckdb")
    wh = DuckDBWarehouse(path, TABLES)
    wh.open()
    wh.merge(batch(0, 10, version=1, seen_at_us=T0))
    wh.close()
    with duckdb.connect(path, read_only=True) as con:
        assert con.execute("SELECT count(*), min(first_seen) = max(last_seen) FROM raw_objects").fetchall() == [
            (10, True)
        ]


def test_writer_shortens_the_switch_interval_only_while_it_runs():
    before = sys.getswitchinterval()
    writer = BatchWriter()
    seen: list[float] = []
    writer.submit(lambda: seen.append(sys.getswitchinterval()))
    writer.wait()
    assert seen == [pytest.approx(min(SWITCH_INTERVAL, before))]
    writer.close()
    assert sys.getswitchinterval() == pytest.approx(before)
