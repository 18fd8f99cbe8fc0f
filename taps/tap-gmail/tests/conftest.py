"""Which tap and which sandbox these tests use; the fixtures come from the ``lorchestra_testing`` plugin."""

from __future__ import annotations

import pytest
from lorchestra_sandbox.gmail import create_app
from lorchestra_testing import connections
from lorchestra_testing.taps import TapUnderTest
from tap_gmail.tap import TapGmail


@pytest.fixture
def tap_under_test() -> TapUnderTest:
    return TapUnderTest(TapGmail, create_app, connections.gmail)
