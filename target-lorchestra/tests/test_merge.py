"""What lands in raw_objects: keys, columns, payloads and MERGE semantics, on every warehouse."""

from __future__ import annotations

import datetime as dt
import json

from lorchestra_testing.inprocess import run_in_process
from lorchestra_testing.target import DATA, run_target

UTC = dt.UTC


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(UTC)


def ok(result) -> None:
    assert result.returncode == 0, result.stderr[-2000:]


def test_initial_load_columns_and_idem_keys(wh, tmp_path):
    result = run_target(wh, "emails_initial.singer", tmp_path=tmp_path)
    ok(result)
    rows = wh.raw_objects()
    assert [r["idem_key"] for r in rows] == [
        "gmail:gmail-acct1:email:18c5a7b2e3f4d5c6",
        "gmail:gmail-acct1:email:18c5a7b2e3f4d5c7",
        "gmail:gmail-acct1:email:18c5a7b2e3f4d5c8",
    ]
    first = rows[0]
    assert (first["source_system"], first["connection_name"], first["object_type"]) == ("gmail", "gmail-acct1", "email")
    assert first["external_id"] == "18c5a7b2e3f4d5c6"
    assert first["schema_ref"] is None
    assert first["payload"] == {"id": "18c5a7b2e3f4d5c6", "threadId": "t1", "snippet": "Appointment on Monday"}
    assert first["first_seen"] == first["last_seen"] == ts("2024-05-01T10:00:00Z")
    assert result.states == [{"bookmarks": {"email": {"historyId": "100"}}}]


def test_update_keeps_first_seen_and_takes_new_payload(wh, tmp_path):
    assert run_in_process(wh, DATA / "emails_initial.singer").returncode == 0  # setup, in-process (faster)
    ok(run_target(wh, "emails_later.singer", tmp_path=tmp_path))
    rows = {r["external_id"]: r for r in wh.raw_objects()}
    assert len(rows) == 4
    updated = rows["18c5a7b2e3f4d5c6"]
    assert updated["payload"]["labelIds"] == ["IMPORTANT"]
    assert updated["first_seen"] == ts("2024-05-01T10:00:00Z")
    assert updated["last_seen"] == ts("2024-05-02T10:00:00Z")
    untouched = rows["18c5a7b2e3f4d5c7"]
    assert untouched["last_seen"] == ts("2024-05-01T10:00:00Z")
    new = rows["18c5a7b2e3f4d5c9"]
    assert new["first_seen"] == new["last_seen"] == ts("2024-05-02T10:00:00Z")
    completed = [e for e in wh.events() if e["event_type"] == "upsert.completed"]
    assert completed[-1]["payload"]["inserted"] == 1
    assert completed[-1]["payload"]["updated"] == 1


def test_older_replay_never_overwrites_newer_payload(wh, tmp_path):
    assert run_in_process(wh, DATA / "emails_later.singer").returncode == 0  # setup, in-process (faster)
    before = {r["idem_key"]: r for r in wh.raw_objects()}
    result = run_target(wh, "emails_stale_replay.singer", tmp_path=tmp_path)
    ok(result)
    after = {r["idem_key"]: r for r in wh.raw_objects()}
    assert after == before
    payload = [e for e in wh.events() if e["event_type"] == "upsert.completed"][-1]["payload"]
    assert (payload["inserted"], payload["updated"], payload["skipped_stale"]) == (0, 0, 1)
    # The STATE still advances: the replayed data is committed (as "already newer") too.
    assert result.states == [{"bookmarks": {"email": {"historyId": "90"}}}]


def test_duplicates_in_one_batch_collapse_to_newest(wh, tmp_path):
    ok(run_target(wh, "duplicates_in_batch.singer", tmp_path=tmp_path))
    rows = {r["external_id"]: r for r in wh.raw_objects()}
    assert rows["m1"]["payload"] == {"id": "m1", "v": 3}  # latest time_extracted
    assert rows["m1"]["first_seen"] == rows["m1"]["last_seen"] == ts("2024-05-01T12:00:00Z")
    assert rows["m2"]["payload"] == {"id": "m2", "v": 2}  # same time: latest arrival
    payload = next(e for e in wh.events() if e["event_type"] == "upsert.completed")["payload"]
    assert payload["total_records"] == 5
    assert payload["inserted"] + payload["updated"] == 2
    assert payload["duplicates_collapsed"] == 3


def test_composite_key_is_an_unambiguous_json_array(wh, tmp_path):
    ok(run_target(wh, "composite_key.singer", tmp_path=tmp_path))
    ids = sorted(r["external_id"] for r in wh.raw_objects())
    assert ids == ['["a",17]', '["a:b",7]']
    assert {r["idem_key"] for r in wh.raw_objects()} == {
        'dataverse:dataverse-clinic:enrollment:["a",17]',
        'dataverse:dataverse-clinic:enrollment:["a:b",7]',
    }


def test_third_party_tap_uses_config_provenance(wh, tmp_path):
    config = {"source_system": "github", "connection_name": "github-clinic"}
    ok(run_target(wh, "third_party_tap.singer", config=config, tmp_path=tmp_path))
    [row] = wh.raw_objects()
    assert row["idem_key"] == "github:github-clinic:issues:42"
    assert (row["source_system"], row["connection_name"], row["object_type"]) == ("github", "github-clinic", "issues")


def test_tap_declared_provenance_wins_over_config(wh, tmp_path):
    config = {"source_system": "other", "connection_name": "other-conn"}
    ok(run_target(wh, "emails_initial.singer", config=config, tmp_path=tmp_path))
    assert {r["connection_name"] for r in wh.raw_objects()} == {"gmail-acct1"}


def test_multiple_streams_and_schema_ref(wh, tmp_path):
    ok(run_target(wh, "multi_stream.singer", tmp_path=tmp_path))
    rows = wh.raw_objects()
    by_type = {}
    for r in rows:
        by_type.setdefault(r["object_type"], []).append(r)
    assert len(by_type["contact"]) == 2
    assert len(by_type["session"]) == 1
    assert by_type["session"][0]["schema_ref"] == "iglu:com.mensio.raw/raw_dataverse_session/jsonschema/1-0-0"
    assert by_type["contact"][0]["schema_ref"] is None
    assert by_type["session"][0]["idem_key"] == (
        "dataverse:dataverse-clinic:session:11111111-2222-3333-4444-555555555555"
    )


def test_payload_is_stored_exactly_as_sent(wh, tmp_path):
    ok(run_target(wh, "payload_fidelity.singer", tmp_path=tmp_path))
    sent = json.loads((DATA / "payload_fidelity.singer").read_text().splitlines()[1])["record"]
    [row] = wh.raw_objects()
    assert row["payload"] == sent
    assert list(row["payload"]) == list(sent)  # no keys added or dropped


def test_state_is_emitted_once_data_is_committed(wh, tmp_path):
    result = run_target(wh, "state_checkpoints.singer", config={"batch_size_rows": 2}, tmp_path=tmp_path)
    ok(result)
    assert result.states[-1] == {"bookmarks": {"email": {"historyId": "3"}}}
    assert len(wh.raw_objects()) == 5
    payload = next(e for e in wh.events() if e["event_type"] == "upsert.completed")["payload"]
    assert payload["batch_count"] == 3
    assert payload["total_records"] == payload["inserted"] == 5


def test_rerunning_the_same_input_is_idempotent(wh, tmp_path):
    assert run_in_process(wh, DATA / "emails_initial.singer").returncode == 0  # setup, in-process (faster)
    first = wh.raw_objects()
    ok(run_target(wh, "emails_initial.singer", tmp_path=tmp_path))
    assert wh.raw_objects() == first  # same time_extracted: rows rewritten with identical values


def _resend(time_extracted: str, *, changed: str | None = None) -> str:
    """emails_initial.singer's records sent again at ``time_extracted``; ``changed`` gets a new snippet."""
    lines = (DATA / "emails_initial.singer").read_text().splitlines()
    out = []
    for line in lines:
        message = json.loads(line)
        if message["type"] == "RECORD":
            message["time_extracted"] = time_extracted
            if message["record"]["id"] == changed:
                message["record"]["snippet"] = "Appointment moved to Tuesday"
        out.append(json.dumps(message))
    return "\n".join(out) + "\n"


def _last_upsert(wh) -> dict:
    return [e for e in wh.events() if e["event_type"] == "upsert.completed"][-1]["payload"]


def test_an_unchanged_copy_rewrites_nothing_within_last_seen_refresh_hours(wh, tmp_path):
    """With ``last_seen_refresh_hours``, a copy equal to the stored object (payload and schema_ref) is left
    alone while the stored last_seen is that recent: on BigQuery a rewrite is billed for the whole table."""
    config = {"last_seen_refresh_hours": 24}
    assert run_in_process(wh, DATA / "emails_initial.singer", config=config).returncode == 0
    changed = "18c5a7b2e3f4d5c7"
    ok(run_target(wh, _resend("2024-05-01T20:00:00Z", changed=changed), config=config, tmp_path=tmp_path))
    rows = {r["external_id"]: r for r in wh.raw_objects()}
    assert rows[changed]["payload"]["snippet"] == "Appointment moved to Tuesday"
    assert rows[changed]["last_seen"] == ts("2024-05-01T20:00:00Z")
    for unchanged in ("18c5a7b2e3f4d5c6", "18c5a7b2e3f4d5c8"):
        assert rows[unchanged]["last_seen"] == ts("2024-05-01T10:00:00Z")
    counts = _last_upsert(wh)
    assert (counts["inserted"], counts["updated"], counts["unchanged"], counts["skipped_stale"]) == (0, 1, 2, 0)
    assert counts["total_records"] == 3

    # Once the stored last_seen is older than the window, an unchanged copy refreshes it.
    assert run_in_process(wh, _resend("2024-05-02T10:00:01Z", changed=changed), config=config).returncode == 0
    rows = {r["external_id"]: r for r in wh.raw_objects()}
    assert rows["18c5a7b2e3f4d5c6"]["last_seen"] == ts("2024-05-02T10:00:01Z")
    assert rows[changed]["last_seen"] == ts("2024-05-01T20:00:00Z")  # seen 14 h ago: still fresh
    assert rows["18c5a7b2e3f4d5c6"]["first_seen"] == ts("2024-05-01T10:00:00Z")
    counts = _last_upsert(wh)
    assert (counts["updated"], counts["unchanged"]) == (2, 1)


def test_by_default_every_copy_refreshes_last_seen(wh, tmp_path):
    assert run_in_process(wh, DATA / "emails_initial.singer").returncode == 0
    ok(run_target(wh, _resend("2024-05-01T10:30:00Z"), tmp_path=tmp_path))
    assert {r["last_seen"] for r in wh.raw_objects()} == {ts("2024-05-01T10:30:00Z")}
    counts = _last_upsert(wh)
    assert (counts["updated"], counts["unchanged"]) == (3, 0)


def test_a_new_schema_ref_is_a_change(wh, tmp_path):
    config = {"last_seen_refresh_hours": 24}
    assert run_in_process(wh, DATA / "emails_initial.singer", config=config).returncode == 0
    text = _resend("2024-05-01T11:00:00Z").replace(
        '"x-lorchestra": {', '"x-lorchestra": {"schema_ref": "iglu:com.mensio.raw/raw_gmail_email/jsonschema/1-0-1", '
    )
    ok(run_target(wh, text, config=config, tmp_path=tmp_path))
    assert {r["schema_ref"] for r in wh.raw_objects()} == {"iglu:com.mensio.raw/raw_gmail_email/jsonschema/1-0-1"}
    assert _last_upsert(wh)["updated"] == 3
