"""Backfill, incremental, resume and catalog selection, run by the real tap against the sandbox."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time

from singer_sdk.exceptions import RetriableAPIError

ENTITY_SETS = {"contact": "contacts", "session": "cr8a1_sessions", "report": "cr8a1_reports"}
PRIMARY_KEYS = {"contact": "contactid", "session": "cr8a1_sessionid", "report": "cr8a1_reportid"}
METADATA_CALLS = 3  # per stream: EntityDefinitions, .../Attributes, .../Attributes/...DateTimeAttributeMetadata


def test_backfill_emits_every_row_as_the_api_returns_it(sandbox, app, config, run_tap):
    run = run_tap(config)

    assert run.error is None
    for stream, entity_set in ENTITY_SETS.items():
        expected = app.records(entity_set)  # rendered with formatted values, in modifiedon order
        assert run.records(stream) == expected
        assert len(set(run.ids(stream))) == len(expected)
        schema = run.schema(stream)
        assert schema["key_properties"] == [PRIMARY_KEYS[stream]]
        assert schema["bookmark_properties"] == ["modifiedon"]
        assert schema["schema"]["x-lorchestra"] == {
            "source_system": "dataverse",
            "connection_name": "dataverse-clinic",
            "schema_ref": None,
        }
    assert [len(run.records(s)) for s in ENTITY_SETS] == [120, 240, 160]
    # One request per page of 50 (nothing re-read), plus the metadata of each table.
    pages = sum(math.ceil(n / 50) for n in (120, 240, 160))
    assert len(app.api_calls()) == pages + METADATA_CALLS * 3
    first, second = app.api_calls("/api/data/v9.2/contacts")[:2]
    assert first.query["$orderby"] == ["modifiedon asc,contactid asc"]
    assert "$skiptoken" in second.query  # the second page came from @odata.nextLink


def test_formatted_values_and_annotations_reach_the_record(app, config, run_tap):
    run = run_tap(config)

    session = run.records("session")[0]
    assert session["@odata.etag"].startswith('W/"')
    assert session["cr8a1_sessiontype@OData.Community.Display.V1.FormattedValue"] in {
        "Intake",
        "Individual",
        "Family",
        "Group",
    }
    assert session["_cr8a1_client_value@OData.Community.Display.V1.FormattedValue"]
    # Columns the Web API does not return are not invented (virtual image, AttributeOf names).
    contact = run.records("contact")[0]
    assert "entityimage" not in contact
    assert "createdbyname" not in contact
    assert "owneridtype" not in contact


def test_state_is_checkpointed_after_every_page(config, run_tap):
    run = run_tap(config)

    last_modified = None
    checkpoints = []
    for message in run.messages:
        if message["type"] == "RECORD" and message["stream"] == "contact":
            last_modified = message["record"]["modifiedon"]
        elif message["type"] == "STATE" and last_modified is not None:
            bookmark = message["value"]["bookmarks"]["contact"]["replication_key_value"]
            checkpoints.append(bookmark)
            assert bookmark == last_modified  # the bookmark never runs ahead of what was emitted
            last_modified = None
    assert len(checkpoints) == 3  # contacts: three pages of 50


def test_incremental_pulls_only_rows_changed_since_the_bookmark(sandbox, app, config, run_tap):
    first = run_tap(config)
    bookmark = first.last_state["bookmarks"]["contact"]["replication_key_value"]
    ties = [r["contactid"] for r in app.records("contacts") if r["modifiedon"] == bookmark]
    changed_contact = first.records("contact")[5]["contactid"]
    app.update("contacts", changed_contact, mobilephone="+1 503 555 0199")
    new_contact = app.create("contacts", firstname="Imani", lastname="Reyes", fullname="Imani Reyes")
    changed_session = first.records("session")[0]["cr8a1_sessionid"]
    app.update("cr8a1_sessions", changed_session, cr8a1_attended=False)
    app.requests.clear()

    second = run_tap(config, state=first.last_state)

    assert second.error is None
    # Rows sharing the bookmark's second are read again (at least once), then only the changes.
    assert second.ids("contact") == [*ties, changed_contact, new_contact["contactid"]]
    assert second.records("contact")[-2]["mobilephone"] == "+1 503 555 0199"
    assert second.records("contact")[-1] == new_contact
    session_bookmark = first.last_state["bookmarks"]["session"]["replication_key_value"]
    session_ties = [r["cr8a1_sessionid"] for r in app.records("cr8a1_sessions") if r["modifiedon"] == session_bookmark]
    assert second.ids("session") == [*session_ties, changed_session]
    report_bookmark = first.last_state["bookmarks"]["report"]["replication_key_value"]
    assert {r["modifiedon"] for r in second.records("report")} == {report_bookmark}
    (call,) = app.api_calls("/api/data/v9.2/contacts")
    assert call.query["$filter"] == [f"modifiedon ge {bookmark}"]
    assert second.last_state["bookmarks"]["contact"]["replication_key_value"] == new_contact["modifiedon"]


def test_start_date_bounds_the_first_run(app, config, run_tap):
    start = "2025-09-01T00:00:00Z"
    run = run_tap({**config, "start_date": start})

    expected = [r for r in app.records("contacts") if r["modifiedon"] >= start]
    assert 0 < len(expected) < 120
    assert run.records("contact") == expected


def test_deleted_rows_are_not_emitted_and_do_not_break_the_next_run(app, config, run_tap):
    first = run_tap(config)
    gone = first.records("contact")[-1]["contactid"]
    app.delete("contacts", gone)

    second = run_tap(config, state=first.last_state)

    assert second.error is None
    assert gone not in second.ids("contact")


def _interrupted_then_resumed(app, config, run_tap, set_faults, *, good_requests):
    set_faults(fail_after=good_requests, retry_after=0)
    first = run_tap(config, expect_error=RetriableAPIError)  # the upstream died mid-run
    set_faults(fail_after=None)
    app.requests.clear()
    second = run_tap(config, state=first.last_state)
    assert second.error is None
    return first, second


def test_interrupted_run_resumes_from_its_last_page(app, config, run_tap, set_faults):
    # 9 metadata requests, then two pages of contacts; the third page never comes.
    first, second = _interrupted_then_resumed(app, config, run_tap, set_faults, good_requests=METADATA_CALLS * 3 + 2)

    all_contacts = app.records("contacts")
    assert first.records("contact") == all_contacts[:100]
    bookmark = first.last_state["bookmarks"]["contact"]["replication_key_value"]
    assert bookmark == all_contacts[99]["modifiedon"]
    # No gap: the resumed run starts at the checkpoint and the union is every row.
    assert second.records("contact") == [r for r in all_contacts if r["modifiedon"] >= bookmark]
    assert set(first.ids("contact")) | set(second.ids("contact")) == {r["contactid"] for r in all_contacts}
    assert len(second.records("contact")) < 30  # not started over
    assert len(second.records("session")) == 240
    assert len(second.records("report")) == 160


def test_resume_inside_a_run_of_equal_modifiedon(app, config, run_tap, set_faults):
    """25 contacts share one modifiedon (a bulk import) across a page boundary: none is lost."""
    config = {**config, "page_size": 10}
    first, second = _interrupted_then_resumed(app, config, run_tap, set_faults, good_requests=METADATA_CALLS * 3 + 1)

    bulk = [r for r in app.records("contacts") if r["modifiedon"] == "2025-01-06T08:30:00Z"]
    assert len(bulk) == 25
    assert len(first.records("contact")) == 10
    assert first.last_state["bookmarks"]["contact"]["replication_key_value"] == "2025-01-06T08:30:00Z"
    assert second.records("contact") == app.records("contacts")  # the tie group is re-read whole


def test_discover_then_run_with_a_catalog_selection(sandbox, app, config, tmp_path, run_tap):
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    tap = [sys.executable, "-m", "tap_dataverse.tap", "--config", str(config_path)]
    catalog = json.loads(subprocess.run([*tap, "--discover"], capture_output=True, check=True, text=True).stdout)

    entries = {s["tap_stream_id"]: s for s in catalog["streams"]}
    assert sorted(entries) == ["contact", "report", "session"]
    for stream, key in PRIMARY_KEYS.items():
        assert entries[stream]["key_properties"] == [key]
        assert entries[stream]["replication_key"] == "modifiedon"
        assert "x-lorchestra" not in entries[stream]["schema"]
    for entry in catalog["streams"]:
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = entry["tap_stream_id"] == "session"
    app.requests.clear()

    run = run_tap(config, catalog=catalog)

    assert run.error is None
    assert {m["stream"] for m in run.messages if m["type"] == "RECORD"} == {"session"}
    assert run.records("session") == app.records("cr8a1_sessions")
    assert app.api_calls("/api/data/v9.2/EntityDefinitions") == []  # schema and key came from the catalog


def test_session_and_report_need_their_entity_sets(config, run_tap):
    tap_config = {k: v for k, v in config.items() if k != "entity_sets"}
    run = run_tap(tap_config)

    assert {m["stream"] for m in run.messages if m["type"] == "SCHEMA"} == {"contact"}


def test_row_modified_while_the_tap_pages_is_emitted_again_at_the_end(app, config, run_tap, set_faults):
    contacts = app.records("contacts")
    moved = contacts[10]["contactid"]  # on the first page of 50
    set_faults(delay=0.1)

    def edit_after_first_page():
        deadline = time.monotonic() + 10
        while not app.api_calls("/api/data/v9.2/contacts") and time.monotonic() < deadline:
            time.sleep(0.01)
        app.update("contacts", moved, emailaddress1="new.address@example.org")

    editor = threading.Thread(target=edit_after_first_page)
    editor.start()
    run = run_tap({**config, "entity_sets": {}})
    editor.join()

    ids = run.ids("contact")
    assert len(ids) == 121  # every row once, the edited one twice (at least once: its new version last)
    assert ids.count(moved) == 2
    assert run.records("contact")[-1]["emailaddress1"] == "new.address@example.org"
    assert run.last_state["bookmarks"]["contact"]["replication_key_value"] == run.records("contact")[-1]["modifiedon"]
