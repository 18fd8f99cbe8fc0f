"""The pytest plugin (entry point ``lorchestra``): fixtures every test folder of the workspace can use.

A tap's test folder defines one fixture, ``tap_under_test`` (a ``taps.TapUnderTest``: the tap, its sandbox and
its connection config), and gets ``tap_class``, ``sandbox_app`` (a fresh provider app), ``sandbox`` (that app
served on a free loopback port), ``app``, ``make_config``, ``config``, ``set_faults``, ``run_tap`` and
``run_cli``. ``bigquery_emulator`` is the session's BigQuery emulator endpoint, started on first use. ``wh`` is
an empty warehouse of each kind (a test using it runs once per engine), ``duckdb_wh`` a DuckDB one and ``bq`` a
BigQuery (emulator) one: the target's and the operations CLI's tests share them.
"""

from __future__ import annotations

import threading
import typing as t

import pytest

from lorchestra_testing import taps

#: Every behavioural test runs on each; ``bigquery-live`` only with -m bigquery_live and a real project.
WAREHOUSES = ["duckdb", "bigquery", pytest.param("bigquery-live", marks=pytest.mark.bigquery_live)]

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from lorchestra_sandbox.core import ProviderApp, RunningApp
    from singer_sdk import Tap


@pytest.fixture
def tap_class(tap_under_test: taps.TapUnderTest) -> type[Tap]:
    return tap_under_test.tap_class


@pytest.fixture
def sandbox_app(tap_under_test: taps.TapUnderTest) -> ProviderApp:
    """A fresh, seeded provider app for each test."""
    return tap_under_test.create_app()


@pytest.fixture
def make_config(tap_under_test: taps.TapUnderTest, sandbox: RunningApp) -> Callable[..., dict[str, t.Any]]:
    """``make_config(*args, **overrides)``: the connection's tap config against ``sandbox`` (fast backoff)."""
    return lambda *args, **overrides: tap_under_test.connection(sandbox, *args, **overrides)


@pytest.fixture
def config(make_config: Callable[..., dict[str, t.Any]]) -> dict[str, t.Any]:
    """The default connection's tap config."""
    return make_config()


@pytest.fixture
def sandbox(sandbox_app: ProviderApp) -> Iterator[RunningApp]:
    """``sandbox_app`` (a fixture of the test folder) served on a free loopback port, for one test."""
    from lorchestra_sandbox.core import serve

    running = serve(sandbox_app)
    yield running
    # serve_forever polls for shutdown every 0.5 s: let it wind down in the background.
    threading.Thread(target=running.stop, daemon=True).start()


@pytest.fixture
def app(sandbox: RunningApp) -> ProviderApp:
    """The sandbox's provider app, to change upstream data or read its request log from a test."""
    return sandbox.app


@pytest.fixture
def set_faults(sandbox: RunningApp) -> Callable[..., None]:
    """``set_faults(path="/_sandbox/faults", **switches)``: the sandbox's fault switches, over HTTP."""
    import requests

    def switch(path: str = "/_sandbox/faults", **switches: t.Any) -> None:
        requests.post(sandbox.url + path, json=switches, timeout=5).raise_for_status()

    return switch


@pytest.fixture
def run_tap(tap_class: type[Tap]) -> Callable[..., taps.TapRun]:
    """``run_tap(config, state=None, catalog=None, *, expect_error=None) -> TapRun``, in-process."""

    def run(
        config: dict[str, t.Any],
        state: dict[str, t.Any] | None = None,
        catalog: dict[str, t.Any] | None = None,
        *,
        expect_error: taps.ExpectedError | None = None,
    ) -> taps.TapRun:
        return taps.run_tap(tap_class, config, state, catalog, expect_error=expect_error)

    return run


@pytest.fixture
def run_cli(tap_class: type[Tap], tmp_path: Path) -> Callable[..., taps.TapRun]:
    """``run_cli(config, state=None) -> TapRun``: the installed tap executable, in a child process."""

    def run(config: dict[str, t.Any], state: dict[str, t.Any] | None = None) -> taps.TapRun:
        return taps.run_cli(tap_class, config, tmp_path, state)

    return run


@pytest.fixture(scope="session")
def bigquery_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The endpoint of the session's BigQuery emulator (``lorchestra_testing.bqemulator``).

    Never optional: when it cannot be started the tests that need it fail with the reason.
    """
    from lorchestra_testing.bqemulator import EmulatorError, running_emulator

    try:
        with running_emulator(log_dir=tmp_path_factory.mktemp("bqemulator")) as endpoint:
            yield endpoint
    except EmulatorError as exc:
        pytest.fail(str(exc), pytrace=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "bigquery_live: the behavioural suite against a real BigQuery project "
        "(LORCHESTRA_BQ_LIVE_PROJECT and Application Default Credentials; setup/bigquery-setup.md)",
    )


def pytest_terminal_summary(terminalreporter: t.Any, exitstatus: int, config: pytest.Config) -> None:
    from lorchestra_testing.bigquery import live_summary

    lines = live_summary()
    if lines:
        terminalreporter.section("BigQuery live: bytes billed and slot time per statement")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(params=WAREHOUSES)
def wh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[t.Any]:
    """An empty warehouse of each kind; the target creates its tables on first run."""
    from lorchestra_testing.bigquery import LIVE_PROJECT, BigQueryUnderTest, LiveBigQueryUnderTest
    from lorchestra_testing.warehouses import DuckDBUnderTest

    if request.param == "duckdb":
        yield DuckDBUnderTest(tmp_path)
    elif request.param == "bigquery":  # the emulator starts on first use (session-scoped), a dataset per test
        bq = BigQueryUnderTest(request.getfixturevalue("bigquery_emulator"), request.node.name)
        yield bq
        bq.drop()
    elif request.param == "bigquery-live":
        if not LIVE_PROJECT:
            pytest.skip("live BigQuery suite: LORCHESTRA_BQ_LIVE_PROJECT is not set (see setup/bigquery-setup.md)")
        live = LiveBigQueryUnderTest(request.node.name)
        yield live
        live.drop()
    else:
        raise AssertionError(request.param)


@pytest.fixture
def duckdb_wh(tmp_path: Path) -> t.Any:
    """DuckDB only, for behaviour that exists only there (file paths, file locks)."""
    from lorchestra_testing.warehouses import DuckDBUnderTest

    return DuckDBUnderTest(tmp_path)


@pytest.fixture
def bq(request: pytest.FixtureRequest, bigquery_emulator: str) -> Iterator[t.Any]:
    """BigQuery only (the emulator, a dataset per test), for behaviour that exists only there."""
    from lorchestra_testing.bigquery import BigQueryUnderTest

    under_test = BigQueryUnderTest(bigquery_emulator, request.node.name)
    yield under_test
    under_test.drop()
