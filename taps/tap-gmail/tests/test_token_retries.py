"""Token requests to Google are retried like API calls: at start and at a refresh mid-run (issue 14 item 3)."""

from __future__ import annotations

import pytest
from lorchestra_tapkit.tokens import TokenRequestError
from lorchestra_testing import Calls

CONNECTIONS = ("gmail-acct1", "gmail-acct3")  # an OAuth user, and a service account with delegation


@pytest.mark.parametrize("connection", CONNECTIONS)
@pytest.mark.parametrize("fault", ["429", "503", "drop"])
def test_token_request_at_start_is_retried(sandbox, connection, fault, make_config, app, set_faults, run_tap):
    set_faults(token_faults=[fault, fault], retry_after=0)
    run = run_tap(make_config(connection))

    assert run.error is None, run.error
    assert run.by_id() == app.resources(connection)
    assert [e.status for e in Calls.of(sandbox).tokens][-1] == 200
    assert len(Calls.of(sandbox).tokens) == 3


@pytest.mark.parametrize("connection", CONNECTIONS)
def test_token_refresh_mid_run_is_retried(sandbox, connection, make_config, app, set_faults, run_tap):
    # Tokens that live 200 s are already "expiring" for google-auth (it refreshes 3 min 45 s early): the
    # tap refreshes before every request, and the first refresh meets a 429, a drop and a 503.
    set_faults(token_faults=["ok", "429", "drop", "503"], retry_after=0, token_lifetime=200)
    run = run_tap(make_config(connection))

    assert run.error is None, run.error
    assert run.by_id() == app.resources(connection)
    assert [e.status for e in Calls.of(sandbox).tokens][:5] == [200, 429, 500, 503, 200]


def test_token_failures_beyond_max_attempts_fail_the_run_once(sandbox, make_config, set_faults, run_tap):
    set_faults(token_faults=["503"] * 10, retry_after=0)
    run = run_tap(make_config("gmail-acct1", max_attempts=3), expect_error=TokenRequestError)

    assert "Gave up the token request after 3 attempts" in str(run.error)
    assert [e.status for e in Calls.of(sandbox).tokens] == [503, 503, 503]
    assert Calls.of(sandbox).api == []
    assert run.records() == []
