"""``Warehouse.query``: one parameter style (``@name``, BigQuery's) on both engines; values stay data.

The operations CLI (lorchestra-ops) and the Dagster code location pass every value as a query parameter;
the only text the warehouse layer puts into SQL is the configured table names (checked identifiers).
"""

from __future__ import annotations

import datetime as dt

import pytest
from target_lorchestra.errors import WarehouseError
from target_lorchestra.warehouse import open_warehouse

#: Values that old-style splicing would have turned into SQL (a quote, braces, a LIKE wildcard, a comment).
TRICKY = ["it's", "{event_log}", "{}", "x' OR '1'='1", "50%_off", "a -- b", "@name", "$1"]


@pytest.fixture
def warehouse(wh):
    w = open_warehouse(wh.config())
    yield w
    w.close()


@pytest.mark.parametrize("value", TRICKY)
def test_a_value_round_trips_as_data(warehouse, value):
    rows = warehouse.query("SELECT @value AS v, @value = @value AS same", {"value": value})
    assert rows == [{"v": value, "same": True}]


def test_a_value_never_matches_as_sql(warehouse):
    warehouse.append_events([_event("run-1"), _event("x' OR '1'='1")])
    sql = "SELECT correlation_id FROM {event_log} WHERE correlation_id = @run_id"
    assert warehouse.query(sql, {"run_id": "x' OR '1'='1"}) == [{"correlation_id": "x' OR '1'='1"}]
    assert warehouse.query(sql, {"run_id": "nothing' OR '1'='1"}) == []
    prefixed = "SELECT correlation_id FROM {event_log} WHERE STARTS_WITH(correlation_id, @prefix) ORDER BY 1"
    assert warehouse.query(prefixed, {"prefix": "run"}) == [{"correlation_id": "run-1"}]
    assert warehouse.query(prefixed, {"prefix": "%"}) == []


def test_at_signs_and_braces_in_sql_literals_are_left_alone(warehouse):
    # Only ``@name`` outside quotes is a parameter, and only ``{raw_objects}``/``{event_log}`` name a table.
    rows = warehouse.query("SELECT 'ops@example.com' AS mail, '{not_a_table}' AS braces, @n AS n", {"n": 3})
    assert rows == [{"mail": "ops@example.com", "braces": "{not_a_table}", "n": 3}]


def test_timestamps_compare_as_timestamps(warehouse):
    warehouse.append_events([_event("early", at=dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC))])
    sql = "SELECT COUNT(*) AS n FROM {event_log} WHERE created_at <= @now"
    # 13:00 at +02:00 is 11:00 UTC: before the event, whatever the session's time zone.
    assert warehouse.query(sql, {"now": dt.datetime(2026, 1, 1, 13, tzinfo=dt.timezone(dt.timedelta(hours=2)))}) == [
        {"n": 0}
    ]
    assert warehouse.query(sql, {"now": dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)}) == [{"n": 1}]


def _event(correlation_id: str, *, at: dt.datetime | None = None) -> dict:
    return {
        "event_id": f"e-{correlation_id}",
        "event_type": "job.started",
        "source_system": "lorchestra",
        "connection_name": None,
        "target_object_type": None,
        "event_schema_ref": "iglu:com.mensio.event/job_started/jsonschema/1-0-0",
        "correlation_id": correlation_id,
        "trace_id": None,
        "created_at": at or dt.datetime.now(dt.UTC),
        "status": "success",
        "error_message": None,
        "payload": None,
    }


def test_a_missing_or_unused_parameter_is_named(duckdb_wh):
    # BigQuery's reference is silent on unused values, so the DuckDB back end refuses both mismatches.
    warehouse = open_warehouse(duckdb_wh.config())
    try:
        with pytest.raises(WarehouseError, match=r"the SQL uses \['a', 'b'\], the values given are \['a'\]"):
            warehouse.query("SELECT @a AS a, @b AS b", {"a": 1})
        with pytest.raises(WarehouseError, match=r"the SQL uses \[\], the values given are \['a'\]"):
            warehouse.query("SELECT 1 AS one", {"a": 1})
    finally:
        warehouse.close()
