"""JSON limits (issue 16, item 5): the same on every warehouse; one bad record never blocks its stream.

BigQuery's JSON type nests at most 500 levels, and PARSE_JSON fails on a number with no FLOAT64 at all.
Such a record used to fail its MERGE on BigQuery on every later run (and land on DuckDB): now the target
sets it aside on both, as an ``upsert.failed`` dead-letter event with its idem_key, line and reason
(never the payload), and goes on. (A number overflowing FLOAT64 used to be a "fails" kind of the bad-input
catalogue; it is covered here now.)
"""

from __future__ import annotations

import json

import pytest
from lorchestra_testing.events import assert_valid
from lorchestra_testing.target import run_target

SCHEMA = {
    "type": "SCHEMA",
    "stream": "email",
    "key_properties": ["id"],
    "schema": {
        "type": "object",
        "properties": {"id": {"type": "string"}},
        "x-lorchestra": {"source_system": "gmail", "connection_name": "gmail-acct1"},
    },
}


def nested(levels: int) -> str:
    """JSON text of ``levels`` nested arrays."""
    return "[" * levels + "]" * levels


def record_line(external_id: str, extra: str) -> str:
    return (
        f'{{"type": "RECORD", "stream": "email", "record": {{"id": "{external_id}", "x": {extra}}}, '
        '"time_extracted": "2024-05-01T10:00:00Z"}\n'
    )


def scenario(*records: tuple[str, str]) -> str:
    lines = [json.dumps(SCHEMA) + "\n"]
    lines += [record_line(external_id, extra) for external_id, extra in records]
    lines.append('{"type": "STATE", "value": {"bookmarks": {"email": {"historyId": "9"}}}}\n')
    return "".join(lines)


@pytest.mark.parametrize("path", ["fast", "general"])
def test_too_deep_records_are_set_aside_and_the_stream_goes_on(wh, tmp_path, path):
    text = scenario(
        ("ok-1", "1"),
        ("deep-501", nested(500)),  # the record object itself is level 1: 501 levels
        ("deep-500", nested(499)),  # exactly the limit: stored
        ("ok-2", '"' + "[" * 600 + '"'),  # brackets inside a string never count
    )
    config = {"validate_records": True} if path == "general" else {}
    result = run_target(wh, text, config=config, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.states == [{"bookmarks": {"email": {"historyId": "9"}}}]  # the stream is not blocked
    assert [r["external_id"] for r in wh.raw_objects()] == ["deep-500", "ok-1", "ok-2"]
    [dead] = [e for e in wh.events() if e["event_type"] == "upsert.failed"]
    assert dead["payload"] == {
        "batch_number": 1,
        "batch_records": 1,
        "dead_letter": True,
        "idem_key": "gmail:gmail-acct1:email:deep-501",
        "line": 3,
        "reason": "the record nests 501 levels deep; BigQuery's JSON type holds at most 500",
    }
    assert dead["event_schema_ref"] == "iglu:com.mensio.event/upsert_failed/jsonschema/1-0-1"
    assert dead["error_message"].startswith("record gmail:gmail-acct1:email:deep-501 (input line 3) set aside:")
    assert "[[" not in json.dumps(dead, default=str)  # never the payload
    completed = next(e for e in wh.events() if e["event_type"] == "upsert.completed")
    assert completed["payload"]["total_records"] == 3
    assert completed["payload"]["inserted"] == 3
    assert_valid(wh.events())


def test_numbers_no_float64_holds_are_set_aside_wide_ones_are_kept(wh, tmp_path):
    text = scenario(
        ("inf-float", "1e400"),
        ("inf-int", "9" * 400),
        ("wide-int", "123456789012345678901234567890"),  # beyond UINT64: BigQuery rounds it, DuckDB keeps it
        ("deep-and-inf", "[" * 600 + "1e999" + "]" * 600),
    )
    result = run_target(wh, text, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.states == [{"bookmarks": {"email": {"historyId": "9"}}}]
    [stored] = wh.raw_objects()
    assert stored["external_id"] == "wide-int"
    assert float(stored["payload"]["x"]) == pytest.approx(1.2345678901234568e29)
    dead = {
        e["payload"]["idem_key"].rsplit(":", 1)[1]: e["payload"] for e in wh.events() if e["payload"].get("dead_letter")
    }
    assert sorted(dead) == ["deep-and-inf", "inf-float", "inf-int"]
    assert dead["inf-float"]["reason"] == (
        "the record holds a number beyond the FLOAT64 range, which a JSON column cannot store even rounded"
    )
    assert dead["inf-int"]["line"] == 3
    assert dead["deep-and-inf"]["reason"].startswith("the record nests 601 levels deep")
    assert_valid(wh.events())
