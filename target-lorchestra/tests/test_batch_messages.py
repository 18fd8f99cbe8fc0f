"""BATCH messages: a real singer-sdk tap from PyPI (tap-jsonl) in batch mode lands what its RECORD mode lands.

The tap runs from its own virtualenv (created once per machine in pytest's cache, from PyPI), never mocked:
its BATCH messages, manifests and files are exactly what a third-party tap sends through ``meltano run``.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from lorchestra_testing.target import run_target, singer
from lorchestra_testing.warehouses import DuckDBUnderTest

TAP_JSONL = "tap-jsonl==0.3.1"
PEOPLE = [
    {"id": 1, "name": "Ada", "tags": ["a", "b"], "address": {"city": "Basel", "zip": "4051"}},
    {"id": 2, "name": "b:c", "tags": [], "address": {"city": "Bern", "zip": "3011"}},
    {"id": 3, "name": "Zoë", "tags": ["c"], "address": {"city": "Chur", "zip": "7000"}},
]


@pytest.fixture(scope="session")
def tap_jsonl(request: pytest.FixtureRequest) -> Path:
    """The tap-jsonl executable, installed from PyPI into its own venv (kept in pytest's cache)."""
    venv = Path(request.config.cache.mkdir("tap-jsonl-0.3.1-venv"))
    exe = venv / "bin" / "tap-jsonl"
    if not exe.exists():
        uv = [sys.executable, "-m", "uv"] if _has_uv(sys.executable) else ["python3", "-m", "uv"]
        subprocess.run([*uv, "venv", "--quiet", "--python", "3.11", str(venv)], check=True)
        # pyarrow: the tap's Parquet batch encoder needs it (singer-sdk's parquet extra).
        subprocess.run(
            [*uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), TAP_JSONL, "pyarrow"],
            check=True,
        )
    return exe


def _has_uv(python: str) -> bool:
    return subprocess.run([python, "-m", "uv", "--version"], capture_output=True, check=False).returncode == 0


def _run_tap(tap: Path, tmp_path: Path, batch: dict | None) -> str:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    if not (data / "people.jsonl").exists():  # once: the tap adds the file's mtime to each record
        (data / "people.jsonl").write_text("".join(json.dumps(p) + "\n" for p in PEOPLE))
    config = {"path": str(data / "*.jsonl"), "stream_name": "people", "primary_keys": ["id"]}
    if batch:
        out = tmp_path / "batches"
        out.mkdir(exist_ok=True)
        config["batch_config"] = {"encoding": batch, "storage": {"root": out.as_uri(), "prefix": "b-"}}
    config_file = tmp_path / f"tap-{'batch' if batch else 'records'}.json"
    config_file.write_text(json.dumps(config))
    proc = subprocess.run([str(tap), "--config", str(config_file)], capture_output=True, text=True, check=True)
    return proc.stdout


PROVENANCE = {"source_system": "jsonl_files", "connection_name": "people-files"}


def _landed(wh: DuckDBUnderTest) -> tuple[list, dict]:
    rows = [(r["idem_key"], r["external_id"], r["payload"]) for r in wh.raw_objects()]
    upserts = [e["payload"] for e in wh.events() if e["event_type"] == "upsert.completed"]
    counts = {k: upserts[0][k] for k in ("total_records", "inserted", "updated")}
    return rows, counts


@pytest.mark.parametrize(
    "encoding",
    [
        {"format": "jsonl", "compression": "gzip"},
        {"format": "jsonl", "compression": "none"},
        {"format": "parquet", "compression": "none"},
        {"format": "parquet", "compression": "gzip"},
    ],
    ids=lambda e: f"{e['format']}-{e['compression']}",
)
def test_real_tap_batch_lands_like_records(tap_jsonl: Path, tmp_path: Path, encoding: dict) -> None:
    records_out = _run_tap(tap_jsonl, tmp_path, None)
    batch_out = _run_tap(tap_jsonl, tmp_path, encoding)
    assert '"type":"BATCH"' in batch_out.replace(" ", "")
    assert '"type":"RECORD"' not in batch_out.replace(" ", "")

    by_records = DuckDBUnderTest(tmp_path / "records")
    by_batch = DuckDBUnderTest(tmp_path / "batch")
    for wh in (by_records, by_batch):
        wh.path.parent.mkdir()
    first = run_target(by_records, records_out, config=PROVENANCE, tmp_path=tmp_path)
    second = run_target(by_batch, batch_out, config=PROVENANCE, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr

    rows, counts = _landed(by_batch)
    assert len(rows) == len(PEOPLE)
    assert counts == {"total_records": 3, "inserted": 3, "updated": 0}
    assert (rows, counts) == _landed(by_records)
    assert [r[2]["name"] for r in rows] == ["Ada", "b:c", "Zoë"]
    # The STATE the tap sent after its batch is forwarded, as in RECORD mode.
    assert second.states
    assert second.states[-1] == first.states[-1]
    assert [e["event_type"] for e in by_batch.events()] == [e["event_type"] for e in by_records.events()]


def _batch_input(manifest: list[str], encoding: dict, *, stream_maps_key: bool = False) -> str:
    schema = {"type": "object", "properties": {"id": {"type": "integer"}}}
    return singer(
        {"type": "SCHEMA", "stream": "people", "schema": schema, "key_properties": [] if stream_maps_key else ["id"]},
        {"type": "BATCH", "stream": "people", "encoding": encoding, "manifest": manifest},
        {"type": "STATE", "value": {"bookmarks": {"people": {"done": True}}}},
    )


def test_batch_jsonl_bytes_stored_as_written_fast_path(duckdb_wh: DuckDBUnderTest, tmp_path: Path) -> None:
    """JSONL batch lines take the fast path: the stored payload is the line's bytes, spacing and key order kept."""
    lines = ['{"id": 7,  "z": 1, "a": {"b": [1, 2.50]}}', '{"id":8,"name":"x"}']
    path = tmp_path / "part-1.jsonl.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    result = run_target(
        duckdb_wh, _batch_input([path.as_uri()], {"format": "jsonl", "compression": "gzip"}),
        config=PROVENANCE, tmp_path=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with duckdb.connect(str(duckdb_wh.path), read_only=True) as con:
        stored = con.execute("SELECT CAST(payload AS VARCHAR) FROM raw_objects ORDER BY external_id").fetchall()
    assert [s[0] for s in stored] == lines
    assert result.states == [{"bookmarks": {"people": {"done": True}}}]


def test_batch_records_go_through_stream_maps(duckdb_wh: DuckDBUnderTest, tmp_path: Path) -> None:
    """With a stream map the records take the SDK's general path: the map applies to batch records too."""
    path = tmp_path / "part-1.jsonl"
    path.write_text('{"id": 1, "keep": true}\n{"id": 2, "keep": false}\n')
    result = run_target(
        duckdb_wh, _batch_input([path.as_uri()], {"format": "jsonl", "compression": "none"}),
        config={**PROVENANCE, "stream_maps": {"people": {"__filter__": "keep"}}}, tmp_path=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [r["external_id"] for r in duckdb_wh.raw_objects()] == ["1"]


@pytest.mark.parametrize(
    ("encoding", "problem"),
    [
        ({"format": "avro", "compression": "none"}, "format 'avro'"),
        ({"format": "jsonl", "compression": "zstd"}, "compression 'zstd'"),
    ],
)
def test_unreadable_encoding_fails_clearly_without_state(
    duckdb_wh: DuckDBUnderTest, tmp_path: Path, encoding: dict, problem: str
) -> None:
    path = tmp_path / "part-1.jsonl"
    path.write_text('{"id": 1}\n')
    result = run_target(duckdb_wh, _batch_input([path.as_uri()], encoding), config=PROVENANCE, tmp_path=tmp_path)
    assert result.returncode == 1
    assert result.states == []
    assert problem in result.stderr
    assert "Traceback" not in result.stderr
    failed = [e for e in duckdb_wh.events() if e["event_type"] == "ingest.failed"]
    assert len(failed) == 1
    assert failed[0]["target_object_type"] == "people"
    assert problem in failed[0]["error_message"]
    assert duckdb_wh.raw_objects() == []


def test_missing_batch_file_fails_clearly_without_state(duckdb_wh: DuckDBUnderTest, tmp_path: Path) -> None:
    gone = (tmp_path / "gone.jsonl").as_uri()
    result = run_target(
        duckdb_wh, _batch_input([gone], {"format": "jsonl", "compression": "none"}), config=PROVENANCE,
        tmp_path=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.states == []
    assert "gone.jsonl" in result.stderr
    assert "Traceback" not in result.stderr
    assert any(e["event_type"] == "ingest.failed" for e in duckdb_wh.events())


def test_bad_record_in_batch_file_is_located(duckdb_wh: DuckDBUnderTest, tmp_path: Path) -> None:
    path = tmp_path / "part-1.jsonl"
    path.write_text('{"id": 1}\n{"name": "no id"}\n')
    result = run_target(
        duckdb_wh, _batch_input([path.as_uri()], {"format": "jsonl", "compression": "none"}), config=PROVENANCE,
        tmp_path=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.states == []
    assert "part-1.jsonl" in result.stderr
    assert "record 2" in result.stderr
    assert "no id" not in result.stderr  # record contents are never quoted
