"""Token requests to Entra ID are retried like API calls: at start and at a refresh mid-run (issue 14 item 3)."""

from __future__ import annotations

import email.utils
import time

import pytest
from lorchestra_tapkit.tokens import TokenRequestError


def _token_statuses(app) -> list[int]:
    return [r.status for r in app.requests if r.kind == "token"]


@pytest.mark.parametrize("fault", ["429", "503", "drop"])
def test_token_request_at_start_is_retried(app, config, run_tap, set_faults, fault):
    set_faults(token_faults=[fault, fault], retry_after=0)
    run = run_tap(config)

    assert run.error is None, run.error
    assert run.records("contact") == app.records("contacts")
    assert run.records("session") == app.records("cr8a1_sessions")
    assert _token_statuses(app)[-1] == 200
    assert len(_token_statuses(app)) == 3  # two faults, one success, then the token is reused


def test_token_refresh_mid_run_is_retried(app, config, run_tap, set_faults):
    # The first token works for 5 API requests, then Entra ID throttles, drops and fails the refresh.
    set_faults(token_faults=["ok", "429", "drop", "503"], retry_after=0, expire_tokens_after=5)
    run = run_tap(config)

    assert run.error is None, run.error
    for stream, entity_set in (("contact", "contacts"), ("session", "cr8a1_sessions"), ("report", "cr8a1_reports")):
        assert run.records(stream) == app.records(entity_set)
    assert _token_statuses(app) == [200, 429, 500, 503, 200]  # 500: the dropped connection, as logged


def test_token_retry_after_http_date_is_honoured(app, config, run_tap, set_faults):
    # Entra ID answers a throttled client-credentials request 429 with Retry-After (MSAL docs); the
    # header may be an HTTP date (RFC 9110): wait until then.
    set_faults(token_faults=["429"], retry_after=email.utils.formatdate(time.time() + 2, usegmt=True))
    started = time.monotonic()
    run = run_tap(config)

    assert run.error is None, run.error
    assert time.monotonic() - started >= 1.0  # an HTTP date has whole seconds: at least 1 s of the 2
    assert _token_statuses(app) == [429, 200]


def test_token_failures_beyond_max_attempts_fail_the_run_once(app, config, run_tap, set_faults):
    set_faults(token_faults=["503"] * 10, retry_after=0)
    run = run_tap({**config, "max_attempts": 3}, expect_error=TokenRequestError)

    assert "Gave up the token request after 3 attempts" in str(run.error)
    assert _token_statuses(app) == [503, 503, 503]  # the stream does not start the token's retries over
    assert not [m for m in run.messages if m["type"] == "RECORD"]
