"""The one Retry-After parser and backoff policy of the tap family (issue 14 item 8)."""

from __future__ import annotations

import email.utils
import time

import pytest
import requests
from lorchestra_tapkit.retry import RetryPolicy, retry_after_seconds
from lorchestra_tapkit.tokens import Redactor
from singer_sdk.exceptions import RetriableAPIError

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("0", 0.0),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),  # IMF-fixdate
        (email.utils.formatdate(NOW - 60, usegmt=True), 0.0),  # a date in the past: now
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_seconds_or_http_date(header, seconds):
    parsed = retry_after_seconds(header, now=NOW)
    if seconds is None:
        assert parsed is None
    else:
        assert parsed == pytest.approx(seconds)


def _error(status: int, retry_after: str | None = None) -> RetriableAPIError:
    response = requests.Response()
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = retry_after
    return RetriableAPIError("x", response)


def test_retry_after_is_honoured_up_to_the_cap():
    policy = RetryPolicy(max_attempts=5, backoff_base_seconds=1.0, backoff_max_seconds=60.0)
    assert policy.wait_seconds(1, _error(429, "42")) == 42.0
    assert policy.wait_seconds(1, _error(429, "3600")) == 60.0
    assert policy.wait_seconds(1, _error(503, email.utils.formatdate(time.time() + 3600, usegmt=True))) == 60.0


def test_exponential_backoff_without_retry_after_is_jittered_and_capped():
    policy = RetryPolicy(max_attempts=9, backoff_base_seconds=2.0, backoff_max_seconds=10.0)
    for attempt, base in ((1, 2.0), (2, 4.0), (3, 8.0)):
        assert base / 2 <= policy.wait_seconds(attempt, _error(503)) <= base
    assert policy.wait_seconds(8, _error(503)) == 10.0
    assert policy.wait_seconds(3, _error(401)) == 0.0  # a rejected token is replaced at once
    assert 1.0 <= policy.wait_seconds(1, RetriableAPIError("network")) <= 2.0


def test_policy_from_the_family_settings():
    policy = RetryPolicy.from_config({"max_attempts": 3, "backoff_base_seconds": 0.5, "backoff_max_seconds": 9})
    assert policy == RetryPolicy(max_attempts=3, backoff_base_seconds=0.5, backoff_max_seconds=9.0)


def test_redactor_scrubs_raw_url_encoded_and_credential_parameters():
    redact = Redactor(["1//0gSbx-refresh/token", "GOCSPX-secret-value", None, "abc"])
    text = (
        "refresh_token=1%2F%2F0gSbx-refresh%2Ftoken&client_secret=GOCSPX-secret-value "
        "assertion=eyJhbGciOi.eyJpc3Mi.c2ln raw 1//0gSbx-refresh/token abc"
    )
    scrubbed = redact(text)
    assert "0gSbx" not in scrubbed
    assert "GOCSPX" not in scrubbed
    assert "eyJ" not in scrubbed
    assert scrubbed.endswith("raw [redacted] abc")  # short values are left alone
