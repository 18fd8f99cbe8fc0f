"""Token requests to Google are retried like API calls: at start and at a refresh mid-run (issue 14 item 3)."""

from __future__ import annotations

import pytest
from gmail_testkit import Calls, app_of, run_tap, set_faults, tap_config

CONNECTIONS = ("gmail-acct1", "gmail-acct3")  # an OAuth user, and a service account with delegation


@pytest.mark.parametrize("connection", CONNECTIONS)
@pytest.mark.parametrize("fault", ["429", "503", "drop"])
def test_token_request_at_start_is_retried(gmail, connection, fault):
    set_faults(gmail, token_faults=[fault, fault], retry_after=0)
    run = run_tap(tap_config(gmail, connection))

    assert run.error is None, run.error
    assert run.by_id == app_of(gmail).resources(connection)
    assert [e.status for e in Calls.of(gmail).tokens][-1] == 200
    assert len(Calls.of(gmail).tokens) == 3


@pytest.mark.parametrize("connection", CONNECTIONS)
def test_token_refresh_mid_run_is_retried(gmail, connection):
    # Tokens that live 200 s are already "expiring" for google-auth (it refreshes 3 min 45 s early): the
    # tap refreshes before every request, and the first refresh meets a 429, a drop and a 503.
    set_faults(gmail, token_faults=["ok", "429", "drop", "503"], retry_after=0, token_lifetime=200)
    run = run_tap(tap_config(gmail, connection))

    assert run.error is None, run.error
    assert run.by_id == app_of(gmail).resources(connection)
    assert [e.status for e in Calls.of(gmail).tokens][:5] == [200, 429, 500, 503, 200]


def test_token_failures_beyond_max_attempts_fail_the_run_once(gmail):
    set_faults(gmail, token_faults=["503"] * 10, retry_after=0)
    run = run_tap(tap_config(gmail, "gmail-acct1", max_attempts=3), expect_error=True)

    assert "Gave up the token request after 3 attempts" in str(run.error)
    assert [e.status for e in Calls.of(gmail).tokens] == [503, 503, 503]
    assert Calls.of(gmail).api == []
    assert run.records == []
