"""Where a stream's records come from, and the one place an idem_key is built.

See "Provenance contract" in ARCHITECTURE.md: a tap declares ``x-lorchestra`` in the SCHEMA message's
schema; a third-party tap falls back to the target's config; a stream with neither is rejected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

from target_lorchestra.errors import BadInputError, MissingKeyError

PROVENANCE_KEYWORD = "x-lorchestra"
_IGLU_URI = re.compile(r"^iglu:[a-zA-Z0-9._-]+/[a-zA-Z0-9_-]+/jsonschema/\d+-\d+-\d+$")


@dataclass(frozen=True)
class Provenance:
    """The explicit columns every row of one stream shares."""

    source_system: str
    connection_name: str
    object_type: str
    schema_ref: str | None = None

    def idem_key(self, external_id: str) -> str:
        """The opaque row key. Never parse it back: filter on the explicit columns instead."""
        return f"{self.source_system}:{self.connection_name}:{self.object_type}:{external_id}"


def resolve(stream: str, schema: dict, config: dict) -> Provenance:
    """Provenance of ``stream`` from its schema's ``x-lorchestra`` keyword, else from config.

    Raises:
        BadInputError: when neither declares source_system and connection_name, or a value is malformed.
    """
    declared = schema.get(PROVENANCE_KEYWORD) or {}
    if not isinstance(declared, dict):
        raise BadInputError(f"the schema's {PROVENANCE_KEYWORD!r} keyword must be an object", stream=stream)
    values = {}
    for field in ("source_system", "connection_name", "schema_ref"):
        value = declared.get(field) or config.get(field)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise BadInputError(f"provenance field {field!r} must be a non-empty string", stream=stream)
        values[field] = value
    missing = [f for f in ("source_system", "connection_name") if not values[f]]
    if missing:
        raise BadInputError(
            f"no provenance: {' and '.join(missing)} declared neither by the tap (schema keyword "
            f"{PROVENANCE_KEYWORD!r}) nor in the target config",
            stream=stream,
        )
    if values["schema_ref"] and not _IGLU_URI.match(values["schema_ref"]):
        raise BadInputError(
            "schema_ref must be an Iglu URI like iglu:com.mensio.raw/raw_gmail_email/jsonschema/1-0-0",
            stream=stream,
        )
    # The key's parts are joined with ':'; only external_id, the last part, may contain one, so that two
    # different objects can never share a key ('a' + 'b:c' vs 'a:b' + 'c').
    for field, value in (("source_system", values["source_system"]), ("connection_name", values["connection_name"]),
                         ("object_type (the stream name)", stream)):  # fmt: skip
        if ":" in value:
            raise BadInputError(
                f"{field} {value!r} contains ':', which would make idem_keys ambiguous; rename it "
                "(for a stream, a stream map with __alias__)",
                stream=stream,
            )
    return Provenance(values["source_system"], values["connection_name"], stream, values["schema_ref"])


def external_id(record: dict, key_properties: list[str]) -> str:
    """The upstream id of ``record``: one key as text, several as a compact JSON array of values.

    Raises:
        MissingKeyError: when a key property is missing, null, empty, or not a string/integer.
    """
    values = []
    for key in key_properties:
        value = record.get(key)
        if value is None:
            problem = "is missing" if key not in record else "is null"
            raise MissingKeyError(f"key property {key!r} {problem}")
        # bool is an int subclass but is no identifier; floats do not round-trip as ids.
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise MissingKeyError(f"key property {key!r} must be a string or integer, not {type(value).__name__}")
        if isinstance(value, str) and not value:
            raise MissingKeyError(f"key property {key!r} is an empty string")
        values.append(value)
    if len(values) == 1:
        return str(values[0])
    return orjson.dumps(values).decode()
