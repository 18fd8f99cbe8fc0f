"""Faults: 429 storms, 5xx, truncated bodies, token expiry mid-run, refused page tokens, 401/403/404."""

from __future__ import annotations

import time
import typing as t

from lorchestra_sandbox.forms import INTAKE_REFRESH_TOKEN, NO_ACCESS_REFRESH_TOKEN
from lorchestra_tapkit.tokens import TokenRequestError
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError, RetriableAPIError

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from lorchestra_sandbox.forms import FormsApp

INTAKE = "google-forms-intake-01"


def _statuses(app: FormsApp) -> list[int]:
    return [c.status for c in app.api_calls()]


def _token_calls(app: FormsApp) -> int:
    return sum(1 for r in app.requests if r.kind == "token")


def _assert_complete(app: FormsApp, run: t.Any) -> None:
    assert run.error is None
    assert sorted(run.ids("form_response")) == sorted(r["responseId"] for r in app.responses(app.form_id(INTAKE)))


def test_a_429_storm_is_ridden_out(
    app: FormsApp, make_config: Callable, run_tap: Callable, set_faults: Callable
) -> None:
    set_faults(throttle=3, retry_after=0)
    run = run_tap(make_config(max_attempts=5))

    _assert_complete(app, run)
    assert _statuses(app)[:4] == [429, 429, 429, 200]
    assert len(run.ids("form_response")) == len(set(run.ids("form_response")))


def test_retry_after_is_honoured(app: FormsApp, make_config: Callable, run_tap: Callable, set_faults: Callable) -> None:
    set_faults(throttle=1, retry_after=1)
    started = time.monotonic()
    run = run_tap(make_config(backoff_base_seconds=0.01))
    elapsed = time.monotonic() - started

    _assert_complete(app, run)
    assert elapsed >= 1.0  # the exponential backoff alone would have waited ~0.01 s
    assert _statuses(app).count(429) == 1


def test_retry_after_is_capped(app: FormsApp, make_config: Callable, run_tap: Callable, set_faults: Callable) -> None:
    set_faults(throttle=1, retry_after=30)
    started = time.monotonic()
    run = run_tap(make_config(backoff_max_seconds=0.2))

    _assert_complete(app, run)
    assert time.monotonic() - started < 10


def test_server_errors_are_retried(
    app: FormsApp, make_config: Callable, run_tap: Callable, set_faults: Callable
) -> None:
    set_faults(server_errors=2, retry_after=0)
    run = run_tap(make_config())

    _assert_complete(app, run)
    assert _statuses(app)[:3] == [503, 503, 200]


def test_a_dead_upstream_fails_after_max_attempts(
    app: FormsApp, make_config: Callable, run_tap: Callable, set_faults: Callable
) -> None:
    set_faults(fail_after=0, retry_after=0)
    run = run_tap(make_config(max_attempts=3), expect_error=RetriableAPIError)

    assert run.error is not None
    assert "503" in str(run.error)
    assert _statuses(app) == [503, 503, 503]
    assert run.ids("form_response") == []


def test_a_truncated_body_is_fetched_again(
    app: FormsApp, make_config: Callable, run_tap: Callable, set_faults: Callable
) -> None:
    set_faults(truncate=2)
    run = run_tap(make_config())

    _assert_complete(app, run)
    assert len(run.ids("form_response")) == len(set(run.ids("form_response")))


def test_an_access_token_expiring_mid_run_is_refreshed_without_losing_or_repeating_pages(
    app: FormsApp, make_config: Callable, run_tap: Callable, set_faults: Callable
) -> None:
    # The form and the first page succeed; then every access token issued so far becomes invalid.
    set_faults("/_sandbox/forms/faults", expire_tokens_after=2)
    run = run_tap(make_config())

    _assert_complete(app, run)
    assert len(run.ids("form_response")) == len(
        set(run.ids("form_response"))
    )  # the refused page was asked again, not skipped or doubled
    assert _statuses(app) == [200, 200, 401, 200, 200, 200]
    assert _token_calls(app) == 2
    list_calls = [c for c in app.api_calls() if c.path.endswith("/responses")]
    assert list_calls[1].query == list_calls[2].query  # the same page, same token, after the refresh


def test_a_refused_page_token_restarts_the_listing(
    app: FormsApp, make_config: Callable, run_tap: Callable, set_faults: Callable
) -> None:
    # The form and two pages succeed; then every outstanding page token is invalid (400 INVALID_ARGUMENT).
    set_faults("/_sandbox/forms/faults", expire_page_tokens_after=3)
    run = run_tap(make_config())

    assert run.error is None
    assert set(run.ids("form_response")) == {r["responseId"] for r in app.responses(app.form_id(INTAKE))}
    assert 400 in _statuses(app)
    list_calls = [c for c in app.api_calls() if c.path.endswith("/responses")]
    assert len([c for c in list_calls if "pageToken" not in c.query]) == 2  # listed again from page one, once
    assert len(run.ids("form_response")) == 150 + 2 * 40  # at-least-once: the two pages already sent come again


def test_permission_denied_is_not_retried_and_says_what_to_fix(
    app: FormsApp, make_config: Callable, run_tap: Callable
) -> None:
    config = make_config()
    config["refresh_token"] = NO_ACCESS_REFRESH_TOKEN
    run = run_tap(config, expect_error=FatalAPIError)

    assert run.error is not None
    message = str(run.error)
    assert "Permission denied" in message
    assert "PERMISSION_DENIED" in message
    assert "share the form" in message
    assert INTAKE in message
    assert _statuses(app) == [403]


def test_a_wrong_form_id_is_not_retried_and_says_what_to_fix(
    app: FormsApp, make_config: Callable, run_tap: Callable
) -> None:
    run = run_tap(make_config(form_id="1FAIpQLSdoesNotExist"), expect_error=FatalAPIError)

    assert run.error is not None
    assert "1FAIpQLSdoesNotExist" in str(run.error)
    assert "not found" in str(run.error)
    assert "/forms/d/<form_id>/edit" in str(run.error)
    assert _statuses(app) == [404]


def test_a_revoked_refresh_token_fails_with_googles_reason(
    app: FormsApp, make_config: Callable, run_tap: Callable
) -> None:
    app.revoke_refresh_token(INTAKE_REFRESH_TOKEN)
    run = run_tap(make_config(), expect_error=TokenRequestError)

    assert run.error is not None
    assert "invalid_grant" in str(run.error)
    assert "Token has been expired or revoked" in str(run.error)
    assert _statuses(app) == []


def test_credentials_rejected_by_the_api_fail_after_two_refreshes(
    app: FormsApp, make_config: Callable, run_tap: Callable
) -> None:
    app.tokens.lifetime = -10_000  # the token endpoint hands out tokens the API considers expired
    run = run_tap(make_config(), expect_error=FatalAPIError)

    assert run.error is not None
    assert "keeps rejecting freshly issued access tokens" in str(run.error)
    assert _statuses(app) == [401, 401, 401]


def test_service_account_credentials(app: FormsApp, make_config: Callable, run_tap: Callable) -> None:
    config = make_config("google-forms-ipip120")
    assert "service_account_info" in config
    run = run_tap(config)

    assert run.error is None
    assert len(run.ids("form_response")) == len(app.responses(app.form_id("google-forms-ipip120")))
    token_requests = [r for r in app.requests if r.kind == "token"]
    assert [r.status for r in token_requests] == [200]


def test_a_service_account_without_domain_wide_delegation_cannot_impersonate(
    app: FormsApp, make_config: Callable, run_tap: Callable
) -> None:
    config = make_config("google-forms-ipip120")
    config["delegated_user"] = "clinic-admin@northside-clinic.example"
    run = run_tap(config, expect_error=TokenRequestError)

    assert run.error is not None
    assert "unauthorized_client" in str(run.error)


def test_exactly_one_kind_of_credentials(make_config: Callable, run_tap: Callable) -> None:
    config = make_config()
    del config["refresh_token"]
    run = run_tap(config, expect_error=ConfigValidationError)
    assert run.error is not None
    assert "Configure exactly one credential" in str(run.error)
