"""Fixtures: one fresh warehouse per test, parametrised over every engine."""

from __future__ import annotations

import pytest
from lorchestra_testing.bigquery import LIVE_PROJECT, BigQueryUnderTest, LiveBigQueryUnderTest, live_summary
from lorchestra_testing.warehouses import DuckDBUnderTest

#: Every behavioural test runs on each; ``bigquery-live`` only with -m bigquery_live and a real project.
WAREHOUSES = ["duckdb", "bigquery", pytest.param("bigquery-live", marks=pytest.mark.bigquery_live)]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "bigquery_live: the behavioural suite against a real BigQuery project "
        "(LORCHESTRA_BQ_LIVE_PROJECT and Application Default Credentials; setup/bigquery-setup.md)",
    )


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    lines = live_summary()
    if lines:
        terminalreporter.section("BigQuery live: bytes billed and slot time per statement")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(params=WAREHOUSES)
def wh(request: pytest.FixtureRequest, tmp_path):
    """An empty warehouse of each kind; the target creates its tables on first run."""
    if request.param == "duckdb":
        yield DuckDBUnderTest(tmp_path)
    elif request.param == "bigquery":  # the plugin's emulator starts on first use (session-scoped), a dataset per test
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
def duckdb_wh(tmp_path):
    """DuckDB only, for behaviour that exists only there (file paths, file locks)."""
    return DuckDBUnderTest(tmp_path)


@pytest.fixture
def bq(request: pytest.FixtureRequest, bigquery_emulator: str):
    """BigQuery only (the emulator, a dataset per test), for behaviour that exists only there."""
    under_test = BigQueryUnderTest(bigquery_emulator, request.node.name)
    yield under_test
    under_test.drop()
