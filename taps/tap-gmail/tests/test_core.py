"""The SDK's standard tap tests, run against the Gmail sandbox."""

from __future__ import annotations

import typing as t

import pytest
from gmail_testkit import tap_config
from lorchestra_sandbox.core import serve
from lorchestra_sandbox.gmail import create_app
from singer_sdk.testing import SuiteConfig, get_tap_test_class
from tap_gmail.tap import TapGmail

#: A template test that found no records to check would pass without checking anything: make it fail.
pytestmark = pytest.mark.filterwarnings("error:No records were available to test:UserWarning")

#: Filled in by the class fixture below once the sandbox has a port; the SDK runner keeps this dict.
STANDARD_CONFIG: dict[str, t.Any] = {"connection_name": "gmail-acct2"}

_StandardTests = get_tap_test_class(
    TapGmail,
    config=STANDARD_CONFIG,
    suite_config=SuiteConfig(max_records_limit=60),  # one batch-and-a-bit is enough for the generic checks
    parse_env_config=False,
)


class TestTapGmailStandard(_StandardTests):  # type: ignore[misc,valid-type]
    """SDK tap, stream and attribute tests (all of them; none left out)."""

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _sandbox(cls) -> t.Iterator[None]:
        running = serve(create_app())
        STANDARD_CONFIG.update(tap_config(running, "gmail-acct2"))
        yield
        running.stop()
