"""Documented Graph edges: the 5,000-message cap of a filtered delta, expired delta tokens, ``$select``."""

from __future__ import annotations

import logging

import pytest
from lorchestra_sandbox.graph import FILTERED_DELTA_CAP

MAILBOX = "ben@mensio.example"


def test_start_date_never_caps_a_folder_at_5000_messages(app, make_config, run_tap, expected):
    """Graph: "applying $filter in a delta query returns only up to 5,000 messages"."""
    app.add_messages(MAILBOX, "billing", FILTERED_DELTA_CAP + 40)
    billing = app.folder_ids(MAILBOX)["Inbox/Billing"]
    config = make_config(folders=[billing], start_date="2024-01-01T00:00:00Z", page_size=1000)

    run = run_tap(config)

    want = expected(folders=["billing"])
    assert len(want) > FILTERED_DELTA_CAP
    assert sorted(run.ids()) == sorted(want)  # every message, once
    assert not [c for c in app.api_calls() if "$filter" in c.query]


def test_start_date_is_applied_to_each_message(app, make_config, run_tap, expected):
    start = "2024-09-01T00:00:00Z"
    run = run_tap(make_config(start_date=start))

    want = {i for i, m in expected().items() if m["receivedDateTime"] >= start}
    assert 0 < len(want) < len(expected())
    assert sorted(run.ids()) == sorted(want)


SHAPES = [
    (410, "syncStateNotFound", False),
    (410, "resyncRequired", True),
    (400, "resyncRequired", False),
    (400, "resyncRequired", True),
    (400, "syncStateNotFound", False),
    (404, "syncStateNotFound", True),
    (404, "resyncRequired", False),
    (400, "resyncApplyDifferences", True),
    (400, "resyncUploadDifferences", True),
]


@pytest.mark.parametrize(("status", "code", "inner"), SHAPES)
def test_every_expired_delta_token_shape_resets_the_folder(
    app, config, run_tap, expected, set_faults, caplog, status, code, inner
):
    first = run_tap(config)
    set_faults(expire_sync=True, sync_error_status=status, sync_error_code=code, sync_error_inner=inner)
    added = app.add_message(MAILBOX, "billing")

    with caplog.at_level(logging.WARNING):
        second = run_tap(config, state=first.states[-1])

    refused = [c for c in app.api_calls() if c.status == status and "$deltatoken" in c.query]
    folders = len(second.partitions("email", "folder_id"))
    assert len(refused) == folders  # each folder's stored link was refused once ...
    assert sorted(second.ids()) == sorted(expected())  # ... and that folder was synced again, in full
    assert added in second.ids()
    assert caplog.text.count("is no longer valid") == folders
    assert code in caplog.text
    assert all("$deltatoken" not in p.get("next_link", "") for p in second.partitions("email", "folder_id").values())
    third = run_tap(config, state=second.states[-1])
    assert third.records() == []  # the new delta links work


def test_a_404_that_is_not_about_sync_state_still_fails(app, make_config, run_tap):
    from singer_sdk.exceptions import FatalAPIError

    run = run_tap(make_config(folders=["no-such-folder"]), expect_error=FatalAPIError)
    assert "ErrorItemNotFound" in str(run.error)


def test_deselected_properties_are_not_requested(app, config, run_tap, expected):
    from tap_exchange.tap import TapExchange

    catalog = TapExchange(config=config, parse_env_config=False).catalog_dict
    by_breadcrumb = {tuple(e["breadcrumb"]): e["metadata"] for e in catalog["streams"][0]["metadata"]}
    # returned by Graph only when named in $select: offered, not selected by default
    assert by_breadcrumb[("properties", "uniqueBody")]["selected-by-default"] is False
    assert by_breadcrumb[("properties", "internetMessageHeaders")]["selected-by-default"] is False
    by_breadcrumb[("properties", "body")]["selected"] = False
    by_breadcrumb[("properties", "internetMessageHeaders")]["selected"] = True

    run = run_tap(config, catalog=catalog)

    deltas = [c for c in app.api_calls() if c.path.endswith("/messages/delta") and "$select" in c.query]
    assert deltas
    select = deltas[0].query["$select"][0].split(",")
    assert "body" not in select
    assert "uniqueBody" not in select
    assert {"subject", "receivedDateTime", "internetMessageHeaders"} <= set(select)
    assert sorted(run.ids()) == sorted(expected())
    record = run.records()[0]
    assert "body" not in record
    assert record["internetMessageHeaders"][0]["name"] == "Message-ID"  # only returned when selected
    folder_calls = [c for c in app.api_calls() if c.path.endswith("/mailFolders")]
    assert folder_calls[0].query["$select"] == ["id,childFolderCount"]


def test_every_property_selected_asks_for_graphs_default_set(app, config, run_tap, expected):
    run = run_tap(config)

    assert not [c for c in app.api_calls() if c.path.endswith("/messages/delta") and "$select" in c.query]
    assert all(record == expected()[record["id"]] for record in run.records())


def test_a_refused_link_leaves_state_even_when_the_full_round_then_fails(
    app, make_config, run_tap, expected, set_faults
):
    """Today's bug: a 400 resyncRequired kept the broken link in STATE, so every later run failed."""
    from singer_sdk.exceptions import RetriableAPIError

    config = make_config(max_attempts=2)
    first = run_tap(config)
    # 3 folder listings and the refused delta link succeed, then the upstream dies during the full round
    set_faults(expire_sync=True, sync_error_status=400, sync_error_code="resyncRequired", fail_after=4, retry_after=0)

    broken = run_tap(config, state=first.states[-1], expect_error=RetriableAPIError)

    reset = [
        p for p in broken.partitions("email", "folder_id").values() if "delta_link" not in p and "next_link" not in p
    ]
    assert len(reset) == 1  # the refused folder: its broken link is gone from the last STATE
    set_faults(fail_after=None)
    healed = run_tap(config, state=broken.states[-1])
    assert set(healed.ids()) == set(expected())  # every folder's link was refused: all synced again


def test_links_stored_with_a_capped_filter_are_replaced(app, make_config, run_tap, expected, caplog):
    """STATE written before this fix holds links opened with the capped $filter: those folders start over."""
    start = "2024-09-01T00:00:00Z"
    config = make_config(start_date=start)
    first = run_tap(config)
    old_state = first.states[-1]
    for part in old_state["bookmarks"]["email"]["partitions"]:
        del part["no_filter"]  # as an older version of the tap left it

    with caplog.at_level(logging.WARNING):
        again = run_tap(config, state=old_state)

    assert caplog.text.count("synced with a capped $filter") == len(again.partitions("email", "folder_id"))
    assert sorted(again.ids()) == sorted(i for i, m in expected().items() if m["receivedDateTime"] >= start)
    assert run_tap(config, state=again.states[-1]).records() == []  # the new links are kept
