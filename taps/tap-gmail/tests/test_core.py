"""The SDK's standard tap tests, run against the Gmail sandbox."""

from __future__ import annotations

from lorchestra_sandbox.gmail import create_app
from lorchestra_testing import connections
from lorchestra_testing.standard import standard_tap_tests
from tap_gmail.tap import TapGmail

TestTapGmailStandard = standard_tap_tests(
    TapGmail,
    create_app,
    lambda running: connections.gmail(running, "gmail-acct2"),
    max_records_limit=60,  # one batch-and-a-bit is enough for the generic checks
    unfilled_fields_reason="raw is the format=raw alternative to payload; classificationLabelValues is on "
    "classified messages only",
)
