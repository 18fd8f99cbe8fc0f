"""Exact record sets for backfill, incremental and resume-after-interruption, against the Gmail sandbox."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from lorchestra_testing import Calls
from singer_sdk.exceptions import RetriableAPIError


def lacking(records: dict[str, dict], label: str) -> list[str]:
    """Ids of messages without ``label`` (so adding it is a real change that Gmail records in history)."""
    return sorted(i for i, r in records.items() if label not in r["labelIds"])


def test_backfill_emits_each_message_resource_unchanged(make_config, app, run_tap):
    run = run_tap(make_config())

    expected = app.resources("gmail-acct1")  # full format, SPAM/TRASH excluded by default
    assert len(expected) == 166
    assert len(run.records()) == len(expected)
    assert run.by_id() == expected  # the API resource exactly: nested parts, headers, body data included
    assert all({"SPAM", "TRASH"}.isdisjoint(r["labelIds"]) for r in run.records())
    schema = run.schemas[0]
    assert schema["stream"] == "email"
    assert schema["key_properties"] == ["id"]
    assert schema["schema"]["x-lorchestra"] == {
        "source_system": "gmail",
        "connection_name": "gmail-acct1",
        "schema_ref": None,
    }
    assert run.bookmark("email") == {"history_id": str(app.mailbox("gmail-acct1").history_id)}


def test_backfill_costs_one_round_trip_per_50_messages(sandbox, make_config, app, run_tap):
    run_tap(make_config("gmail-acct3", include_spam_trash=True))

    calls = Calls.of(sandbox)
    n = len(app.mailbox("gmail-acct3").messages)  # 200 with spam and trash
    batches = calls.paths("/batch/gmail/v1")
    assert len(calls.batch_items) == n
    assert len(batches) == math.ceil(n / 50) == 4
    # profile + one list page (maxResults=500) + the batches: nothing else went over the wire
    assert len(calls.api) == 1 + 1 + len(batches) == 6
    print(f"\nround trips for {n} messages: {len(calls.api)} ({len(batches)} batches of <= 50)")


def test_schema_ref_setting_is_declared(make_config, run_tap):
    ref = "iglu:com.mensio.raw/raw_gmail_email/jsonschema/1-0-0"
    run = run_tap(make_config("gmail-acct2", schema_ref=ref))
    assert run.schemas[0]["schema"]["x-lorchestra"] == {
        "source_system": "gmail",
        "connection_name": "gmail-acct2",
        "schema_ref": ref,
    }


def test_incremental_run_reads_history_and_emits_only_changes(sandbox, make_config, app, run_tap):
    first = run_tap(make_config())
    ids = lacking(first.by_id(), "STARRED")

    added = app.add_message("gmail-acct1", "New referral", "Please see attached referral for a new client.")
    added_starred = app.add_message("gmail-acct1", "Follow-up", "Following up on my request.", ["INBOX"])
    app.modify_labels("gmail-acct1", ids[0], add=["STARRED"], remove=["UNREAD"])
    app.modify_labels("gmail-acct1", ids[1], add=["STARRED"])
    app.modify_labels("gmail-acct1", ids[2], add=["TRASH"], remove=["INBOX"])  # now excluded: not emitted
    app.delete_message("gmail-acct1", ids[3])  # deletions are never emitted
    app.add_message("gmail-acct1", "Spam offer", "You won", ["SPAM"])  # excluded by default
    requests_before = len(Calls.of(sandbox).entries)

    second = run_tap(make_config(), state=first.last_state)

    current = app.resources("gmail-acct1")
    expected_ids = {added, added_starred, ids[0], ids[1]}
    assert set(second.by_id()) == expected_ids
    assert second.by_id() == {i: current[i] for i in expected_ids}  # the current version of each message
    assert "STARRED" in second.by_id()[ids[0]]["labelIds"]
    assert second.bookmark("email") == {"history_id": str(app.mailbox("gmail-acct1").history_id)}

    calls = Calls(Calls.of(sandbox).entries[requests_before:])
    assert [e.path.rsplit("/", 1)[-1] for e in calls.api] == ["history", "v1"]  # history + one batch
    assert calls.paths("/history")[0].query["startHistoryId"] == [first.bookmark("email")["history_id"]]

    third = run_tap(make_config(), state=second.last_state)
    assert third.records() == []
    assert third.bookmark("email") == second.bookmark("email")


def test_start_date_limits_the_first_backfill(sandbox, make_config, app, run_tap):
    start = datetime(2025, 9, 25, tzinfo=UTC)
    run = run_tap(make_config("gmail-acct2", start_date=start.isoformat()))

    cutoff = int(start.timestamp() * 1000)
    expected = {i: r for i, r in app.resources("gmail-acct2").items() if int(r["internalDate"]) >= cutoff}
    assert 0 < len(expected) < len(app.resources("gmail-acct2"))
    assert run.by_id() == expected
    listing = Calls.of(sandbox).paths("/messages")[0]
    assert listing.query["q"] == [f"after:{int(start.timestamp())}"]


def test_label_and_spam_trash_filters(make_config, app, run_tap):
    labelled = run_tap(make_config("gmail-acct1", label_ids=["Label_2"]))
    everything = run_tap(make_config("gmail-acct1", include_spam_trash=True))

    all_messages = app.resources("gmail-acct1", include_spam_trash=True)
    assert labelled.by_id() == {i: r for i, r in app.resources("gmail-acct1").items() if "Label_2" in r["labelIds"]}
    assert len(labelled.records()) > 0
    assert everything.by_id() == all_messages
    assert any("SPAM" in r["labelIds"] for r in everything.records())
    assert any("TRASH" in r["labelIds"] for r in everything.records())


def test_query_applies_to_backfill_and_incremental(make_config, app, run_tap):
    config = make_config("gmail-acct2", q="subject:invoice")
    first = run_tap(config)
    expected = {
        i: r
        for i, r in app.resources("gmail-acct2").items()
        if any(h["name"] == "Subject" and "invoice" in h["value"].lower() for h in r["payload"]["headers"])
    }
    assert first.by_id() == expected
    assert len(expected) > 0

    matching = app.add_message("gmail-acct2", "Invoice INV-90001 for services rendered", "Amount due: $120.00")
    app.add_message("gmail-acct2", "Payment received - thank you", "We received your payment.")
    second = run_tap(config, state=first.last_state)
    assert set(second.by_id()) == {matching}


def test_raw_and_metadata_formats(sandbox, make_config, app, run_tap):
    raw = run_tap(make_config("gmail-acct2", message_format="raw"))
    assert raw.by_id() == app.resources("gmail-acct2", "raw")
    assert all("raw" in r and "payload" not in r for r in raw.records())

    meta = run_tap(make_config("gmail-acct2", message_format="metadata", metadata_headers=["From", "Subject"]))
    sample = meta.records()[0]
    assert {h["name"] for h in sample["payload"]["headers"]} == {"From", "Subject"}
    assert "parts" not in sample["payload"]
    assert Calls.of(sandbox).batch_items[-1].query["metadataHeaders"] == ["From", "Subject"]


def test_service_account_with_domain_wide_delegation(sandbox, make_config, app, run_tap):
    run = run_tap(make_config("gmail-acct3"))
    assert run.by_id() == app.resources("gmail-acct3")
    assert len(Calls.of(sandbox).tokens) == 1


def test_interrupted_backfill_resumes_from_its_last_page(make_config, app, set_faults, run_tap):
    config = make_config("gmail-acct3", page_size=50, batch_size=25, max_attempts=2)
    # profile, then per page: list + 2 batches. Request 9 (third page's first batch) and after fail.
    set_faults(fail_after=8, retry_after=0)
    interrupted = run_tap(config, expect_error=RetriableAPIError)

    assert len(interrupted.records()) == 100  # two complete pages
    progress = interrupted.bookmark("email")["backfill"]
    assert progress["page_token"]
    assert "history_id" not in interrupted.bookmark("email")  # not complete: later runs must not skip to history

    set_faults(fail_after=None)
    app.add_message("gmail-acct3", "Referral: new client", "Referral letter attached.")  # arrives meanwhile
    resumed = run_tap(config, state=interrupted.last_state)

    expected = app.resources("gmail-acct3")
    assert len(resumed.records()) == len(expected) - 1 - 100  # only the pages not yet emitted
    assert {**interrupted.by_id(), **resumed.by_id()}.keys() == expected.keys() - {max(expected)}
    assert resumed.bookmark("email") == {"history_id": progress["history_id"]}

    caught_up = run_tap(config, state=resumed.last_state)  # the message added during the backfill comes from history
    assert set(caught_up.by_id()) == {max(expected)}
    assert {**interrupted.by_id(), **resumed.by_id(), **caught_up.by_id()} == expected


def test_interrupted_incremental_run_resumes_without_gaps(make_config, app, set_faults, run_tap):
    config = make_config("gmail-acct1", page_size=5, max_attempts=2)
    first = run_tap(make_config("gmail-acct1"))
    ids = lacking(first.by_id(), "STARRED")[:12]
    for mid in ids:
        app.modify_labels("gmail-acct1", mid, add=["STARRED"])
    new = [app.add_message("gmail-acct1", f"Question {n}", "Is parking available?") for n in range(6)]

    # history pages of 5 records: page 1 -> history + batch, page 2 -> history + batch, then failure
    set_faults(fail_after=4, retry_after=0)
    interrupted = run_tap(config, state=first.last_state, expect_error=RetriableAPIError)
    assert 0 < len(interrupted.records()) < len(ids) + len(new)
    assert interrupted.bookmark("email")["history_id"] != first.bookmark("email")["history_id"]

    set_faults(fail_after=None)
    resumed = run_tap(config, state=interrupted.last_state)
    current = app.resources("gmail-acct1")
    changed = set(ids) | set(new)
    assert set(interrupted.by_id()) | set(resumed.by_id()) == changed
    assert {**interrupted.by_id(), **resumed.by_id()} == {i: current[i] for i in changed}
    assert len(resumed.records()) < len(changed)  # it resumed, it did not start over
