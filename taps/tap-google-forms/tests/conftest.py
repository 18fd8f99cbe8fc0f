"""Which tap and which sandbox these tests use; the fixtures come from the ``lorchestra_testing`` plugin."""

from __future__ import annotations

import typing as t

import pytest
from lorchestra_sandbox.forms import FormsApp, create_app
from lorchestra_testing import connections
from tap_google_forms.tap import TapGoogleForms

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from lorchestra_sandbox.core import RunningApp


@pytest.fixture
def tap_class() -> type[TapGoogleForms]:
    return TapGoogleForms


@pytest.fixture
def sandbox_app() -> FormsApp:
    """A freshly seeded Forms sandbox."""
    return create_app()


@pytest.fixture
def make_config(sandbox: RunningApp) -> Callable[..., dict[str, t.Any]]:
    """``make_config(connection="google-forms-intake-01", **overrides)``: tap config tuned for fast tests."""
    return lambda *args, **overrides: connections.google_forms(sandbox, *args, **overrides)


@pytest.fixture
def selected_catalog() -> Callable[..., dict[str, t.Any]]:
    """``selected_catalog(config, *streams)``: the discovered catalog with only those streams selected."""

    def select(config: dict[str, t.Any], *streams: str) -> dict[str, t.Any]:
        catalog = TapGoogleForms(config=config, parse_env_config=False).catalog_dict
        for entry in catalog["streams"]:
            for metadata in entry["metadata"]:
                if metadata["breadcrumb"] == []:
                    metadata["metadata"]["selected"] = entry["tap_stream_id"] in streams
        return catalog

    return select
