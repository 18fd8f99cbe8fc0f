"""Property-based fuzz over Singer message sequences (hypothesis), through the real target, in-process.

Each example runs the target twice on one fresh DuckDB file: a valid sequence (committed), then a second
sequence that may carry one bad message somewhere. Whatever the sequences and batch sizes:

* a run either succeeds, or fails with a clear error naming the first bad line (never another exception);
* a failed run writes no STATE; a successful one writes exactly the last STATE it received;
* nothing committed is ever lost: every earlier row is still there, ``first_seen`` kept, ``last_seen`` never
  going back;
* every stored payload is the newest record of its idem_key (latest ``time_extracted``, then latest arrival)
  among the records that can have been committed, and a successful run commits all of them;
* no record contents reach the error, the logs (captured at DEBUG) or event_log.

The MERGE itself runs on DuckDB here; the same semantics on every warehouse are covered by the ``wh`` tests.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lorchestra_testing.inprocess import run_in_process
from lorchestra_testing.warehouses import DuckDBUnderTest

#: Examples per suite run (kept small for CI); RELIABILITY.md's figure comes from LORCHESTRA_FUZZ_EXAMPLES=1000.
EXAMPLES = int(os.environ.get("LORCHESTRA_FUZZ_EXAMPLES", "15"))
STREAMS = {
    "email": ("id", {"source_system": "gmail", "connection_name": "gmail-acct1"}),
    "contact": ("contactid", {"source_system": "dataverse", "connection_name": "dataverse-clinic"}),
}
TIMES = [f"2024-06-0{d}T10:00:00Z" for d in (1, 2, 3)]
KEYS = ["k-alpha", "k-bravo", "k-charlie", 7001]
#: Marker planted in every payload; it must never show up in errors, logs or events.
MARK = "PHI-"
BAD_LINES = {
    "malformed": '{"type": "RECORD", "stream": "email", "record": {"id": "k-alpha", "v": "PHI-bad"',
    "null_key": '{"type": "RECORD", "stream": "email", "record": {"id": null, "v": "PHI-bad"}}',
    "float_key": '{"type": "RECORD", "stream": "email", "record": {"id": 1.5, "v": "PHI-bad"}}',
    "not_object": '{"type": "RECORD", "stream": "email", "record": ["PHI-bad"]}',
    "unknown_type": '{"type": "RECORDS", "stream": "email", "record": {"id": "k-alpha"}}',
    "bad_time": '{"type": "RECORD", "stream": "email", "record": {"id": "k-alpha", "v": "PHI-bad"}, '
    '"time_extracted": "PHI-not-a-time"}',
    "no_schema": '{"type": "RECORD", "stream": "unknown_stream", "record": {"id": "k-alpha", "v": "PHI-bad"}}',
    "array": '["PHI-bad"]',
}

_counter = itertools.count()

message = st.one_of(
    st.tuples(st.just("record"), st.sampled_from(sorted(STREAMS)), st.sampled_from(KEYS), st.sampled_from(TIMES)),
    st.tuples(st.just("state"), st.integers(0, 5)),
    st.tuples(st.just("schema"), st.sampled_from(sorted(STREAMS))),
    st.tuples(st.just("blank")),
)
sequence = st.lists(message, max_size=20)


def render(ops: list[tuple], bad: tuple[int, str] | None, run: int) -> tuple[str, list[dict], int | None]:
    """Singer text for ``ops`` (each stream's SCHEMA first), the records sent in order, and the bad line's number."""
    lines: list[str] = []
    records: list[dict] = []
    schema_sent: set[str] = set()
    bad_line = None
    for i, op in enumerate(ops):
        if bad is not None and bad[0] == i:
            lines.append(BAD_LINES[bad[1]])
            bad_line = len(lines)
        if op[0] in ("record", "schema") and op[1] not in schema_sent:
            key, provenance = STREAMS[op[1]]
            schema = {"type": "object", "properties": {key: {}}, "x-lorchestra": provenance}
            lines.append(json.dumps({"type": "SCHEMA", "stream": op[1], "key_properties": [key], "schema": schema}))
            schema_sent.add(op[1])
            if op[0] == "schema":
                continue
        if op[0] == "record":
            _, stream, key, when = op
            record = {STREAMS[stream][0]: key, "v": f"{MARK}{run}-{len(records)}"}
            lines.append(json.dumps({"type": "RECORD", "stream": stream, "record": record, "time_extracted": when}))
            records.append({"stream": stream, "key": key, "t": when, "payload": record, "line": len(lines)})
        elif op[0] == "state":
            lines.append(json.dumps({"type": "STATE", "value": {"bookmarks": {"run": run, "n": op[1]}}}))
        elif op[0] == "schema":
            lines.append(
                json.dumps(
                    {
                        "type": "SCHEMA",
                        "stream": op[1],
                        "key_properties": [STREAMS[op[1]][0]],
                        "schema": {"type": "object", "properties": {}, "x-lorchestra": STREAMS[op[1]][1]},
                    }
                )
            )
        else:
            lines.append("")
    if bad is not None and bad_line is None:
        lines.append(BAD_LINES[bad[1]])
        bad_line = len(lines)
    return "".join(line + "\n" for line in lines), records, bad_line


def idem_key(record: dict) -> str:
    _, provenance = STREAMS[record["stream"]]
    return f"{provenance['source_system']}:{provenance['connection_name']}:{record['stream']}:{record['key']}"


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def last_state(text: str) -> dict | None:
    states = [json.loads(line)["value"] for line in text.splitlines() if line.strip() and '"STATE"' in line]
    return states[-1] if states else None


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    first=sequence,
    second=sequence,
    bad=st.none() | st.tuples(st.integers(0, 20), st.sampled_from(sorted(BAD_LINES))),
    batch_size_rows=st.sampled_from([1, 2, 3, 10_000]),
)
# Found by this test: a sink retired by a schema change was MERGEd after the new sink's full batches, so an
# earlier record with the same time_extracted overwrote a later one (fixed in TargetLorchestra.get_sink).
@example(
    first=[],
    second=[
        ("record", "contact", "k-alpha", TIMES[0]),
        ("schema", "contact"),
        ("record", "contact", "k-alpha", TIMES[0]),
        ("record", "contact", "k-alpha", TIMES[0]),
    ],
    bad=None,
    batch_size_rows=2,
)
def test_fuzzed_message_sequences_keep_the_invariants(tmp_path: Path, first, second, bad, batch_size_rows):
    wh = DuckDBUnderTest(tmp_path / f"example-{next(_counter)}")
    wh.path.parent.mkdir()
    config = {"batch_size_rows": batch_size_rows}
    sent: list[dict] = []

    # Run 1: valid, so it must commit everything.
    text, records, _ = render(first, None, 1)
    result = run_in_process(wh, text, config=config)
    assert result.returncode == 0, result.error or repr(result.exception)
    assert result.states == ([last_state(text)] if last_state(text) else [])
    sent += records
    before = check_rows(wh, sent, committed=sent)

    # Run 2: may carry one bad line.
    text, records, bad_line = render(second, bad, 2)
    result = run_in_process(wh, text, config=config)
    events = wh.events()
    events = [e for e in events if e["correlation_id"] == events[-1]["correlation_id"]]
    assert events[-1]["event_type"] == "job.completed"
    leak_check = (result.error or "") + result.logs + json.dumps(events, default=str)
    assert MARK not in leak_check

    if bad_line is None:
        assert result.returncode == 0, result.error or repr(result.exception)
        assert result.states == ([last_state(text)] if last_state(text) else [])
        after = check_rows(wh, sent + records, committed=sent + records)
    else:
        assert result.returncode == 1
        assert result.error is not None, f"not a clear error: {result.exception!r}"
        assert f"input line {bad_line}" in result.error
        assert result.states == []
        assert events[-1]["status"] == "failed"
        # Records before the bad line may have been committed (full batches); none after it can be.
        possible = sent + [r for r in records if r["line"] < bad_line]
        after = check_rows(wh, possible, committed=sent)
    for key, row in before.items():  # nothing committed lost; first_seen kept; last_seen never back
        assert after[key]["first_seen"] == row["first_seen"]
        assert after[key]["last_seen"] >= row["last_seen"]


def check_rows(wh: DuckDBUnderTest, possible: list[dict], committed: list[dict]) -> dict[str, dict]:
    """Every ``committed`` record's key is stored; every row holds the newest record that may have landed."""
    rows = {r["idem_key"]: r for r in wh.raw_objects()}
    assert {idem_key(r) for r in committed} <= set(rows)
    by_key: dict[str, list[dict]] = {}
    for record in possible:
        by_key.setdefault(idem_key(record), []).append(record)
    assert set(rows) <= set(by_key)
    for key, row in rows.items():
        candidates = by_key[key]
        newest_time = max(ts(r["t"]) for r in candidates)
        assert row["first_seen"] <= row["last_seen"] <= newest_time
        assert row["first_seen"] in {ts(r["t"]) for r in candidates}
        landed = [r for r in candidates if r["payload"] == row["payload"]]
        assert len(landed) == 1
        assert ts(landed[0]["t"]) == row["last_seen"]
        # No record that certainly landed is newer, or as new and later to arrive (lists are in arrival order).
        for record in candidates:
            if record in committed and record is not landed[0]:
                assert ts(record["t"]) <= row["last_seen"], (key, record, row)
                if ts(record["t"]) == row["last_seen"]:
                    assert possible.index(record) < possible.index(landed[0]), (key, record, row)
    return rows
