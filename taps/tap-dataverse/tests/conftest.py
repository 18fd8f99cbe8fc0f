"""Which tap and which sandbox these tests use; the fixtures come from the ``lorchestra_testing`` plugin."""

from __future__ import annotations

import typing as t

import pytest
from lorchestra_sandbox import dataverse
from lorchestra_testing import connections
from tap_dataverse.tap import TapDataverse

if t.TYPE_CHECKING:
    from lorchestra_sandbox.core import RunningApp


@pytest.fixture
def tap_class() -> type[TapDataverse]:
    return TapDataverse


@pytest.fixture
def sandbox_app() -> dataverse.DataverseApp:
    return dataverse.create_app()


@pytest.fixture
def config(sandbox: RunningApp) -> dict[str, t.Any]:
    return connections.dataverse(sandbox)
