"""Bad input: a clear error naming line and stream, an ``*.failed`` event, no STATE, nothing committed lost."""

from __future__ import annotations

import os
import stat

import pytest
from lorchestra_testing.inprocess import run_in_process
from lorchestra_testing.target import DATA, run_target

# scenario -> (line, stream or None, words the error must contain)
CASES = {
    "bad_malformed_json.singer": (4, None, "not valid JSON"),
    "bad_record_before_schema.singer": (1, "email", "RECORD arrived before any SCHEMA"),
    "bad_unknown_type.singer": (3, "email", "unknown Singer message type 'RECORDZ'"),
    "bad_record_not_object.singer": (2, "email", "record must be a JSON object"),
    "bad_missing_key.singer": (3, "email", "key_properties"),
    "bad_null_key.singer": (2, "email", "key property 'id' is null"),
    "bad_empty_key_properties.singer": (1, "email", "declares no key_properties"),
    "bad_missing_provenance.singer": (1, "email", "no provenance: source_system and connection_name"),
}

#: Record contents of the bad scenarios: clinic data that must never reach logs or events.
RECORD_CONTENTS = ("t-secret-subject", "Patient X diagnosis")


@pytest.mark.parametrize("scenario", sorted(CASES))
def test_bad_input_fails_clearly_without_state_or_loss(wh, tmp_path, scenario):
    line, stream, words = CASES[scenario]
    # Data committed by an earlier run must survive the failed one untouched (that run in-process: it is setup,
    # the failing run below goes through the CLI).
    assert run_in_process(wh, DATA / "emails_initial.singer").returncode == 0
    before = wh.raw_objects()

    result = run_target(wh, scenario, tmp_path=tmp_path)

    assert result.returncode == 1
    assert result.states == []  # no STATE at all: nothing of this run is committed
    error_lines = [s for s in result.stderr.splitlines() if "target-lorchestra failed:" in s]
    assert len(error_lines) == 1, result.stderr[-3000:]
    assert f"input line {line}" in error_lines[0]
    if stream:
        assert f"stream '{stream}'" in error_lines[0]
    assert words in error_lines[0]
    assert "Traceback" not in result.stderr
    for secret in RECORD_CONTENTS:
        assert secret not in result.stderr

    assert wh.raw_objects() == before
    events = [e for e in wh.events() if e["correlation_id"] == wh.events()[-1]["correlation_id"]]
    failed = [e for e in events if e["event_type"] == "ingest.failed"]
    assert failed, [e["event_type"] for e in events]
    assert any(words in (e["error_message"] or "") for e in failed)
    assert events[-1]["event_type"] == "job.completed"
    assert events[-1]["status"] == "failed"
    assert all(secret not in str(e) for e in events for secret in RECORD_CONTENTS)


def test_failed_merge_writes_upsert_failed_and_no_state(wh, tmp_path):
    wh.make_merge_fail_on("poison")
    result = run_target(wh, "merge_failure.singer", config={"batch_size_rows": 2}, tmp_path=tmp_path)

    assert result.returncode == 1
    assert result.states == []  # STATE 2 covers the failed batch; STATE 1 is only written by a full drain
    assert "MERGE" in result.stderr
    # The first batch was committed before the failure and stays (plus any rows the trap itself needed).
    assert sorted(r["external_id"] for r in wh.raw_objects()) == sorted(["ok-1", "ok-2", *wh.merge_trap_ids])
    events = wh.events()
    failed = [e for e in events if e["event_type"] == "upsert.failed"]
    assert len(failed) == 1
    assert failed[0]["status"] == "failed"
    assert failed[0]["payload"] == {"batch_number": 2, "batch_records": 1}
    assert (failed[0]["source_system"], failed[0]["connection_name"], failed[0]["target_object_type"]) == (
        "gmail",
        "gmail-acct1",
        "email",
    )
    assert [e["event_type"] for e in events if e["event_type"].endswith(".failed")] == [
        "upsert.failed",
        "ingest.failed",
    ]
    assert events[-1]["status"] == "failed"


def test_unwritable_duckdb_path_is_a_clear_error(duckdb_wh, tmp_path):
    locked_dir = tmp_path / "readonly"
    locked_dir.mkdir()
    locked_dir.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(locked_dir, os.W_OK):  # root ignores permissions: use a path under a regular file instead
            blocker = tmp_path / "not-a-dir"
            blocker.write_text("")
            path = blocker / "wh.duckdb"
        else:
            path = locked_dir / "wh.duckdb"
        result = run_target(duckdb_wh, "emails_initial.singer", config={"duckdb_path": str(path)}, tmp_path=tmp_path)
    finally:
        locked_dir.chmod(stat.S_IRWXU)
    assert result.returncode == 1
    assert result.states == []
    error_lines = [s for s in result.stderr.splitlines() if "target-lorchestra failed:" in s]
    assert len(error_lines) == 1
    assert "duckdb_path" in error_lines[0]
    assert str(path.parent.name) in error_lines[0]
    # The warehouse is what failed, so the failure events go to the log instead.
    assert "event_log unavailable" in result.stderr
    assert '"event_type":"job.completed"' in result.stderr
