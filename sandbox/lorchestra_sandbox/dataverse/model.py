"""The Dataverse sandbox's tables and columns, and the metadata ``EntityDefinitions`` returns for them."""

from __future__ import annotations

import typing as t
import uuid
from dataclasses import dataclass, field

#: Dataverse metadata type names, by AttributeType.
META_TYPE = {
    "Uniqueidentifier": "UniqueIdentifierAttributeMetadata",
    "String": "StringAttributeMetadata",
    "Memo": "MemoAttributeMetadata",
    "Integer": "IntegerAttributeMetadata",
    "BigInt": "BigIntAttributeMetadata",
    "Money": "MoneyAttributeMetadata",
    "Decimal": "DecimalAttributeMetadata",
    "Boolean": "BooleanAttributeMetadata",
    "DateTime": "DateTimeAttributeMetadata",
    "Picklist": "PicklistAttributeMetadata",
    "State": "StateAttributeMetadata",
    "Status": "StatusAttributeMetadata",
    "Lookup": "LookupAttributeMetadata",
    "Customer": "LookupAttributeMetadata",
    "Owner": "LookupAttributeMetadata",
    "EntityName": "EntityNameAttributeMetadata",
    "Virtual": "ImageAttributeMetadata",
}
LOOKUPS = {"Lookup", "Customer", "Owner"}


@dataclass
class Attribute:
    """One column of a table, as ``EntityDefinitions(...)/Attributes`` describes it."""

    logical_name: str
    type: str
    options: dict[int, str] = field(default_factory=dict)
    targets: tuple[str, ...] = ()
    attribute_of: str | None = None
    #: DateTime columns: ``DateTimeBehavior`` (UserLocal, DateOnly, TimeZoneIndependent) and ``Format``
    #: (DateAndTime, DateOnly). Only the DateOnly *behaviour* makes the Web API expose a Date ("2025-03-04");
    #: every other combination is a DateTimeOffset ("2025-03-04T08:00:00Z"), a Date Only *format* included.
    behavior: str = "UserLocal"
    date_format: str = "DateAndTime"
    valid_for_read: bool = True

    @property
    def property_name(self) -> str:
        """The Web API property: lookups are ``_{name}_value``."""
        return f"_{self.logical_name}_value" if self.type in LOOKUPS else self.logical_name

    @property
    def is_date(self) -> bool:
        """Whether the Web API returns this column as an Edm.Date (no time, no offset)."""
        return self.type == "DateTime" and self.behavior == "DateOnly"

    @property
    def returned(self) -> bool:
        """Whether the Web API returns this column on a record."""
        return self.valid_for_read and self.attribute_of is None and self.type != "Virtual"

    def metadata(self, entity: str, index: int) -> dict[str, t.Any]:
        body: dict[str, t.Any] = {
            "@odata.type": f"#Microsoft.Dynamics.CRM.{META_TYPE[self.type]}",
            "LogicalName": self.logical_name,
            "SchemaName": "".join(p.capitalize() for p in self.logical_name.split("_")),
            "EntityLogicalName": entity,
            "AttributeType": self.type,
            "AttributeTypeName": {"Value": f"{self.type}Type"},
            "AttributeOf": self.attribute_of,
            "IsValidForRead": self.valid_for_read,
            "IsPrimaryId": self.type == "Uniqueidentifier" and self.logical_name == f"{entity}id",
            "IsCustomAttribute": self.logical_name.startswith("cr8a1_"),
            "MetadataId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"attr:{entity}.{self.logical_name}:{index}")),
        }
        if self.type == "DateTime":
            body["Format"] = self.date_format
            body["DateTimeBehavior"] = {"Value": self.behavior}
        if self.targets:
            body["Targets"] = list(self.targets)
        return body


@dataclass
class Table:
    """A Dataverse table with its rows (raw column values, lookups as ``_x_value``)."""

    logical_name: str
    entity_set: str
    primary_name: str
    attributes: list[Attribute]
    rows: dict[str, dict[str, t.Any]] = field(default_factory=dict)
    forbidden: bool = False

    @property
    def primary_id(self) -> str:
        return f"{self.logical_name}id"

    def definition(self) -> dict[str, t.Any]:
        return {
            "LogicalName": self.logical_name,
            "EntitySetName": self.entity_set,
            "PrimaryIdAttribute": self.primary_id,
            "PrimaryNameAttribute": self.primary_name,
            "SchemaName": self.logical_name.capitalize(),
            "IsCustomEntity": self.logical_name.startswith("cr8a1_"),
            "MetadataId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"entity:{self.logical_name}")),
        }

    def attribute(self, prop: str) -> Attribute | None:
        return next((a for a in self.attributes if a.property_name == prop and a.returned), None)
