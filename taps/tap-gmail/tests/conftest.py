"""Fixtures: the Gmail sandbox on a loopback port (helpers that run the tap: gmail_testkit.py)."""

from __future__ import annotations

import typing as t

import pytest
from lorchestra_sandbox.core import RunningApp, serve
from lorchestra_sandbox.gmail import create_app


@pytest.fixture
def gmail() -> t.Iterator[RunningApp]:
    """A fresh, freshly seeded Gmail sandbox for each test."""
    running = serve(create_app())
    yield running
    running.stop()
