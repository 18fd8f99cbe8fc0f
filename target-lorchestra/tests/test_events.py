"""What lands in event_log: the event types of the spec, their columns, and payloads valid per Iglu schema."""

from __future__ import annotations

import pytest
from lorchestra_testing.events import assert_valid
from lorchestra_testing.target import run_target


def test_successful_run_event_sequence(wh, tmp_path):
    env = {"MELTANO_RUN_ID": "6b3c1d2e-0000-4000-8000-000000000001", "TRACEPARENT": ""}
    result = run_target(wh, "multi_stream.singer", env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    events = wh.events()
    types = [e["event_type"] for e in events]
    assert types[0] == "job.started"
    assert types[-1] == "job.completed"
    for stream in ("contact", "session"):
        mine = [e["event_type"] for e in events if e["target_object_type"] == stream]
        assert mine == ["ingest.started", "upsert.started", "upsert.completed", "ingest.completed"]
    for e in events:
        assert e["correlation_id"] == "6b3c1d2e-0000-4000-8000-000000000001"
        assert e["trace_id"] is None
        assert e["status"] == "success"
        assert e["error_message"] is None
        if e["event_type"].startswith("job."):
            assert (e["source_system"], e["connection_name"], e["target_object_type"]) == ("lorchestra", None, None)
        else:
            assert (e["source_system"], e["connection_name"]) == ("dataverse", "dataverse-clinic")
    contact_done = next(
        e for e in events if e["event_type"] == "upsert.completed" and e["target_object_type"] == "contact"
    )
    assert contact_done["payload"]["total_records"] == 2
    assert contact_done["payload"]["inserted"] == 2
    assert contact_done["payload"]["updated"] == 0
    assert contact_done["payload"]["batch_count"] == 1
    assert contact_done["payload"]["duration_seconds"] >= 0
    assert contact_done["event_schema_ref"] == "iglu:com.mensio.event/upsert_completed/jsonschema/1-0-1"
    assert events[-1]["payload"]["records"] == 3
    assert_valid(events)


def test_trace_id_comes_from_traceparent_and_runs_get_distinct_correlation_ids(wh, tmp_path):
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    env = {"TRACEPARENT": traceparent, "MELTANO_RUN_ID": ""}
    assert run_target(wh, "emails_initial.singer", env=env, tmp_path=tmp_path).returncode == 0
    assert run_target(wh, "emails_later.singer", env=env, tmp_path=tmp_path).returncode == 0
    events = wh.events()
    assert {e["trace_id"] for e in events} == {"4bf92f3577b34da6a3ce929d0e0e4736"}
    runs = {e["correlation_id"] for e in events}
    assert len(runs) == 2
    assert all(len(r) == 36 for r in runs)  # generated UUIDs
    assert_valid(events)


@pytest.mark.parametrize(
    "scenario",
    ["bad_missing_key.singer", "bad_malformed_json.singer", "bad_missing_provenance.singer"],
)
def test_failure_events_validate_too(wh, tmp_path, scenario):
    result = run_target(wh, scenario, tmp_path=tmp_path)
    assert result.returncode != 0
    events = wh.events()
    assert any(e["event_type"].endswith(".failed") for e in events)
    assert events[-1]["event_type"] == "job.completed"
    assert events[-1]["status"] == "failed"
    assert_valid(events)
