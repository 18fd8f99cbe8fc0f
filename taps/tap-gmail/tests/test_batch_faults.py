"""What Google's batch guide allows in a batch response, and what the tap does about it.

Parts come back in request order, each matched to its request by ``Content-ID: <response-...>``; a 200 batch can
hold 401 parts when the access token runs out mid-batch (googleapiclient's BatchHttpRequest then refreshes the
credentials and re-sends those parts once).
"""

from __future__ import annotations

import logging

import pytest
from lorchestra_testing import Calls
from tap_gmail.auth import GoogleAuthError


@pytest.mark.parametrize("order", ["request", "reverse", "shuffle"])
def test_parts_are_matched_by_content_id_in_any_order(order, make_config, app, set_faults, run_tap):
    set_faults(batch_part_order=order)
    run = run_tap(make_config("gmail-acct2"))
    expected = app.resources("gmail-acct2")
    assert run.by_id() == expected  # each id carries its own message: nothing paired with the wrong request
    assert len(run.records()) == len(expected)


def test_a_token_expiring_mid_batch_is_refreshed_and_only_the_401_parts_are_sent_again(
    sandbox, caplog, make_config, app, set_faults, run_tap
):
    set_faults(batch_expire_tokens_after_parts=10)
    config = make_config("gmail-acct2", backoff_base_seconds=30, backoff_max_seconds=60)
    with caplog.at_level(logging.INFO):
        run = run_tap(config)

    expected = app.resources("gmail-acct2")
    assert run.by_id() == expected
    assert len(run.records()) == len(expected)  # no duplicates
    calls = Calls.of(sandbox)
    assert [e.status for e in calls.tokens] == [200, 200]  # one refresh
    assert sum(1 for e in calls.batch_items if e.status == 401) == 40  # the first batch of 50, after 10 parts
    assert len(calls.batch_items) == len(expected) + 40
    assert run.tap.streams["email"].authenticator.refreshes == 2
    # Re-sent at once after the refresh, as Google's client does: no backoff wait for an expired token.
    assert not [r for r in caplog.records if "retrying them in" in r.getMessage()]


def test_parts_still_401_after_a_refresh_fail_the_run_and_say_so(sandbox, make_config, set_faults, run_tap):
    set_faults(batch_item_unauthorized=10_000)
    run = run_tap(make_config("gmail-acct2"), expect_error=GoogleAuthError)

    assert "rejected a freshly refreshed access token" in str(run.error)
    calls = Calls.of(sandbox)
    assert len(calls.paths("/batch/gmail/v1")) == 2  # the batch, then its 401 parts once more
    assert [e.status for e in calls.tokens] == [200, 200]
    assert run.records() == []
