"""Fixtures: a Forms sandbox per test and helpers that run the real tap against it."""

from __future__ import annotations

import contextlib
import io
import json
import threading
import typing as t
from dataclasses import dataclass

import pytest
import requests
from lorchestra_sandbox.core import serve
from lorchestra_sandbox.forms import FormsApp, create_app
from tap_google_forms.tap import TapGoogleForms

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from lorchestra_sandbox.core import RunningApp

CONNECTIONS = ("google-forms-ipip120", "google-forms-intake-01", "google-forms-intake-02", "google-forms-followup")
#: The connection most tests use: 150 responses, OAuth user credentials.
INTAKE = "google-forms-intake-01"


@dataclass
class TapRun:
    """What one in-process run of the tap wrote to stdout, and how it ended."""

    messages: list[dict[str, t.Any]]
    error: BaseException | None = None

    def records(self, stream: str = "form_response") -> list[dict[str, t.Any]]:
        return [m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream]

    def ids(self) -> list[str]:
        return [r["responseId"] for r in self.records()]

    @property
    def states(self) -> list[dict[str, t.Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    def schema(self, stream: str) -> dict[str, t.Any]:
        return next(m for m in self.messages if m["type"] == "SCHEMA" and m["stream"] == stream)

    def bookmark(self) -> str | None:
        return self.states[-1]["bookmarks"]["form_response"].get("replication_key_value")


def run_tap(
    config: dict[str, t.Any],
    state: dict[str, t.Any] | None = None,
    catalog: dict[str, t.Any] | None = None,
    *,
    expect_error: type[BaseException] | bool = False,
) -> TapRun:
    """Run the tap in this process (as ``tap-google-forms --config --state --catalog`` would).

    A run that raises fails the test (the exception propagates) unless the test says it expects an error
    (``expect_error=True`` or the exception class); then a run that does not fail fails the test.
    """
    out = io.StringIO()
    error: BaseException | None = None
    with contextlib.redirect_stdout(out):
        try:
            tap = TapGoogleForms(config=config, state=state, catalog=catalog, parse_env_config=False)
            tap.sync_all()
        except Exception as exc:
            error = exc
    messages = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    if error is not None and not expect_error:
        raise error
    if expect_error:
        assert error is not None, "the run was expected to fail, and it did not"
        if expect_error is not True:
            assert isinstance(error, expect_error), f"expected {expect_error.__name__}, got {error!r}"
    return TapRun(messages, error)


def selected_catalog(config: dict[str, t.Any], *streams: str) -> dict[str, t.Any]:
    """The discovered catalog with only ``streams`` selected."""
    catalog = TapGoogleForms(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


@pytest.fixture(name="run_tap")
def run_tap_fixture() -> Callable[..., TapRun]:
    """``run_tap(config, state=None, catalog=None) -> TapRun``."""
    return run_tap


@pytest.fixture(name="selected_catalog")
def selected_catalog_fixture() -> Callable[..., dict[str, t.Any]]:
    """``selected_catalog(config, *streams)``: the discovered catalog with only those streams selected."""
    return selected_catalog


@pytest.fixture
def sandbox() -> Iterator[RunningApp]:
    """A freshly seeded Forms sandbox on a free loopback port."""
    running = serve(create_app())
    yield running
    # serve_forever polls for shutdown every 0.5 s: let it wind down in the background.
    threading.Thread(target=running.stop, daemon=True).start()


@pytest.fixture
def app(sandbox: RunningApp) -> FormsApp:
    return t.cast("FormsApp", sandbox.app)


def family_names(config: dict[str, t.Any]) -> dict[str, t.Any]:
    """The sandbox's config in the family's setting names (it hands out the names renamed by issue 14)."""
    config = dict(config)
    config["token_url"] = config.pop("token_uri")
    config.update(config.pop("oauth_credentials", {}))
    service = config.pop("service_account", {})
    if service:
        config["service_account_info"] = service["key_json"]
    return config


@pytest.fixture
def make_config(sandbox: RunningApp, app: FormsApp) -> Callable[..., dict[str, t.Any]]:
    """Tap config for a connection of the product spec, tuned for fast tests."""

    def make(connection: str = INTAKE, **overrides: t.Any) -> dict[str, t.Any]:
        config = family_names(app.tap_config(connection, sandbox.url))
        # No overlap window by default, so a test's expected record sets stay exact; tests of it set it.
        config.update(page_size=40, backoff_base_seconds=0.01, backoff_max_seconds=2, max_attempts=4)
        config.update(filter_overlap_seconds=0)
        config.update(overrides)
        return config

    return make


@pytest.fixture
def faults(sandbox: RunningApp) -> Callable[..., None]:
    """Set fault switches over HTTP, as a script against ``lorchestra-sandbox`` would."""

    def set_faults(path: str = "/_sandbox/faults", **switches: t.Any) -> None:
        requests.post(sandbox.url + path, json=switches, timeout=5).raise_for_status()

    return set_faults
