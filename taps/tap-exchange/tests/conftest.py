"""Fixtures: a Graph sandbox per test and helpers that run the real tap against it."""

from __future__ import annotations

import contextlib
import io
import json
import threading
import typing as t
from dataclasses import dataclass, field

import pytest
import requests
from lorchestra_sandbox.core import serve
from lorchestra_sandbox.graph import GraphApp, connection_config, create_app
from tap_exchange.tap import TapExchange

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from lorchestra_sandbox.core import RunningApp

MAILBOX = "ben@mensio.example"
CONNECTION = "exchange-ben-mensio"


@dataclass
class TapRun:
    """What one in-process run of the tap wrote to stdout, and how it ended."""

    messages: list[dict[str, t.Any]]
    error: BaseException | None = None
    records: list[dict[str, t.Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.records = [m["record"] for m in self.messages if m["type"] == "RECORD"]

    @property
    def states(self) -> list[dict[str, t.Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def schemas(self) -> list[dict[str, t.Any]]:
        return [m for m in self.messages if m["type"] == "SCHEMA"]

    @property
    def ids(self) -> list[str]:
        return [r["id"] for r in self.records]

    def partitions(self) -> dict[str, dict[str, t.Any]]:
        """folder_id -> partition state of the last STATE message."""
        parts = self.states[-1]["bookmarks"]["email"]["partitions"]
        return {p["context"]["folder_id"]: p for p in parts}


@pytest.fixture
def sandbox() -> Iterator[RunningApp]:
    """A freshly seeded Graph sandbox on a free loopback port."""
    running = serve(create_app())
    yield running
    # serve_forever polls for shutdown every 0.5 s: let it wind down in the background.
    threading.Thread(target=running.stop, daemon=True).start()


@pytest.fixture
def app(sandbox: RunningApp) -> GraphApp:
    return t.cast("GraphApp", sandbox.app)


@pytest.fixture
def make_config(sandbox: RunningApp) -> Callable[..., dict[str, t.Any]]:
    """Tap config for a connection of the product spec, tuned for fast tests."""

    def make(connection: str = CONNECTION, **overrides: t.Any) -> dict[str, t.Any]:
        config = connection_config(connection, sandbox.url)
        config.update(page_size=7, backoff_base_seconds=0.01, max_attempts=4)
        config.update(overrides)
        return config

    return make


@pytest.fixture
def config(make_config: Callable[..., dict[str, t.Any]]) -> dict[str, t.Any]:
    return make_config()


@pytest.fixture
def run_tap() -> Callable[..., TapRun]:
    """Run the tap in-process (``sync_all``) and parse the Singer messages it wrote."""

    def run(
        config: dict[str, t.Any],
        state: dict[str, t.Any] | None = None,
        catalog: dict[str, t.Any] | None = None,
        *,
        expect_error: type[BaseException] | tuple[type[BaseException], ...] | None = None,
    ) -> TapRun:
        """A run that raises fails the test, unless the test names the error it expects (``expect_error``).

        So a test asserting "no records" cannot pass because the tap crashed.
        """
        out = io.StringIO()
        error: BaseException | None = None
        with contextlib.redirect_stdout(out):
            try:
                tap = TapExchange(config=config, state=state, catalog=catalog, parse_env_config=False)
                tap.sync_all()
            except Exception as exc:
                if expect_error is None or not isinstance(exc, expect_error):
                    raise
                error = exc
        if expect_error is not None and error is None:
            pytest.fail(f"the tap run was expected to fail with {expect_error} but succeeded")
        messages = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
        return TapRun(messages, error)

    return run


@pytest.fixture
def set_faults(sandbox: RunningApp) -> Callable[..., None]:
    """Switch sandbox faults over HTTP, as an operator of ``lorchestra-sandbox`` would."""

    def switch(**faults: t.Any) -> None:
        requests.post(f"{sandbox.url}/_sandbox/faults", json=faults, timeout=5).raise_for_status()

    return switch


@pytest.fixture
def expected(app: GraphApp) -> Callable[..., dict[str, dict[str, t.Any]]]:
    """id -> resource of every message Graph would return now (optionally for some folders only)."""

    def current(mailbox: str = MAILBOX, folders: list[str] | None = None) -> dict[str, dict[str, t.Any]]:
        return {m["id"]: m for m in app.messages(mailbox, folders)}

    return current
