"""Which tap and which sandbox these tests use; the fixtures come from the ``lorchestra_testing`` plugin."""

from __future__ import annotations

import typing as t

import pytest
from lorchestra_sandbox.graph import GraphApp, create_app
from lorchestra_testing import connections
from tap_exchange.tap import TapExchange

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from lorchestra_sandbox.core import RunningApp

MAILBOX = "ben@mensio.example"


@pytest.fixture
def tap_class() -> type[TapExchange]:
    return TapExchange


@pytest.fixture
def sandbox_app() -> GraphApp:
    """A freshly seeded Graph sandbox."""
    return create_app()


@pytest.fixture
def make_config(sandbox: RunningApp) -> Callable[..., dict[str, t.Any]]:
    """``make_config(connection="exchange-ben-mensio", **overrides)``: tap config tuned for fast tests."""
    return lambda *args, **overrides: connections.exchange(sandbox, *args, **overrides)


@pytest.fixture
def config(make_config: Callable[..., dict[str, t.Any]]) -> dict[str, t.Any]:
    return make_config()


@pytest.fixture
def expected(app: GraphApp) -> Callable[..., dict[str, dict[str, t.Any]]]:
    """id -> resource of every message Graph would return now (optionally for some folders only)."""

    def current(mailbox: str = MAILBOX, folders: list[str] | None = None) -> dict[str, dict[str, t.Any]]:
        return {m["id"]: m for m in app.messages(mailbox, folders)}

    return current
