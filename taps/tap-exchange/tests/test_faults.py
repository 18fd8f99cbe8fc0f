"""Throttling, server errors, truncated bodies, token expiry, permission and not-found errors, secrets."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

MAILBOX = "ben@mensio.example"


def statuses(app):
    return [c.status for c in app.api_calls()]


def test_throttle_storm_honours_retry_after(app, config, run_tap, expected, set_faults):
    set_faults(throttle=2, retry_after=1)
    started = time.monotonic()
    run = run_tap(config)  # backoff_base_seconds is 0.01: only Retry-After explains the wait
    elapsed = time.monotonic() - started

    assert run.error is None
    assert sorted(run.ids()) == sorted(expected())
    assert statuses(app)[:3] == [429, 429, 200]
    assert elapsed >= 2.0


#: Transient faults the tap retries through: the sandbox's switches, and what the run must have seen: the
#: API's failed answers, or every answer of the token endpoint. Truncated bodies come with a 200.
TRANSIENT = {
    "server errors": ({"server_errors": 3, "retry_after": 0}, "api", [503, 503, 503]),
    "gateway timeouts": ({"gateway_timeouts": 2, "retry_after": 0}, "api", [504, 504]),
    "truncated bodies": ({"truncate": 2}, "api", []),
    "token endpoint outage": ({"token_errors": 2, "retry_after": 0}, "token", [503, 503, 200]),
}


@pytest.mark.parametrize("fault", TRANSIENT)
def test_transient_faults_are_retried(app, config, run_tap, expected, set_faults, fault):
    switches, kind, seen = TRANSIENT[fault]
    set_faults(**switches)
    run = run_tap(config)

    assert run.error is None
    assert sorted(run.ids()) == sorted(expected())  # no page lost, none repeated
    if kind == "token":
        assert [r.status for r in app.requests if r.kind == "token"] == seen
    else:
        assert [status for status in statuses(app) if status != 200] == seen


def test_retries_give_up_after_max_attempts(app, make_config, run_tap, set_faults):
    set_faults(server_errors=50, retry_after=0)
    run_tap(make_config(max_attempts=3), expect_error=RetriableAPIError)

    assert statuses(app) == [503, 503, 503]


def test_mailbox_concurrency_throttling_is_retried(app, config, run_tap, expected, set_faults):
    set_faults(retry_after=1)
    # Another client holds all 4 slots of the mailbox for a moment: Graph answers ApplicationThrottled.
    with app._slots:
        app.in_flight[MAILBOX] = 4

    def release():
        time.sleep(0.3)
        with app._slots:
            app.in_flight[MAILBOX] = 0

    threading.Thread(target=release).start()
    run = run_tap(config)

    assert run.error is None
    assert sorted(run.ids()) == sorted(expected())
    assert statuses(app)[0] == 429
    assert app.peak_concurrency[MAILBOX] <= 4


def test_tap_stays_within_four_concurrent_requests_per_mailbox(app, config, run_tap, set_faults):
    set_faults(delay=0.01)
    run = run_tap(config)

    assert run.error is None
    assert 429 not in statuses(app)
    assert 1 <= app.peak_concurrency[MAILBOX] <= 4


def test_token_revoked_mid_run_is_refreshed_without_loss_or_repeats(app, config, run_tap, expected, set_faults):
    set_faults(expire_tokens_after=6)
    run = run_tap(config)

    assert run.error is None
    assert sorted(run.ids()) == sorted(expected())  # exactly once each
    assert statuses(app).count(401) == 1
    token_calls = [r for r in app.requests if r.kind == "token"]
    assert len(token_calls) == 2


def test_short_lived_tokens_are_renewed(app, config, run_tap, expected, set_faults):
    set_faults(token_lifetime=1, delay=0.06)  # expires_in=1 and a run of about 1.5 s
    run = run_tap(config)

    assert run.error is None
    assert sorted(run.ids()) == sorted(expected())
    assert len([r for r in app.requests if r.kind == "token"]) >= 2


def test_permission_denied_is_not_retried_and_says_why(app, config, run_tap):
    app.deny(MAILBOX)
    run = run_tap(config, expect_error=FatalAPIError)

    message = str(run.error)
    assert "403 ErrorAccessDenied" in message
    assert "Mail.Read application permission" in message
    assert statuses(app) == [403]
    assert run.records() == []


def test_unknown_mailbox_is_not_retried_and_says_why(app, make_config, run_tap):
    run = run_tap(make_config(mailbox="nobody@mensio.example"), expect_error=FatalAPIError)

    assert "404 ErrorInvalidUser" in str(run.error)
    assert "Check the mailbox setting" in str(run.error)
    assert statuses(app) == [404]


def test_unknown_configured_folder_is_not_retried(app, make_config, run_tap):
    run = run_tap(make_config(folders=["inbox", "no-such-folder"]), expect_error=FatalAPIError)

    assert "404 ErrorItemNotFound" in str(run.error)
    assert statuses(app) == [200, 404]


def test_wrong_client_secret_is_fatal_and_says_why(app, make_config, run_tap):
    run = run_tap(make_config(client_secret="not-the-secret"), expect_error=FatalAPIError)

    assert "invalid_client: AADSTS7000215" in str(run.error)
    assert app.api_calls() == []  # no Graph call without a token
    assert len([r for r in app.requests if r.kind == "token"]) == 1  # and no retry


def test_mailbox_of_another_tenant_is_refused(app, make_config, run_tap):
    run = run_tap(make_config(mailbox="ben@efs.example"), expect_error=FatalAPIError)  # mensio's registration

    assert "ErrorInvalidUser" in str(run.error)


def test_secrets_never_reach_stdout_or_stderr(make_config, tmp_path: Path):
    cli = [sys.executable, "-m", "tap_exchange.tap"]
    good = make_config()
    bad = make_config(client_secret="sbx-WRONG~secret.value-123")
    outputs = []
    for name, config in (("good", good), ("bad", bad)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(config))
        proc = subprocess.run([*cli, "--config", str(path)], check=False, capture_output=True, text=True, timeout=60)
        outputs.append((proc.returncode, proc.stdout, proc.stderr))

    (good_rc, good_out, good_err), (bad_rc, bad_out, bad_err) = outputs
    assert good_rc == 0
    assert '"type":"RECORD"' in good_out.replace(" ", "")
    assert bad_rc != 0
    assert "invalid_client" in bad_err  # the failure says what is wrong...
    for text in (good_out, good_err, bad_out, bad_err):
        assert good["client_secret"] not in text  # ...without the secret
        assert bad["client_secret"] not in text
    # record contents (subjects, bodies) are not logged
    assert "Sehr geehrte" not in good_err
