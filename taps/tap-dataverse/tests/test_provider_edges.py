"""Documented Dataverse edges: ties in a non-unique order, Date Only / User Local columns, ``$select``."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from tap_dataverse.schema import date_time_spec
from tap_dataverse.tap import TapDataverse

ENTITY_SETS = {"contact": "contacts", "session": "cr8a1_sessions", "report": "cr8a1_reports"}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_row_arrives_when_tied_rows_come_in_arbitrary_order(app, config, run_tap, set_faults, seed):
    """25 contacts share one modifiedon; the service may order them differently on every page request."""
    set_faults(arbitrary_ties=True, tie_seed=seed)
    run = run_tap({**config, "page_size": 10})

    for stream, entity_set in ENTITY_SETS.items():
        want = sorted(r[f"{app.tables[entity_set].primary_id}"] for r in app.records(entity_set))
        assert sorted(run.ids(stream)) == want  # each row exactly once: none skipped, none repeated


def _conforms(value: str, fmt: str) -> bool:
    if fmt == "date":
        return re.fullmatch(r"\d{4}-\d\d-\d\d", value) is not None
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return "T" in value and moment.tzinfo is not None


def test_date_time_formats_follow_each_columns_behaviour(run_tap, config):
    run = run_tap(config)

    contact = run.schema("contact")["schema"]["properties"]
    assert contact["birthdate"]["format"] == "date"  # DateOnly behaviour: an Edm.Date
    assert contact["cr8a1_intakedate"]["format"] == "date-time"  # Date Only format, User Local behaviour
    assert contact["modifiedon"]["format"] == "date-time"
    session = run.schema("session")["schema"]["properties"]
    assert session["cr8a1_scheduledstart"]["format"] == "date-time"  # Time Zone Independent
    checked = 0
    for stream in ENTITY_SETS:
        properties = run.schema(stream)["schema"]["properties"]
        formats = {name: spec["format"] for name, spec in properties.items() if "format" in spec}
        for record in run.records(stream):
            for name, fmt in formats.items():
                if record.get(name) is not None:
                    assert _conforms(record[name], fmt), (stream, name, record[name], fmt)
                    checked += 1
    assert checked > 1000


@pytest.mark.parametrize(
    ("behavior", "date_format", "expected"),
    [
        ("DateOnly", "DateOnly", "date"),
        ("UserLocal", "DateOnly", "date-time"),
        ("UserLocal", "DateAndTime", "date-time"),
        ("TimeZoneIndependent", "DateOnly", "date-time"),
        ("TimeZoneIndependent", "DateAndTime", "date-time"),
        (None, "DateAndTime", "date-time"),
        (None, "DateOnly", None),  # the docs do not say: no format, so no value is ever rejected
    ],
)
def test_date_time_spec_table(behavior, date_format, expected):
    assert date_time_spec(behavior, date_format).get("format") == expected


def test_the_tap_selects_only_its_catalog_columns(app, config, run_tap):
    run = run_tap(config)
    query = app.api_calls("/api/data/v9.2/contacts")[0].query

    properties = run.schema("contact")["schema"]["properties"]
    assert query["$select"] == [",".join(p for p in properties if "@" not in p)]
    assert query["$orderby"] == ["modifiedon asc,contactid asc"]
    assert run.records("contact") == app.records("contacts")


def test_a_catalog_without_some_columns_does_not_request_them(app, config, run_tap):
    catalog = TapDataverse(config={**config, "entity_sets": {}}, parse_env_config=False).catalog_dict
    contact = next(s for s in catalog["streams"] if s["tap_stream_id"] == "contact")
    for md in contact["metadata"]:
        if md["breadcrumb"] in (["properties", "description"], ["properties", "mobilephone"]):
            md["metadata"]["selected"] = False
    app.requests.clear()

    run = run_tap({**config, "entity_sets": {}}, catalog=catalog)

    select = app.api_calls("/api/data/v9.2/contacts")[0].query["$select"][0].split(",")
    assert "description" not in select
    assert "mobilephone" not in select
    assert {"contactid", "modifiedon", "fullname"} <= set(select)
    assert run.records("contact")
    assert all("mobilephone" not in r and "description" not in r for r in run.records("contact"))
