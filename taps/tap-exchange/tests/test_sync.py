"""Backfill, incremental, resume and sync-reset behaviour of the real tap against the Graph sandbox."""

from __future__ import annotations

import logging
import math
from collections import Counter

import pytest
from lorchestra_sandbox.graph import CONNECTIONS
from singer_sdk.exceptions import RetriableAPIError
from tap_exchange.tap import TapExchange

MAILBOX = "ben@mensio.example"


def visible_folder_ids(app, mailbox=MAILBOX):
    return {fid for path, fid in app.folder_ids(mailbox).items() if path != "Clipboard"}


def test_backfill_emits_every_message_once_and_unchanged(app, config, run_tap, expected):
    run = run_tap(config)

    assert run.error is None
    want = expected()
    assert len(want) == 90
    assert sorted(run.ids()) == sorted(want)  # each message exactly once
    assert all(record == want[record["id"]] for record in run.records())  # the Graph resource, as returned
    # every non-hidden folder, child folders included (Inbox/Intake/2024), has its own delta link
    parts = run.partitions("email", "folder_id")
    assert set(parts) == visible_folder_ids(app)
    assert all(p["delta_link"].split("?")[1].startswith("%24deltatoken=") for p in parts.values())
    assert not any("next_link" in p for p in parts.values())
    # immutable ids were asked for (default ids start with AAMkA)
    assert all(r["id"].startswith("AAkALg") for r in run.records())
    # Prefer: odata.maxpagesize=7 was honoured: one page per 7 messages of a folder (at least one)
    per_folder = Counter(r["parentFolderId"] for r in run.records())
    pages = sum(max(1, math.ceil(per_folder[f] / 7)) for f in parts)
    assert len([c for c in app.api_calls() if c.path.endswith("/messages/delta")]) == pages


def test_schema_declares_provenance(config, run_tap):
    run = run_tap({**config, "schema_ref": "iglu:health.mensio/email/jsonschema/1-0-0"})

    (schema,) = run.schemas
    assert schema["stream"] == "email"
    assert schema["key_properties"] == ["id"]
    assert schema["schema"]["x-lorchestra"] == {
        "source_system": "exchange",
        "connection_name": "exchange-ben-mensio",
        "schema_ref": "iglu:health.mensio/email/jsonschema/1-0-0",
    }


@pytest.mark.parametrize("connection", sorted(CONNECTIONS))
def test_every_connection_of_the_spec_backfills(connection, make_config, run_tap, expected):
    _, mailbox, _, count = CONNECTIONS[connection]
    run = run_tap(make_config(connection, page_size=50))

    assert run.error is None
    assert sorted(run.ids()) == sorted(expected(mailbox))
    assert len(run.ids()) == count
    assert run.schemas[0]["schema"]["x-lorchestra"]["connection_name"] == connection


def test_incremental_run_emits_only_changes(app, config, run_tap, expected, caplog):
    first = run_tap(config)
    before = expected()
    inbox = app.messages(MAILBOX, ["inbox"])
    new_a = app.add_message(MAILBOX, "inbox", subject="Terminanfrage Juni")
    new_b = app.add_message(MAILBOX, "intake-2024")
    app.update_message(MAILBOX, inbox[0]["id"], isRead=True, categories=["Klient:in"])
    app.move_message(MAILBOX, inbox[1]["id"], "archive")
    app.delete_message(MAILBOX, inbox[2]["id"])

    with caplog.at_level(logging.INFO):
        second = run_tap(config, state=first.states[-1])

    assert second.error is None
    now = expected()
    assert sorted(second.ids()) == sorted([new_a, new_b, inbox[0]["id"], inbox[1]["id"]])
    assert all(record == now[record["id"]] for record in second.records())
    moved = next(r for r in second.records() if r["id"] == inbox[1]["id"])
    assert moved["parentFolderId"] == app.folder_ids(MAILBOX)["Archive"]  # same id, new folder
    assert inbox[2]["id"] not in second.ids()  # deletions are never emitted
    assert inbox[2]["id"] in before
    # the move and the delete show up as 2 @removed entries in the Inbox round: counted, not emitted
    assert "2 removals seen and not emitted" in caplog.text

    third = run_tap(config, state=second.states[-1])
    assert third.error is None
    assert third.records() == []


def test_start_date_limits_the_backfill_and_later_runs(app, make_config, run_tap, expected):
    start = "2024-09-01T00:00:00Z"
    config = make_config(start_date=start)
    run = run_tap(config)

    want = {i for i, m in expected().items() if m["receivedDateTime"] >= start}
    assert 0 < len(want) < 90
    assert set(run.ids()) == want
    assert len(run.ids()) == len(want)
    old = next(m for m in app.messages(MAILBOX) if m["receivedDateTime"] < start)
    app.update_message(MAILBOX, old["id"], isRead=True)
    fresh = app.add_message(MAILBOX)
    again = run_tap(config, state=run.states[-1])
    assert again.ids() == [fresh]  # the filter is carried in the delta link


def test_configured_folders_only(app, make_config, run_tap, expected):
    run = run_tap(make_config(folders=["inbox", app.folder_ids(MAILBOX)["Inbox/Intake/2024"]]))

    assert run.error is None
    assert sorted(run.ids()) == sorted(expected(folders=["inbox", "intake-2024"]))
    assert set(run.partitions("email", "folder_id")) == {
        app.folder_ids(MAILBOX)["Inbox"],
        app.folder_ids(MAILBOX)["Inbox/Intake/2024"],
    }


def test_interrupted_run_resumes_without_gaps(app, make_config, run_tap, expected, set_faults):
    config = make_config(max_attempts=2)
    # folders (1 list + 2 childFolders) and a few delta pages succeed, then every request fails
    set_faults(fail_after=9, retry_after=0)
    broken = run_tap(config, expect_error=RetriableAPIError)

    assert 0 < len(broken.ids()) < 90
    state = broken.states[-1]
    resumable = [p for p in state["bookmarks"]["email"]["partitions"] if "next_link" in p]
    assert len(resumable) == 1  # the folder being paged when the upstream died
    arrived = app.add_message(MAILBOX, "inbox")  # mail keeps arriving during the outage

    set_faults(fail_after=None)
    resumed = run_tap(config, state=state)

    assert resumed.error is None
    assert not set(broken.ids()) & set(resumed.ids())  # STATE is saved per page: nothing is repeated
    assert sorted(broken.ids() + resumed.ids()) == sorted(expected())  # and nothing is missing
    assert arrived in resumed.ids()
    # the resumed folder went on from its skiptoken, not from the start
    skip_calls = [c for c in app.api_calls("/v1.0/users") if "$skiptoken" in c.query]
    assert skip_calls


def test_expired_delta_links_reset_to_a_full_sync(app, config, run_tap, expected, set_faults):
    first = run_tap(config)
    set_faults(expire_sync=True)
    added = app.add_message(MAILBOX, "billing")

    second = run_tap(config, state=first.states[-1])

    assert second.error is None
    gone = [c for c in app.api_calls() if c.status == 410]
    assert len(gone) == len(visible_folder_ids(app))  # one syncStateNotFound per folder, then a full round
    assert sorted(second.ids()) == sorted(expected())
    assert added in second.ids()
    third = run_tap(config, state=second.states[-1])
    assert third.records() == []  # the new delta links work


def test_expired_skiptoken_while_resuming_resets_that_folder(app, make_config, run_tap, expected, set_faults):
    config = make_config(max_attempts=2)
    set_faults(fail_after=9, retry_after=0)
    broken = run_tap(config, expect_error=RetriableAPIError)
    set_faults(fail_after=None, expire_sync=True)

    resumed = run_tap(config, state=broken.states[-1])

    assert resumed.error is None
    assert set(broken.ids()) | set(resumed.ids()) == set(expected())
    assert any(c.status == 410 and "$skiptoken" in c.query for c in app.api_calls())


def test_stored_links_for_another_api_url_are_not_followed(config, run_tap, expected):
    first = run_tap(config)
    state = first.states[-1]
    for part in state["bookmarks"]["email"]["partitions"]:
        part["delta_link"] = part["delta_link"].replace("http://127.0.0.1", "https://graph.example")

    again = run_tap(config, state=state)

    assert sorted(again.ids()) == sorted(expected())  # a full sync instead of calling a foreign host


def test_catalog_round_trip_selection_and_unknown_properties(app, config, run_tap, expected):
    catalog = TapExchange(config=config, parse_env_config=False).catalog_dict
    # Graph may add properties the schema does not list yet: they are kept (additionalProperties)
    new = app.add_message(MAILBOX, "inbox", futureProperty={"nested": [1, 2]})

    full = run_tap(config, catalog=catalog)
    assert sorted(full.ids()) == sorted(expected())
    assert full.schemas[0]["schema"]["x-lorchestra"]["connection_name"] == "exchange-ben-mensio"
    assert "x-lorchestra" not in catalog["streams"][0]["schema"]  # added at run time, not discovered
    assert next(r for r in full.records() if r["id"] == new)["futureProperty"] == {"nested": [1, 2]}

    for entry in catalog["streams"][0]["metadata"]:
        if entry["breadcrumb"] == ["properties", "body"]:
            entry["metadata"]["selected"] = False
    no_body = run_tap(config, catalog=catalog)
    assert sorted(no_body.ids()) == sorted(expected())
    assert all("body" not in r and "bodyPreview" in r for r in no_body.records())

    stream_entry = next(m for m in catalog["streams"][0]["metadata"] if m["breadcrumb"] == [])
    stream_entry["metadata"]["selected"] = False
    assert run_tap(config, catalog=catalog).records() == []
