"""Which tap and which sandbox these tests use; the fixtures come from the ``lorchestra_testing`` plugin."""

from __future__ import annotations

import typing as t

import pytest
from lorchestra_sandbox.gmail import GmailApp, create_app
from lorchestra_testing import connections
from tap_gmail.tap import TapGmail

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from lorchestra_sandbox.core import RunningApp


@pytest.fixture
def tap_class() -> type[TapGmail]:
    return TapGmail


@pytest.fixture
def sandbox_app() -> GmailApp:
    """A fresh, freshly seeded Gmail sandbox for each test."""
    return create_app()


@pytest.fixture
def make_config(sandbox: RunningApp) -> Callable[..., dict[str, t.Any]]:
    """``make_config(connection="gmail-acct1", **overrides)``: one connection of the product spec, fast backoff."""
    return lambda *args, **overrides: connections.gmail(sandbox, *args, **overrides)
