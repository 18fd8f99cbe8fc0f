"""Faults injected by the sandbox: throttling, 5xx, broken bodies, token expiry, denied access, secrets."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from lorchestra_sandbox import dataverse
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from tap_dataverse.tap import TapDataverse

API = "/api/data/v9.2"


def _statuses(app, prefix=API):
    return [c.status for c in app.api_calls(prefix)]


def test_429_storm_is_retried_after_retry_after(app, config, run_tap, set_faults):
    set_faults(throttle=2, retry_after=1)
    started = time.monotonic()
    run = run_tap(config)
    elapsed = time.monotonic() - started

    assert run.error is None
    assert run.records("contact") == app.records("contacts")
    assert _statuses(app)[:3] == [429, 429, 200]
    assert elapsed >= 2.0  # both Retry-After: 1 were honoured (backoff_base_seconds is 0.01)


def test_server_errors_are_retried(app, config, run_tap, set_faults):
    set_faults(server_errors=3, retry_after=0)
    run = run_tap(config)

    assert run.error is None
    assert run.records("session") == app.records("cr8a1_sessions")
    assert _statuses(app).count(503) == 3


def test_server_errors_beyond_max_attempts_fail_the_run(app, config, run_tap, set_faults):
    set_faults(server_errors=10, retry_after=0)
    run = run_tap({**config, "max_attempts": 3}, expect_error=RetriableAPIError)

    assert "HTTP 503" in str(run.error)
    assert _statuses(app) == [503, 503, 503]


def test_truncated_page_is_requested_again(app, config, run_tap, set_faults):
    catalog = TapDataverse(config=config, parse_env_config=False).catalog_dict  # no metadata calls below
    app.requests.clear()
    set_faults(truncate=1)  # the first page of contacts arrives cut in half
    run = run_tap(config, catalog=catalog)

    assert run.error is None
    assert run.records("contact") == app.records("contacts")
    first, again = app.api_calls(f"{API}/contacts")[:2]
    assert first.query == again.query
    assert first.query["$orderby"] == ["modifiedon asc,contactid asc"]


def test_token_invalidated_mid_run_is_refreshed_without_loss_or_repeat(app, config, run_tap, set_faults):
    set_faults(expire_tokens_after=11)  # metadata (9) and two pages of contacts, then every token dies
    run = run_tap(config)

    assert run.error is None
    for stream, entity_set in {"contact": "contacts", "session": "cr8a1_sessions"}.items():
        assert run.records(stream) == app.records(entity_set)  # each row exactly once
    assert _statuses(app).count(401) == 1
    assert len([r for r in app.requests if r.kind == "token"]) == 2


def test_token_expiring_by_its_lifetime_is_renewed_before_use(app, config, run_tap, set_faults):
    set_faults(token_lifetime=1, delay=0.3)  # expires_in: 1 -> the tap renews ahead of expiry, no 401
    run = run_tap({**config, "entity_sets": {}, "page_size": 30})

    assert run.error is None
    assert run.records("contact") == app.records("contacts")
    assert 401 not in _statuses(app)
    assert len([r for r in app.requests if r.kind == "token"]) > 2


def test_forbidden_table_fails_with_what_to_fix_and_is_not_retried(app, config, run_tap, set_faults):
    set_faults(forbid=["cr8a1_reports"])
    run = run_tap(config, expect_error=FatalAPIError)

    message = str(run.error)
    assert "HTTP 403" in message
    assert "cr8a1_reports" in message
    assert "prvReadcr8a1_report" in message
    assert "security role" in message
    assert _statuses(app, f"{API}/cr8a1_reports") == [403]


def test_unknown_entity_set_says_which_setting_is_wrong(app, config, run_tap):
    config = {**config, "entity_sets": {"session": "cr8a1_sessions", "report": "cr8a1_reportz"}}
    run = run_tap(config, expect_error=FatalAPIError)

    assert "no table whose entity set is 'cr8a1_reportz'" in str(run.error)
    assert "entity_sets.report" in str(run.error)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"client_secret": "not-the-secret-value"}, "AADSTS7000215"),
        ({"tenant_id": "00000000-0000-0000-0000-000000000000"}, "AADSTS90002"),
        ({"environment_url": "https://other.crm.dynamics.com"}, "AADSTS500011"),
    ],
)
def test_rejected_credentials_are_explained_once(sandbox, app, config, run_tap, overrides, expected):
    run = run_tap({**config, **overrides}, expect_error=FatalAPIError)

    assert expected in str(run.error)
    assert "not-the-secret-value" not in str(run.error)
    assert len([r for r in app.requests if r.kind == "token"]) == 1  # not retried
    assert app.api_calls() == []


def test_ratelimit_headers_slow_the_tap_down(app, config, run_tap, set_faults):
    set_faults(ratelimit_remaining=22)  # after two requests, fewer than 20 remain: pause before each next one
    config = {**config, "ratelimit_pause_seconds": 0.1}
    started = time.monotonic()
    run = run_tap(config)
    elapsed = time.monotonic() - started

    assert run.error is None
    requests_made = len(app.api_calls())
    assert requests_made == 21
    assert elapsed >= 0.1 * (requests_made - 3)


def test_secrets_never_reach_stdout_stderr_or_state(sandbox, app, config, tmp_path):
    def cli(cfg):
        path = tmp_path / "config.json"
        path.write_text(json.dumps(cfg))
        return subprocess.run(
            [sys.executable, "-m", "tap_dataverse.tap", "--config", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )

    wrong = "wrong-" + dataverse.CLIENT_SECRET[::-1]
    failed = cli({**config, "client_secret": wrong})
    assert failed.returncode != 0
    assert "AADSTS7000215" in failed.stderr
    good = cli(config)
    assert good.returncode == 0, good.stderr[-2000:]
    tokens = list(app.tokens.valid)
    assert tokens
    for output in (failed.stdout, failed.stderr, good.stdout, good.stderr):
        assert dataverse.CLIENT_SECRET not in output
        assert wrong not in output
        for token in tokens:
            assert token not in output
    # Record contents are not logged: a client's e-mail address appears in RECORD messages only.
    email = app.records("contacts")[0]["emailaddress1"]
    assert email in good.stdout
    assert email not in good.stderr
