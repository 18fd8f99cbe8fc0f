"""Which tap and which sandbox these tests use; the fixtures come from the ``lorchestra_testing`` plugin."""

from __future__ import annotations

import pytest
from lorchestra_sandbox import dataverse
from lorchestra_testing import connections
from lorchestra_testing.taps import TapUnderTest
from tap_dataverse.tap import TapDataverse


@pytest.fixture
def tap_under_test() -> TapUnderTest:
    return TapUnderTest(TapDataverse, dataverse.create_app, connections.dataverse)
