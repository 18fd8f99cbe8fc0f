"""Token requests to Google are retried like API calls: at start and at a refresh mid-run (issue 14 item 3)."""

from __future__ import annotations

import pytest
from lorchestra_tapkit.tokens import TokenRequestError

CONNECTIONS = ("google-forms-intake-01", "google-forms-ipip120")  # an OAuth user, and a service account


def _token_statuses(app) -> list[int]:
    return [r.status for r in app.requests if r.kind == "token"]


@pytest.mark.parametrize("connection", CONNECTIONS)
@pytest.mark.parametrize("fault", ["429", "503", "drop"])
def test_token_request_at_start_is_retried(app, make_config, run_tap, set_faults, connection, fault):
    set_faults(token_faults=[fault, fault], retry_after=0)
    run = run_tap(make_config(connection))

    assert run.error is None, run.error
    assert sorted(run.ids("form_response")) == sorted(r["responseId"] for r in app.responses(app.form_id(connection)))
    assert _token_statuses(app) == [*([500] if fault == "drop" else [int(fault)]) * 2, 200]


@pytest.mark.parametrize("connection", CONNECTIONS)
def test_token_refresh_mid_run_is_retried(app, make_config, run_tap, set_faults, connection):
    # Tokens that live 200 s are already "expiring" for google-auth (it refreshes 3 min 45 s early): the
    # tap refreshes before every request, and the first refresh meets a 429, a drop and a 503.
    set_faults(token_faults=["ok", "429", "drop", "503"], retry_after=0, token_lifetime=200)
    run = run_tap(make_config(connection))

    assert run.error is None, run.error
    assert sorted(run.ids("form_response")) == sorted(r["responseId"] for r in app.responses(app.form_id(connection)))
    assert _token_statuses(app)[:5] == [200, 429, 500, 503, 200]


def test_token_failures_beyond_max_attempts_fail_the_run_once(app, make_config, run_tap, set_faults):
    set_faults(token_faults=["429"] * 10, retry_after=0)
    run = run_tap(make_config(max_attempts=3), expect_error=TokenRequestError)

    assert "Gave up the token request after 3 attempts" in str(run.error)
    assert _token_statuses(app) == [429, 429, 429]
    assert app.api_calls() == []
