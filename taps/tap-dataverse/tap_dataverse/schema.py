"""JSON schema of a table's records, from its ``EntityDefinitions(...)/Attributes`` metadata."""

from __future__ import annotations

import typing as t

FORMATTED_VALUE = "OData.Community.Display.V1.FormattedValue"

_STRING = {"type": ["string", "null"]}
_BY_TYPE: dict[str, dict[str, t.Any]] = {
    "Uniqueidentifier": _STRING,
    "String": _STRING,
    "Memo": _STRING,
    "EntityName": _STRING,
    "Integer": {"type": ["integer", "null"]},
    "BigInt": {"type": ["integer", "null"]},
    "Picklist": {"type": ["integer", "null"]},
    "State": {"type": ["integer", "null"]},
    "Status": {"type": ["integer", "null"]},
    "Boolean": {"type": ["boolean", "null"]},
    "Decimal": {"type": ["number", "null"]},
    "Double": {"type": ["number", "null"]},
    "Money": {"type": ["number", "null"]},
    "ManagedProperty": {"type": ["object", "null"], "additionalProperties": True},
}
#: Lookups are returned as ``_{logicalname}_value`` (the referenced row's id).
_LOOKUPS = {"Lookup", "Customer", "Owner"}
#: Columns whose value Dataverse also renders as text (``{property}@...FormattedValue``).
_FORMATTED = {
    "Picklist", "State", "Status", "Boolean", "DateTime", "Integer", "Decimal", "Double", "Money",
    "EntityName", *_LOOKUPS,
}  # fmt: skip
#: Column types the Web API does not return on a row (images, files, party lists, calendar rules).
_NOT_RETURNED = {"PartyList", "CalendarRules"}


def date_time_spec(behavior: str | None, date_format: str | None) -> dict[str, t.Any]:
    """The JSON schema of a DateTime column, from its ``DateTimeBehavior`` and ``Format`` metadata.

    "Behavior and format of the date and time column": only the DateOnly *behaviour* is exposed by the
    Web API as an Edm.Date ("2025-03-04"); UserLocal and TimeZoneIndependent are DateTimeOffset
    ("2025-03-04T08:00:00Z") whatever the ``Format``, so a Date Only *format* with User Local behaviour
    is a date-time. Without a behaviour (the docs say nothing of metadata lacking it), a DateAndTime
    format can only be a date-time; a DateOnly format could be either, so no format is declared.
    """
    if behavior == "DateOnly":
        return {"type": ["string", "null"], "format": "date"}
    if behavior in {"UserLocal", "TimeZoneIndependent"} or date_format == "DateAndTime":
        return {"type": ["string", "null"], "format": "date-time"}
    return dict(_STRING)


def schema_from_attributes(
    attributes: list[dict[str, t.Any]], *, date_times: dict[str, dict[str, t.Any]]
) -> dict[str, t.Any]:
    """The record schema: every column the Web API returns, its formatted value, and ``@odata.etag``.

    Columns that are not readable, that belong to another column (``AttributeOf``: ``createdbyname``,
    ``owneridtype``, ...) or that are virtual (images, files) are not returned on a row, so they are not
    declared. ``additionalProperties`` stays open so an annotation this mapping does not know is kept
    in the record rather than dropped. ``date_times`` holds the ``DateTimeAttributeMetadata`` of the
    DateTime columns, by logical name (``DateTimeBehavior`` and ``Format``).
    """
    properties: dict[str, t.Any] = {"@odata.etag": {"type": ["string", "null"]}}
    for attribute in attributes:
        kind = attribute.get("AttributeType")
        type_name = (attribute.get("AttributeTypeName") or {}).get("Value")
        if attribute.get("AttributeOf") or not attribute.get("IsValidForRead", True) or kind in _NOT_RETURNED:
            continue
        name = attribute["LogicalName"]
        if kind in _LOOKUPS:
            prop, spec = f"_{name}_value", _STRING
        elif kind == "Virtual" and type_name == "MultiSelectPicklistType":
            prop, spec, kind = name, _STRING, "Picklist"  # "100000000,100000002", formatted "A; C"
        elif kind == "Virtual":
            continue
        elif kind == "DateTime":
            meta = date_times.get(name, {})
            behavior = meta.get("DateTimeBehavior")
            if isinstance(behavior, dict):  # a complex type in the Web API: {"Value": "DateOnly"}
                behavior = behavior.get("Value")
            prop, spec = name, date_time_spec(behavior, meta.get("Format"))
        else:
            prop, spec = name, _BY_TYPE.get(t.cast("str", kind), {})
        properties[prop] = dict(spec)
        if kind in _FORMATTED:
            properties[f"{prop}@{FORMATTED_VALUE}"] = dict(_STRING)
    return {"type": "object", "properties": properties, "additionalProperties": True}
