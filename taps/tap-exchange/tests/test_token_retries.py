"""Token requests to Entra ID are retried like API calls: at start and at a refresh mid-run (issue 14 item 3)."""

from __future__ import annotations

import pytest
from lorchestra_tapkit.tokens import TokenRequestError


def _token_statuses(app) -> list[int]:
    return [r.status for r in app.requests if r.kind == "token"]


@pytest.mark.parametrize("fault", ["429", "503", "drop"])
def test_token_request_at_start_is_retried(app, config, run_tap, expected, set_faults, fault):
    set_faults(token_faults=[fault, fault], retry_after=0)
    run = run_tap(config)

    assert run.error is None, run.error
    assert sorted(run.ids()) == sorted(expected())
    assert len(_token_statuses(app)) == 3
    assert _token_statuses(app)[-1] == 200


def test_token_refresh_mid_run_is_retried(app, config, run_tap, expected, set_faults):
    # Graph revokes the first token after 4 API requests; the refresh meets a 429, a drop and a 503.
    set_faults(token_faults=["ok", "429", "drop", "503"], retry_after=0, expire_tokens_after=4)
    run = run_tap(config)

    assert run.error is None, run.error
    assert sorted(run.ids()) == sorted(expected())
    assert _token_statuses(app) == [200, 429, 500, 503, 200]


def test_token_failures_beyond_max_attempts_fail_the_run_once(app, config, run_tap, set_faults):
    set_faults(token_faults=["429"] * 10, retry_after=0)
    run = run_tap({**config, "max_attempts": 3}, expect_error=TokenRequestError)

    assert "Gave up the token request after 3 attempts" in str(run.error)
    assert _token_statuses(app) == [429, 429, 429]
    assert run.ids() == []
