"""The SDK's standard tap tests, run against a Graph sandbox started for this class."""

from __future__ import annotations

import pytest
from lorchestra_sandbox.core import serve
from lorchestra_sandbox.graph import connection_config, create_app
from singer_sdk.testing import SuiteConfig, get_tap_test_class
from tap_exchange.tap import TapExchange

# A template test that found no records (or a selected field in none of them) would pass while testing
# nothing: those warnings fail the test instead.
pytestmark = pytest.mark.filterwarnings(
    "error:No records were available to test.:UserWarning",
    "error:Fields in transformed catalog but not in records:UserWarning",
)

# The suite builds its runner from this dict when the module is imported; the sandbox's address is
# filled in by the fixture below before anything is synced (nothing listens on port 9).
STANDARD_CONFIG = {
    **connection_config("exchange-info-mensio", "http://127.0.0.1:9"),
    "page_size": 25,
    "backoff_base_seconds": 0.01,
}

_StandardTests = get_tap_test_class(
    TapExchange,
    config=STANDARD_CONFIG,
    parse_env_config=False,
    suite_config=SuiteConfig(max_records_limit=40),
)


class TestTapExchange(_StandardTests):  # type: ignore[misc,valid-type]
    """cli_prints, discovery, stream_connections, valid_final_state, schema/record/PK and attribute tests."""

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def graph_sandbox(cls):
        running = serve(create_app())
        STANDARD_CONFIG.update(connection_config("exchange-info-mensio", running.url))
        yield running
        running.stop()
