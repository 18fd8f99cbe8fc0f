"""Fixtures: one fresh warehouse per test, parametrised over every engine."""

from __future__ import annotations

import pytest
from lorchestra_bigquery import BigQueryUnderTest, bigquery_emulator  # noqa: F401 - session fixture
from lorchestra_warehouses import DuckDBUnderTest

WAREHOUSES = ["duckdb", "bigquery"]


@pytest.fixture(params=WAREHOUSES)
def wh(request: pytest.FixtureRequest, tmp_path):
    """An empty warehouse of each kind; the target creates its tables on first run."""
    if request.param == "duckdb":
        yield DuckDBUnderTest(tmp_path)
    elif request.param == "bigquery":  # the emulator starts on first use (session-scoped), a dataset per test
        bq = BigQueryUnderTest(request.getfixturevalue("bigquery_emulator"), request.node.name)
        yield bq
        bq.drop()
    else:
        raise AssertionError(request.param)


@pytest.fixture
def duckdb_wh(tmp_path):
    """DuckDB only, for behaviour that exists only there (file paths, file locks)."""
    return DuckDBUnderTest(tmp_path)
