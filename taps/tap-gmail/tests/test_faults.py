"""Each fault the sandbox can inject, and what the tap does about it."""

from __future__ import annotations

import threading
import time
from functools import cached_property

import pytest
from lorchestra_testing import Calls
from singer_sdk.exceptions import FatalAPIError
from tap_gmail.client import GmailStream, QuotaPacer


def test_429_storm_is_retried_honouring_retry_after(sandbox, make_config, app, set_faults, run_tap):
    set_faults(throttle=2, retry_after=1)
    started = time.monotonic()
    run = run_tap(make_config("gmail-acct2"))
    elapsed = time.monotonic() - started

    assert run.by_id() == app.resources("gmail-acct2")
    statuses = [e.status for e in Calls.of(sandbox).api]
    assert statuses[:3] == [429, 429, 200]
    assert elapsed >= 2.0  # two Retry-After: 1 waits, although the exponential base is 0.01 s


def test_5xx_and_truncated_bodies_are_retried(sandbox, make_config, app, set_faults, run_tap):
    set_faults(server_errors=2, truncate=2, retry_after=0)
    run = run_tap(make_config("gmail-acct2"))
    assert run.by_id() == app.resources("gmail-acct2")  # each message once, complete
    assert len(run.records()) == len(run.by_id())
    assert [e.status for e in Calls.of(sandbox).api][:2] == [503, 503]


@pytest.mark.parametrize("reason", ["userRateLimitExceeded", "rateLimitExceeded"])
def test_403_quota_errors_back_off_and_retry(sandbox, reason, make_config, app, set_faults, run_tap):
    set_faults(quota_403=2, quota_403_reason=reason)
    run = run_tap(make_config("gmail-acct2"))
    assert run.by_id() == app.resources("gmail-acct2")
    assert [e.status for e in Calls.of(sandbox).api][:3] == [403, 403, 200]


def test_other_403_fails_at_once_and_says_why(sandbox, make_config, set_faults, run_tap):
    set_faults(forbidden=1)
    run = run_tap(make_config("gmail-acct2"), expect_error=FatalAPIError)
    assert isinstance(run.error, FatalAPIError)
    assert "permission denied" in str(run.error)
    assert "insufficientPermissions" in str(run.error)
    assert len(Calls.of(sandbox).api) == 1  # not retried
    assert run.records() == []


def test_wrong_mailbox_is_a_permission_error(sandbox, make_config, run_tap):
    run = run_tap(make_config("gmail-acct2", user_id="someone.else@gmail.com"), expect_error=FatalAPIError)
    assert "permission denied" in str(run.error)
    assert "Delegation denied" in str(run.error)
    assert len(Calls.of(sandbox).api) == 1


def test_not_found_is_not_retried(sandbox, make_config, run_tap):
    run = run_tap(make_config("gmail-acct2", api_url=f"{sandbox.url}/wrong-prefix"), expect_error=FatalAPIError)
    assert isinstance(run.error, FatalAPIError)
    assert "not found" in str(run.error)
    assert len(Calls.of(sandbox).api) == 1


def test_throttled_batch_parts_are_refetched(sandbox, make_config, app, set_faults, run_tap):
    set_faults(batch_item_throttle=30)
    run = run_tap(make_config("gmail-acct2"))
    expected = app.resources("gmail-acct2")
    assert run.by_id() == expected
    assert len(run.records()) == len(expected)  # no duplicates from the retried parts
    items = Calls.of(sandbox).batch_items
    assert sum(1 for e in items if e.status == 429) == 30
    assert len(items) == len(expected) + 30


def test_token_expiring_mid_run_is_refreshed_without_loss(sandbox, make_config, app, set_faults, run_tap):
    set_faults(delay=0.05)
    calls_seen = threading.Event()

    def expire_after_second_batch() -> None:
        while len(Calls.of(sandbox).paths("/batch/gmail/v1")) < 2:
            time.sleep(0.01)
        set_faults(expire_tokens=True)
        calls_seen.set()

    watcher = threading.Thread(target=expire_after_second_batch, daemon=True)
    watcher.start()
    run = run_tap(make_config("gmail-acct3"))
    watcher.join(timeout=10)

    assert calls_seen.is_set()
    expected = app.resources("gmail-acct3")
    assert run.by_id() == expected
    assert len(run.records()) == len(expected)
    calls = Calls.of(sandbox)
    assert 401 in [e.status for e in calls.api]
    assert len(calls.tokens) == 2
    assert run.tap.streams["email"].authenticator.refreshes == 2


def test_expired_history_id_falls_back_to_a_full_relist(sandbox, caplog, make_config, app, set_faults, run_tap):
    first = run_tap(make_config("gmail-acct2"))
    added = app.add_message("gmail-acct2", "Superbill request", "Could you send a superbill?")
    set_faults(expire_sync=True)

    second = run_tap(make_config("gmail-acct2"), state=first.last_state)
    expected = app.resources("gmail-acct2")
    assert added in second.by_id()
    assert second.by_id() == expected  # the whole mailbox again: never silence
    assert any("has expired upstream" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
    assert [e.status for e in Calls.of(sandbox).paths("/history")] == [404]

    third = run_tap(make_config("gmail-acct2"), state=second.last_state)
    assert third.records() == []
    assert [e.status for e in Calls.of(sandbox).paths("/history")] == [404, 200]


def test_quota_pacer_keeps_to_units_per_second():
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = QuotaPacer(250, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        pacer.acquire(250)  # a batch of 50 messages.get
    assert slept == [1.0, 1.0, 1.0]  # the first second's allowance, then one batch per second


def test_tap_paces_itself_to_the_configured_quota(monkeypatch, make_config, run_tap):
    # 1 (profile) + 5 (list) + 111 x 5 (messages.get in 3 batches) = 561 units; at 300 units/s with one
    # second of burst, the pacer must hold the run back (561 - 300) / 300 = 0.87 s. A virtual clock that only
    # its sleeps advance: the wall clock of a loaded test machine would make the waits (not) happen by chance.
    virtual = [0.0]

    def sleep(seconds: float) -> None:
        virtual[0] += seconds

    def pacer(stream: GmailStream) -> QuotaPacer:
        return QuotaPacer(stream.config["quota_units_per_second"], clock=lambda: virtual[0], sleep=sleep)

    monkeypatch.setattr(GmailStream, "quota", cached_property(pacer), raising=True)
    GmailStream.quota.__set_name__(GmailStream, "quota")
    run = run_tap(make_config("gmail-acct2", quota_units_per_second=300))
    assert len(run.records()) == 111
    assert run.tap.streams["email"].quota.rate == 300
    assert run.tap.streams["email"].quota.waited == pytest.approx((561 - 300) / 300)
    assert virtual[0] == pytest.approx((561 - 300) / 300)
