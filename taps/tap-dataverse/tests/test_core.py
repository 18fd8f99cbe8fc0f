"""The SDK's standard tap tests (tap, stream and attribute suites) against the Dataverse sandbox."""

from __future__ import annotations

from lorchestra_sandbox import dataverse
from lorchestra_testing import connections
from lorchestra_testing.standard import standard_tap_tests
from tap_dataverse.tap import TapDataverse

TestTapDataverse = standard_tap_tests(
    TapDataverse,
    dataverse.create_app,
    lambda running: connections.dataverse(running, page_size=25),
    max_records_limit=60,
)
