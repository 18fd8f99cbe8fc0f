"""The SDK's standard tap tests (tap, stream and attribute suites) against the Dataverse sandbox."""

from __future__ import annotations

import pytest
from lorchestra_sandbox import dataverse
from lorchestra_sandbox.core import serve
from singer_sdk.testing import SuiteConfig, get_tap_test_class
from tap_dataverse.tap import TapDataverse

# A template test that found no records (or a selected field in none of them) would pass while testing
# nothing: those warnings fail the test instead.
pytestmark = pytest.mark.filterwarnings(
    "error:No records were available to test.:UserWarning",
    "error:Fields in transformed catalog but not in records:UserWarning",
)

# The stream and attribute suites are parametrized from the tap's streams while this module is
# imported, and a Dataverse tap only knows its streams' schemas from the table metadata: so this one
# sandbox starts at import (a loopback daemon thread), unlike the per-test fixture of the other modules.
_SANDBOX = serve(dataverse.create_app(), port=0)

STANDARD_CONFIG = {
    "connection_name": "dataverse-clinic",
    "environment_url": _SANDBOX.url,
    "authority_url": _SANDBOX.url,
    "tenant_id": dataverse.TENANT_ID,
    "client_id": dataverse.CLIENT_ID,
    "client_secret": dataverse.CLIENT_SECRET,
    "entity_sets": {"session": "cr8a1_sessions", "report": "cr8a1_reports"},
    "page_size": 25,
    "backoff_base_seconds": 0.01,
}

TestTapDataverse = get_tap_test_class(
    TapDataverse,
    config=STANDARD_CONFIG,
    parse_env_config=False,
    suite_config=SuiteConfig(max_records_limit=60),
)
