"""Which tap and which sandbox these tests use; the fixtures come from the ``lorchestra_testing`` plugin."""

from __future__ import annotations

import typing as t

import pytest
from lorchestra_sandbox.graph import GraphApp, create_app
from lorchestra_testing import connections
from lorchestra_testing.taps import TapUnderTest
from tap_exchange.tap import TapExchange

if t.TYPE_CHECKING:
    from collections.abc import Callable


MAILBOX = "ben@mensio.example"


@pytest.fixture
def tap_under_test() -> TapUnderTest:
    return TapUnderTest(TapExchange, create_app, connections.exchange)


@pytest.fixture
def expected(app: GraphApp) -> Callable[..., dict[str, dict[str, t.Any]]]:
    """id -> resource of every message Graph would return now (optionally for some folders only)."""

    def current(mailbox: str = MAILBOX, folders: list[str] | None = None) -> dict[str, dict[str, t.Any]]:
        return {m["id"]: m for m in app.messages(mailbox, folders)}

    return current
