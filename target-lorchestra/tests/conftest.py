"""Fixtures: one fresh warehouse per test, parametrised over every engine."""

from __future__ import annotations

import pytest
from lorchestra_warehouses import DuckDBUnderTest

WAREHOUSES = ["duckdb"]


@pytest.fixture(params=WAREHOUSES)
def wh(request: pytest.FixtureRequest, tmp_path):
    """An empty warehouse of each kind; the target creates its tables on first run."""
    if request.param == "duckdb":
        return DuckDBUnderTest(tmp_path)
    raise AssertionError(request.param)


@pytest.fixture
def duckdb_wh(tmp_path):
    """DuckDB only, for behaviour that exists only there (file paths, file locks)."""
    return DuckDBUnderTest(tmp_path)
