"""Fixtures: a fresh Dataverse sandbox per test, and helpers that run the real tap against it."""

from __future__ import annotations

import io
import json
import threading
import typing as t
from contextlib import redirect_stdout
from dataclasses import dataclass, field

import pytest
import requests
from lorchestra_sandbox import dataverse
from lorchestra_sandbox.core import RunningApp, serve
from tap_dataverse.tap import TapDataverse

PRIMARY_KEYS = {"contact": "contactid", "session": "cr8a1_sessionid", "report": "cr8a1_reportid"}


def tap_config(url: str, **overrides: t.Any) -> dict[str, t.Any]:
    """The ``dataverse-clinic`` connection aimed at a sandbox (small pages, short waits)."""
    return {
        "connection_name": "dataverse-clinic",
        "environment_url": url,
        "authority_url": url,
        "tenant_id": dataverse.TENANT_ID,
        "client_id": dataverse.CLIENT_ID,
        "client_secret": dataverse.CLIENT_SECRET,
        "entity_sets": {"session": "cr8a1_sessions", "report": "cr8a1_reports"},
        "page_size": 50,
        "max_attempts": 4,
        "backoff_base_seconds": 0.01,
        "ratelimit_pause_seconds": 0.0,
        **overrides,
    }


@dataclass
class TapRun:
    """What one run of the tap wrote to stdout, and the exception that ended it, if any."""

    messages: list[dict[str, t.Any]] = field(default_factory=list)
    error: BaseException | None = None

    def records(self, stream: str) -> list[dict[str, t.Any]]:
        return [m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream]

    def ids(self, stream: str) -> list[str]:
        return [r[PRIMARY_KEYS[stream]] for r in self.records(stream)]

    def schema(self, stream: str) -> dict[str, t.Any]:
        return next(m for m in self.messages if m["type"] == "SCHEMA" and m["stream"] == stream)

    @property
    def states(self) -> list[dict[str, t.Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def last_state(self) -> dict[str, t.Any]:
        return self.states[-1]


def _run_tap(
    config: dict[str, t.Any],
    state: dict[str, t.Any] | None = None,
    catalog: dict[str, t.Any] | None = None,
    *,
    expect_error: type[BaseException] | tuple[type[BaseException], ...] | None = None,
) -> TapRun:
    """Run the tap in-process, as ``tap-dataverse --config --state --catalog`` would.

    A run that raises fails the test, unless the test names the error it expects (``expect_error``):
    then the run must end with that error, which is kept in ``run.error``. So a test asserting "no
    records" cannot pass because the tap crashed.
    """
    out, run = io.StringIO(), TapRun()
    with redirect_stdout(out):
        try:
            tap = TapDataverse(config=config, state=state, catalog=catalog, parse_env_config=False)
            tap.sync_all()
        except Exception as exc:
            if expect_error is None or not isinstance(exc, expect_error):
                raise
            run.error = exc
    run.messages = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    if expect_error is not None and run.error is None:
        pytest.fail(f"the tap run was expected to fail with {expect_error} but succeeded")
    return run


@pytest.fixture
def sandbox() -> t.Iterator[RunningApp]:
    running = serve(dataverse.create_app(), port=0)
    yield running
    # shutdown() waits for the server's 0.5 s poll: let it finish in the background.
    threading.Thread(target=running.stop, daemon=True).start()


@pytest.fixture
def app(sandbox: RunningApp) -> dataverse.DataverseApp:
    return t.cast("dataverse.DataverseApp", sandbox.app)


@pytest.fixture
def config(sandbox: RunningApp) -> dict[str, t.Any]:
    return tap_config(sandbox.url)


@pytest.fixture
def run_tap() -> t.Callable[..., TapRun]:
    """``run_tap(config, state=None, catalog=None, *, expect_error=None) -> TapRun``."""
    return _run_tap


@pytest.fixture
def set_faults(sandbox: RunningApp) -> t.Callable[..., None]:
    """``set_faults(throttle=2, retry_after=0, ...)``: the sandbox's fault switches, over HTTP."""

    def set_faults(**faults: t.Any) -> None:
        requests.post(f"{sandbox.url}/_sandbox/faults", json=faults, timeout=5).raise_for_status()

    return set_faults
