"""event_log rows checked against the Iglu schemas the target ships (``target_lorchestra/schemas/iglu``)."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema

SCHEMAS = resources.files("target_lorchestra") / "schemas" / "iglu"


def iglu_schema(ref: str) -> dict:
    vendor, name, fmt, version = ref.removeprefix("iglu:").split("/")
    return json.loads((SCHEMAS / vendor / name / fmt / version).read_text())


def assert_valid(events: list[dict]) -> None:
    """Each event's payload is valid per its schema, and the schema is the one of its event type."""
    for event in events:
        schema = iglu_schema(event["event_schema_ref"])
        assert schema["self"]["name"] == event["event_type"].replace(".", "_")
        body = {k: v for k, v in schema.items() if k not in ("self", "$schema")}
        jsonschema.validate(event["payload"], body)
