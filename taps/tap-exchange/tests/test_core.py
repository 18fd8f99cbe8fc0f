"""The SDK's standard tap tests, run against a Graph sandbox."""

from __future__ import annotations

from lorchestra_sandbox.graph import create_app
from lorchestra_testing import connections
from lorchestra_testing.standard import standard_tap_tests
from tap_exchange.tap import TapExchange

TestTapExchange = standard_tap_tests(
    TapExchange,
    create_app,
    lambda running: connections.exchange(running, "exchange-info-mensio", page_size=25),
    max_records_limit=40,
)
