"""Which tap and which sandbox these tests use; the fixtures come from the ``lorchestra_testing`` plugin."""

from __future__ import annotations

import typing as t

import pytest
from lorchestra_sandbox.forms import create_app
from lorchestra_testing import connections
from lorchestra_testing.taps import TapUnderTest
from tap_google_forms.tap import TapGoogleForms

if t.TYPE_CHECKING:
    from collections.abc import Callable


@pytest.fixture
def tap_under_test() -> TapUnderTest:
    return TapUnderTest(TapGoogleForms, create_app, connections.google_forms)


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
