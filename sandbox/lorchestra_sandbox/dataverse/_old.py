"""Dataverse Web API sandbox: the clinic's environment, plus its Microsoft Entra ID token endpoint.

Speaks the wire format of ``{environment_url}/api/data/v9.2/``:

* ``GET /api/data/v9.2/EntityDefinitions?$filter=EntitySetName eq 'contacts'&$select=...`` and
  ``GET /api/data/v9.2/EntityDefinitions(LogicalName='contact')/Attributes`` (table metadata);
* ``GET /api/data/v9.2/{entity_set}?$filter=modifiedon ge ...&$orderby=modifiedon asc`` with
  ``Prefer: odata.maxpagesize=N`` (echoed in ``Preference-Applied``), formatted-value annotations and
  ``@odata.nextLink`` whose ``$skiptoken`` carries a Dataverse paging cookie (keyset on the ordered
  columns plus the primary id, so rows modified while a client pages move behind it, never lost);
* service-protection limits: 429 with ``Retry-After`` and a ``0x80072322`` body, and the
  ``x-ms-ratelimit-*-xrm-requests`` headers on every answer;
* ``POST /{tenant}/oauth2/v2.0/token`` (client credentials, scope ``{environment_url}/.default``) with
  Entra's ``AADSTS`` error bodies.

Connection of the product spec: ``dataverse-clinic`` (tables ``contacts``, ``cr8a1_sessions``,
``cr8a1_reports``). Tests change data between runs with :meth:`DataverseApp.update`,
:meth:`DataverseApp.create` and :meth:`DataverseApp.delete`.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import time
import typing as t
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlencode

from lorchestra_sandbox.core import ProviderApp
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

if t.TYPE_CHECKING:
    from collections.abc import Iterable

API = "/api/data/v9.2"
FORMATTED = "OData.Community.Display.V1.FormattedValue"
UTC = dt.UTC

#: The app registration of the ``dataverse-clinic`` connection.
TENANT_ID = "8f3c2a71-5b4e-4d2a-9c61-0f7e3d9a1b24"
CLIENT_ID = "3b1d7c0e-9a52-4f6b-8e2d-5c4a1f0b7e93"
CLIENT_SECRET = "sbx-dataverse-clinic-Qx7~secret"  # noqa: S105 - a sandbox credential, printed in the README
ORG_ID = "5e0a1f52-7c3d-4b8e-a9d6-2f4c8b1e0d37"

#: Dataverse metadata type names, by AttributeType.
_META_TYPE = {
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
_LOOKUPS = {"Lookup", "Customer", "Owner"}


@dataclass
class Attribute:
    """One column of a table, as ``EntityDefinitions(...)/Attributes`` describes it."""

    logical_name: str
    type: str
    options: dict[int, str] = field(default_factory=dict)
    targets: tuple[str, ...] = ()
    attribute_of: str | None = None
    date_only: bool = False
    valid_for_read: bool = True

    @property
    def property_name(self) -> str:
        """The Web API property: lookups are ``_{name}_value``."""
        return f"_{self.logical_name}_value" if self.type in _LOOKUPS else self.logical_name

    @property
    def returned(self) -> bool:
        """Whether the Web API returns this column on a record."""
        return self.valid_for_read and self.attribute_of is None and self.type != "Virtual"

    def metadata(self, entity: str, index: int) -> dict[str, t.Any]:
        body: dict[str, t.Any] = {
            "@odata.type": f"#Microsoft.Dynamics.CRM.{_META_TYPE[self.type]}",
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
            body["Format"] = "DateOnly" if self.date_only else "DateAndTime"
            body["DateTimeBehavior"] = {"Value": "DateOnly" if self.date_only else "UserLocal"}
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


def _common(owner_targets: tuple[str, ...] = ("systemuser", "team")) -> list[Attribute]:
    return [
        Attribute("statecode", "State", {0: "Active", 1: "Inactive"}),
        Attribute("statuscode", "Status", {1: "Active", 2: "Inactive"}),
        Attribute("ownerid", "Owner", targets=owner_targets),
        Attribute("owneridtype", "EntityName", attribute_of="ownerid"),
        Attribute("createdby", "Lookup", targets=("systemuser",)),
        Attribute("createdbyname", "String", attribute_of="createdby"),
        Attribute("modifiedby", "Lookup", targets=("systemuser",)),
        Attribute("createdon", "DateTime"),
        Attribute("modifiedon", "DateTime"),
        Attribute("versionnumber", "BigInt"),
    ]


def _tables() -> list[Table]:
    contact = Table(
        "contact",
        "contacts",
        "fullname",
        [
            Attribute("contactid", "Uniqueidentifier"),
            Attribute("firstname", "String"),
            Attribute("lastname", "String"),
            Attribute("fullname", "String"),
            Attribute("emailaddress1", "String"),
            Attribute("mobilephone", "String"),
            Attribute("telephone1", "String"),
            Attribute("birthdate", "DateTime", date_only=True),
            Attribute("gendercode", "Picklist", {1: "Male", 2: "Female", 3: "Non-binary", 4: "Prefer not to say"}),
            Attribute("preferredcontactmethodcode", "Picklist", {1: "Any", 2: "Email", 3: "Phone", 5: "Mail"}),
            Attribute("donotemail", "Boolean", {0: "Allow", 1: "Do Not Allow"}),
            Attribute("address1_line1", "String"),
            Attribute("address1_city", "String"),
            Attribute("address1_postalcode", "String"),
            Attribute("cr8a1_clientnumber", "String"),
            Attribute("cr8a1_intakedate", "DateTime", date_only=True),
            Attribute("description", "Memo"),
            Attribute("entityimage", "Virtual"),
            *_common(),
        ],
    )
    session = Table(
        "cr8a1_session",
        "cr8a1_sessions",
        "cr8a1_name",
        [
            Attribute("cr8a1_sessionid", "Uniqueidentifier"),
            Attribute("cr8a1_name", "String"),
            Attribute("cr8a1_client", "Lookup", targets=("contact",)),
            Attribute("cr8a1_scheduledstart", "DateTime"),
            Attribute("cr8a1_durationminutes", "Integer"),
            Attribute(
                "cr8a1_sessiontype",
                "Picklist",
                {100000000: "Intake", 100000001: "Individual", 100000002: "Family", 100000003: "Group"},
            ),
            Attribute("cr8a1_modality", "Picklist", {100000000: "In person", 100000001: "Telehealth"}),
            Attribute("cr8a1_attended", "Boolean", {0: "No", 1: "Yes"}),
            Attribute("cr8a1_fee", "Money"),
            Attribute("transactioncurrencyid", "Lookup", targets=("transactioncurrency",)),
            Attribute("cr8a1_notes", "Memo"),
            *_common(),
        ],
    )
    report = Table(
        "cr8a1_report",
        "cr8a1_reports",
        "cr8a1_name",
        [
            Attribute("cr8a1_reportid", "Uniqueidentifier"),
            Attribute("cr8a1_name", "String"),
            Attribute("cr8a1_session", "Lookup", targets=("cr8a1_session",)),
            Attribute("cr8a1_client", "Lookup", targets=("contact",)),
            Attribute(
                "cr8a1_reporttype",
                "Picklist",
                {100000000: "Progress note", 100000001: "Assessment", 100000002: "Discharge summary"},
            ),
            Attribute("cr8a1_phq9score", "Integer"),
            Attribute("cr8a1_gad7score", "Integer"),
            Attribute("cr8a1_summary", "Memo"),
            Attribute("cr8a1_issigned", "Boolean", {0: "No", 1: "Yes"}),
            Attribute("cr8a1_signedon", "DateTime"),
            *_common(),
        ],
    )
    return [contact, session, report]


_FIRST = ["Amelia", "Noah", "Olivia", "Liam", "Ava", "Elijah", "Sophia", "Mateo", "Isabella", "Lucas",
          "Mia", "Levi", "Harper", "Ezra", "Evelyn", "Asher", "Luna", "Leo", "Camila", "Kai",
          "Priya", "Omar", "Mei", "Tomasz", "Ngozi", "Sven", "Aisha", "Diego", "Hana", "Rafael"]  # fmt: skip
_LAST = ["Okafor", "Lindqvist", "Nakamura", "Fernandes", "Kowalski", "Haddad", "Brennan", "Moreau",
         "Castillo", "Whitfield", "Abernathy", "Sato", "Delgado", "Osei", "Novak", "Ibarra",
         "Thornton", "Achebe", "Varga", "Quinlan"]  # fmt: skip
_STREETS = ["Maple Ave", "Harbor St", "Cedar Ln", "Orchard Rd", "Linden Way", "Juniper Ct", "Mill St"]
_CITIES = [("Portland", "97205"), ("Beaverton", "97005"), ("Gresham", "97030"), ("Tigard", "97223")]
_USERS = {
    "0b7c1e2a-41f3-4d5e-9a8b-6c2d1e0f3a41": "Dr. Rosa Imani",
    "1c8d2f3b-52a4-4e6f-8b9c-7d3e2f1a4b52": "Dr. Jonah Pell",
    "2d9e3a4c-63b5-4f7a-9cad-8e4f3a2b5c63": "Clinic Front Desk",
}
_SYSTEM_USER = "2d9e3a4c-63b5-4f7a-9cad-8e4f3a2b5c63"
_USD = "7f1e2d3c-4b5a-4e6f-8a9b-0c1d2e3f4a5b"


class DataverseApp(ProviderApp):
    """The clinic's Dataverse environment (one connection: ``dataverse-clinic``)."""

    name = "dataverse"
    token_paths = ("/<tenant>/oauth2/v2.0/token",)

    #: Service protection: requests allowed per 5-minute window, per user.
    burst_limit = 6000

    def __init__(self, seed: int = 6) -> None:
        self.tenant_id = TENANT_ID
        self.tables: dict[str, Table] = {}
        self.ratelimit_remaining = self.burst_limit
        self.time_remaining = 1200.0
        self.expire_tokens_after: int | None = None
        super().__init__()
        self.clients[CLIENT_ID] = CLIENT_SECRET
        self._rng = random.Random(seed)  # noqa: S311 - deterministic fake data
        for table in _tables():
            self.tables[table.entity_set] = table
        self._seed()
        # The clock of "now" for changes made by tests: an hour after the last seeded modification.
        latest = max(r["modifiedon"] for tb in self.tables.values() for r in tb.rows.values())
        self.clock = _parse(latest) + dt.timedelta(hours=1)

    # -- data -----------------------------------------------------------------------------------

    def _seed(self) -> None:
        rng = self._rng
        contacts, sessions, reports = (self.tables[n] for n in ("contacts", "cr8a1_sessions", "cr8a1_reports"))
        start = dt.datetime(2025, 1, 6, 9, 0, 0, tzinfo=UTC)
        bulk_import = dt.datetime(2025, 1, 6, 8, 30, 0, tzinfo=UTC)
        for i in range(120):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            created = start + dt.timedelta(days=rng.randint(0, 280), minutes=rng.randint(0, 480))
            # The first 25 clients came in by a bulk import: one shared modifiedon (ties across pages).
            modified = bulk_import if i < 25 else created + dt.timedelta(days=rng.randint(0, 40))
            city, postal = rng.choice(_CITIES)
            row = {
                "contactid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "firstname": first,
                "lastname": last,
                "fullname": f"{first} {last}",
                "emailaddress1": f"{first.lower()}.{last.lower()}{i}@example.org",
                "mobilephone": f"+1 503 555 {rng.randint(1000, 9999)}",
                "telephone1": None if rng.random() < 0.6 else f"+1 971 555 {rng.randint(1000, 9999)}",
                "birthdate": dt.date(rng.randint(1950, 2012), rng.randint(1, 12), rng.randint(1, 28)).isoformat(),
                "gendercode": rng.choice([1, 2, 3, 4, None]),
                "preferredcontactmethodcode": rng.choice([1, 2, 3]),
                "donotemail": rng.random() < 0.1,
                "address1_line1": f"{rng.randint(10, 9999)} {rng.choice(_STREETS)}",
                "address1_city": city,
                "address1_postalcode": postal,
                "cr8a1_clientnumber": f"CL-{10000 + i}",
                "cr8a1_intakedate": created.date().isoformat(),
                "description": None,
                "statecode": 0 if rng.random() < 0.9 else 1,
                "createdon": _iso(min(created, modified)),
                "modifiedon": _iso(modified),
            }
            row["statuscode"] = 1 if row["statecode"] == 0 else 2
            self._stamp(contacts, row, owner=rng.choice(list(_USERS)))
        client_ids = list(contacts.rows)
        for i in range(240):
            client = contacts.rows[rng.choice(client_ids)]
            scheduled = _parse(client["createdon"]) + dt.timedelta(days=rng.randint(1, 60), hours=rng.randint(0, 6))
            kind = 100000000 if i % 8 == 0 else rng.choice([100000001, 100000001, 100000002, 100000003])
            attended = rng.random() < 0.85
            row = {
                "cr8a1_sessionid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "cr8a1_name": f"S-{20000 + i}",
                "_cr8a1_client_value": client["contactid"],
                "cr8a1_scheduledstart": _iso(scheduled),
                "cr8a1_durationminutes": rng.choice([30, 45, 50, 60, 90]),
                "cr8a1_sessiontype": kind,
                "cr8a1_modality": rng.choice([100000000, 100000001]),
                "cr8a1_attended": attended,
                "cr8a1_fee": rng.choice([120.0, 150.0, 175.0, 90.0]),
                "_transactioncurrencyid_value": _USD,
                "cr8a1_notes": rng.choice([None, "Client reports improved sleep.", "Reviewed coping plan."]),
                "statecode": 0,
                "statuscode": 1,
                "createdon": _iso(scheduled - dt.timedelta(days=7)),
                "modifiedon": _iso(scheduled + dt.timedelta(hours=2)),
            }
            self._stamp(sessions, row, owner=rng.choice(list(_USERS)[:2]))
        session_rows = list(sessions.rows.values())
        for i in range(160):
            s = session_rows[(i * 3) % len(session_rows)]
            signed = rng.random() < 0.8
            written = _parse(s["modifiedon"]) + dt.timedelta(hours=rng.randint(1, 48))
            row = {
                "cr8a1_reportid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "cr8a1_name": f"R-{30000 + i}",
                "_cr8a1_session_value": s["cr8a1_sessionid"],
                "_cr8a1_client_value": s["_cr8a1_client_value"],
                "cr8a1_reporttype": rng.choice([100000000, 100000000, 100000001, 100000002]),
                "cr8a1_phq9score": rng.randint(0, 27),
                "cr8a1_gad7score": rng.randint(0, 21),
                "cr8a1_summary": rng.choice(["Symptoms stable.", "Moderate improvement.", "Referred for review."]),
                "cr8a1_issigned": signed,
                "cr8a1_signedon": _iso(written + dt.timedelta(hours=3)) if signed else None,
                "statecode": 0,
                "statuscode": 1,
                "createdon": _iso(written),
                "modifiedon": _iso(written + dt.timedelta(hours=3)),
            }
            self._stamp(reports, row, owner=s["_ownerid_value"])

    def _stamp(self, table: Table, row: dict[str, t.Any], owner: str | None = None) -> None:
        """Fill system columns and store the row."""
        row.setdefault("_ownerid_value", owner or _SYSTEM_USER)
        row.setdefault("_createdby_value", _SYSTEM_USER)
        row["_modifiedby_value"] = _SYSTEM_USER
        row["versionnumber"] = int(row.get("versionnumber") or 4_100_000) + 1 + self._rng.randint(0, 500)
        for attr in table.attributes:
            if attr.returned:
                row.setdefault(attr.property_name, None)
        table.rows[row[table.primary_id]] = row

    def _tick(self) -> str:
        self.clock += dt.timedelta(seconds=1)
        return _iso(self.clock)

    def update(self, entity_set: str, record_id: str, **changes: t.Any) -> dict[str, t.Any]:
        """Change a row as a user would: bumps ``modifiedon`` and ``versionnumber``."""
        with self.lock:
            table = self.tables[entity_set]
            row = table.rows[record_id]
            row.update(changes)
            row["modifiedon"] = self._tick()
            self._stamp(table, row)
            return self.render(table, row, formatted=True)

    def create(self, entity_set: str, **values: t.Any) -> dict[str, t.Any]:
        """Insert a row; returns the record as the Web API renders it (with formatted values)."""
        with self.lock:
            table = self.tables[entity_set]
            now = self._tick()
            row = {table.primary_id: str(uuid.UUID(int=self._rng.getrandbits(128), version=4))}
            row |= {"statecode": 0, "statuscode": 1, "createdon": now, "modifiedon": now, **values}
            self._stamp(table, row)
            return self.render(table, row, formatted=True)

    def delete(self, entity_set: str, record_id: str) -> None:
        with self.lock:
            del self.tables[entity_set].rows[record_id]

    def records(self, entity_set: str, *, formatted: bool = True) -> list[dict[str, t.Any]]:
        """Every row of a table, rendered as the Web API returns it, in ``modifiedon`` order."""
        with self.lock:
            table = self.tables[entity_set]
            rows = sorted(table.rows.values(), key=lambda r: (r["modifiedon"], r[table.primary_id]))
            return [self.render(table, r, formatted=formatted) for r in rows]

    # -- rendering ------------------------------------------------------------------------------

    def _lookup_name(self, value: str) -> str | None:
        if value in _USERS:
            return _USERS[value]
        if value == _USD:
            return "US Dollar"
        for table in self.tables.values():
            if value in table.rows:
                return table.rows[value].get(table.primary_name)
        return None

    def render(self, table: Table, row: dict[str, t.Any], *, formatted: bool) -> dict[str, t.Any]:
        out: dict[str, t.Any] = {"@odata.etag": f'W/"{row["versionnumber"]}"'}
        for attr in table.attributes:
            if not attr.returned:
                continue
            prop = attr.property_name
            value = row.get(prop)
            if formatted and value is not None:
                text = self._format(attr, value)
                if text is not None:
                    out[f"{prop}@{FORMATTED}"] = text
            out[prop] = value
        return out

    def _format(self, attr: Attribute, value: t.Any) -> str | None:
        if attr.type in {"Picklist", "State", "Status"}:
            return attr.options.get(value, str(value))
        if attr.type == "Boolean":
            return attr.options[int(bool(value))]
        if attr.type == "Integer":
            return f"{value:,}"
        if attr.type == "Money":
            return f"${value:,.2f}"
        if attr.type == "DateTime":
            if attr.date_only:
                d = dt.date.fromisoformat(value)
                return f"{d.month}/{d.day}/{d.year}"
            v = _parse(value)
            return f"{v.month}/{v.day}/{v.year} {v.strftime('%I:%M %p').lstrip('0')}"
        if attr.type in _LOOKUPS:
            return self._lookup_name(value)
        return None

    # -- routes ---------------------------------------------------------------------------------

    def routes(self) -> Iterable[Rule]:
        return [
            Rule(f"{API}/EntityDefinitions", endpoint=self.entity_definitions, methods=["GET"]),
            Rule(f"{API}/EntityDefinitions(LogicalName='<name>')", endpoint=self.entity_definition, methods=["GET"]),
            Rule(
                f"{API}/EntityDefinitions(LogicalName='<name>')/Attributes", endpoint=self.attributes, methods=["GET"]
            ),
            Rule(
                f"{API}/EntityDefinitions(LogicalName='<name>')/Attributes/Microsoft.Dynamics.CRM.<cast>",
                endpoint=self.attributes,
                methods=["GET"],
            ),
            Rule(f"{API}/<entity_set>", endpoint=self.query, methods=["GET"]),
        ]

    def control_routes(self) -> Iterable[Rule]:
        """Edit the data from another process: ``POST /_sandbox/records/{entity_set}`` (create),
        ``PATCH`` / ``DELETE /_sandbox/records/{entity_set}/{id}``; answers with the rendered row."""
        return [
            Rule("/_sandbox/records/<entity_set>", endpoint=self._edit_records, methods=["POST"]),
            Rule(
                "/_sandbox/records/<entity_set>/<record_id>", endpoint=self._edit_records, methods=["PATCH", "DELETE"]
            ),
        ]

    def _edit_records(self, request: Request, entity_set: str, record_id: str | None = None) -> Response:
        if entity_set not in self.tables or (record_id and record_id not in self.tables[entity_set].rows):
            return self.json({"error": "no such table or row"}, 404)
        if request.method == "DELETE":
            self.delete(entity_set, t.cast("str", record_id))
            return self.json({"ok": True})
        values = request.get_json(force=True) or {}
        if record_id is None:
            return self.json(self.create(entity_set, **values), 201)
        return self.json(self.update(entity_set, record_id, **values))

    def _base(self, request: Request) -> str:
        return request.host_url.rstrip("/") + API

    def entity_definitions(self, request: Request) -> Response:
        wanted = request.args.get("$filter", "")
        m = re.fullmatch(r"\s*(EntitySetName|LogicalName)\s+eq\s+'([^']*)'\s*", wanted) if wanted else None
        if wanted and m is None:
            return self.error(400, "0x80060888", f"The query parameter $filter '{wanted}' is not supported.")
        defs = [tb.definition() for tb in self.tables.values()]
        if m:
            defs = [d for d in defs if d[m.group(1)] == m.group(2)]
        select = _select(request)
        defs = [_pick(d, select) for d in defs]
        ctx = f"{self._base(request)}/$metadata#EntityDefinitions" + (f"({','.join(select)})" if select else "")
        return self.dv_json({"@odata.context": ctx, "value": defs})

    def _table_by_logical(self, name: str) -> Table | None:
        return next((tb for tb in self.tables.values() if tb.logical_name == name), None)

    def entity_definition(self, request: Request, name: str) -> Response:
        table = self._table_by_logical(name)
        if table is None:
            return self.error(404, "0x80040217", f"Could not find entity with name '{name}'.")
        select = _select(request)
        ctx = f"{self._base(request)}/$metadata#EntityDefinitions({','.join(select)})/$entity"
        return self.dv_json({"@odata.context": ctx, **_pick(table.definition(), select)})

    def attributes(self, request: Request, name: str, cast: str | None = None) -> Response:
        """``.../Attributes``, or ``.../Attributes/Microsoft.Dynamics.CRM.{Type}AttributeMetadata``."""
        table = self._table_by_logical(name)
        if table is None:
            return self.error(404, "0x80040217", f"Could not find entity with name '{name}'.")
        select = _select(request)
        value = [a.metadata(table.logical_name, i) for i, a in enumerate(table.attributes)]
        if cast is not None:
            value = [v for v in value if v["@odata.type"] == f"#Microsoft.Dynamics.CRM.{cast}"]
        value = [_pick(v, select) for v in value]
        ctx = f"{self._base(request)}/$metadata#EntityDefinitions('{name}')/Attributes" + (
            f"/Microsoft.Dynamics.CRM.{cast}" if cast else ""
        )
        return self.dv_json({"@odata.context": ctx, "value": value})

    def query(self, request: Request, entity_set: str) -> Response:
        table = self.tables.get(entity_set)
        if table is None:
            return self.error(404, "0x80060888", f"Resource not found for the segment '{entity_set}'.")
        if table.forbidden:
            return self.error(
                403,
                "0x80040220",
                f"Principal user (Id={CLIENT_ID}, type=8, roleCount=1, privilegeCount=0, accessMode=4), "
                f"is missing prvRead{table.logical_name} privilege on OTC=10421 for entity "
                f"'{table.logical_name}'. context.Caller={CLIENT_ID}",
            )
        try:
            predicates = _parse_filter(table, request.args.get("$filter", ""))
            order = _parse_orderby(table, request.args.get("$orderby", ""))
        except ValueError as exc:
            return self.error(400, "0x80060888", str(exc))
        prefer = _parse_prefer(request.headers.get("Prefer", ""))
        page_size = min(int(prefer.get("odata.maxpagesize", 5000)), 5000)
        annotations = prefer.get("odata.include-annotations", "").strip('"')
        formatted = annotations in {"*", FORMATTED, "OData.Community.Display.V1.*"}

        with self.lock:
            rows = [r for r in table.rows.values() if all(p(r) for p in predicates)]
            keys = [*order, (table.primary_id, False)]
            rows.sort(key=lambda r: tuple(_sort_key(r.get(c), desc) for c, desc in keys))
            page_number = 1
            skiptoken = request.args.get("$skiptoken")
            if skiptoken:
                try:
                    page_number, last = _read_cookie(skiptoken)
                except ValueError:
                    return self.error(400, "0x80040203", "Invalid $skiptoken: the paging cookie is malformed.")
                cursor = tuple(_sort_key(last.get(c), desc) for c, desc in keys)
                rows = [r for r in rows if tuple(_sort_key(r.get(c), desc) for c, desc in keys) > cursor]
            if "$top" in request.args:  # $top caps the whole result: no paging
                rows, page_size = rows[: int(request.args["$top"])], 5000
            page, more = rows[:page_size], len(rows) > page_size
            body: dict[str, t.Any] = {
                "@odata.context": f"{self._base(request)}/$metadata#{entity_set}",
                "value": [self.render(table, r, formatted=formatted) for r in page],
            }
            if more:
                cookie = _write_cookie(page_number, page, keys)
                params = [(k, v) for k, v in request.args.items(multi=True) if k != "$skiptoken"]
                query = urlencode(params, quote_via=quote, safe="$'(),:")
                body["@odata.nextLink"] = (
                    f"{self._base(request)}/{entity_set}?{query}&$skiptoken={quote(cookie, safe='=/')}"
                )
        applied = [f"odata.maxpagesize={page_size}"] if "odata.maxpagesize" in prefer else []
        if annotations:
            applied.insert(0, f'odata.include-annotations="{annotations}"')
        headers = {"Preference-Applied": ",".join(applied)} if applied else {}
        return self.dv_json(body, headers=headers)

    # -- wire details ---------------------------------------------------------------------------

    def dv_json(self, body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        response = self.json(body, status, {"OData-Version": "4.0", **(headers or {})})
        response.mimetype = "application/json"
        return response

    def error(self, status: int, code: str, message: str) -> Response:
        """Dataverse error bodies; a 401 is an empty body with a ``WWW-Authenticate`` challenge."""
        if status == 401:
            return Response(
                b"",
                status=401,
                headers={
                    "WWW-Authenticate": f"Bearer authorization_uri=https://login.microsoftonline.com/"
                    f"{self.tenant_id}/oauth2/authorize, resource_id=https://clinic.crm.dynamics.com/"
                },
            )
        if not code.startswith("0x"):
            code = {404: "0x80060888", 403: "0x80040220", 400: "0x80040203"}.get(status, "0x80040216")
        return self.dv_json({"error": {"code": code, "message": message}}, status)

    def _throttled(self, retry_after: int) -> Response:
        response = self.dv_json(
            {
                "error": {
                    "code": "0x80072322",
                    "message": f"Number of requests exceeded the limit of {self.burst_limit} over time "
                    "window of 300 seconds.",
                }
            },
            429,
        )
        response.headers["Retry-After"] = str(retry_after)
        return response

    def _unavailable(self, retry_after: int) -> Response:
        response = self.dv_json({"error": {"code": "0x80040216", "message": "An unexpected error occurred."}}, 503)
        response.headers["Retry-After"] = str(retry_after)
        return response

    def _call_api(self, endpoint: t.Any, request: Request, args: dict) -> Response:
        with self.lock:
            if self.expire_tokens_after is not None:
                if self.expire_tokens_after <= 0:
                    self.tokens.expire_all()
                    self.expire_tokens_after = None
                else:
                    self.expire_tokens_after -= 1
        started = time.perf_counter()
        response = super()._call_api(endpoint, request, args)
        if response.status_code != 401:
            with self.lock:
                self.ratelimit_remaining = max(0, self.ratelimit_remaining - 1)
                self.time_remaining = max(0.0, self.time_remaining - (time.perf_counter() - started))
                response.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] = str(self.ratelimit_remaining)
                response.headers["x-ms-ratelimit-time-remaining-xrm-requests"] = f"{self.time_remaining:.2f}"
        return response

    def _set_faults(self, request: Request) -> Response:
        """Core switches plus Dataverse ones.

        ``ratelimit_remaining`` (int): what ``x-ms-ratelimit-burst-remaining-xrm-requests`` counts down from;
        ``forbid`` (entity set names): reading them answers 403 (missing privilege);
        ``expire_tokens_after`` (int): answer N more API requests, then invalidate every access token once.
        """
        body = request.get_json(force=True) or {}  # cached: the core reads what is left of it
        with self.lock:
            if "expire_tokens_after" in body:
                self.expire_tokens_after = body.pop("expire_tokens_after")
            if "ratelimit_remaining" in body:
                self.ratelimit_remaining = int(body.pop("ratelimit_remaining"))
            for name in body.pop("forbid", []):
                if name not in self.tables:
                    return self.json({"error": f"unknown entity set {name!r}"}, 400)
                self.tables[name].forbidden = True
        return super()._set_faults(request)

    def _reset(self, request: Request) -> Response:
        with self.lock:
            self.ratelimit_remaining = self.burst_limit
            self.time_remaining = 1200.0
            self.expire_tokens_after = None
            for table in self.tables.values():
                table.forbidden = False
        return super()._reset(request)

    def _token(self, request: Request, tenant: str) -> Response:
        """Microsoft Entra ID v2.0 token endpoint, client credentials grant."""
        form = request.form
        if tenant not in {self.tenant_id, "organizations"}:
            return self._aad_error(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the "
                "correct tenant ID and are signing into the correct cloud.",
            )
        if form.get("grant_type") != "client_credentials":
            return self._aad_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        client_id = form.get("client_id", "")
        if client_id not in self.clients:
            return self._aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
            )
        if self.clients[client_id] != form.get("client_secret"):
            return self._aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                f"secret value, not the client secret ID, for a secret added to app '{client_id}'.",
            )
        scope = form.get("scope", "")
        resource = request.host_url.rstrip("/")
        if not scope.endswith("/.default"):
            return self._aad_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client "
                "credential flows must have a scope value with /.default suffixed to the resource identifier.",
            )
        if scope.removesuffix("/.default").rstrip("/") != resource:
            return self._aad_error(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named "
                f"{scope.removesuffix('/.default')} was not found in the tenant named {tenant}.",
            )
        token, lifetime = self.tokens.issue()
        return self.json({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                          "access_token": token})  # fmt: skip

    def _aad_error(self, status: int, error: str, code: int, description: str) -> Response:
        trace = str(uuid.uuid4())
        now = dt.datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return self.json(
            {
                "error": error,
                "error_description": f"AADSTS{code}: {description} Trace ID: {trace} "
                f"Correlation ID: {trace} Timestamp: {now}",
                "error_codes": [code],
                "timestamp": now,
                "trace_id": trace,
                "correlation_id": trace,
                "error_uri": f"https://login.microsoftonline.com/error?code={code}",
            },
            status,
        )


# -- OData helpers ------------------------------------------------------------------------------


def _iso(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _select(request: Request) -> list[str]:
    raw = request.args.get("$select", "")
    return [s.strip() for s in raw.split(",") if s.strip()]


def _pick(body: dict[str, t.Any], select: list[str]) -> dict[str, t.Any]:
    if not select:
        return body
    return {k: v for k, v in body.items() if k in select or k.startswith("@odata.")}


def _parse_prefer(header: str) -> dict[str, str]:
    out = {}
    for part in re.split(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", header):
        key, _, value = part.strip().partition("=")
        if key:
            out[key.strip()] = value.strip()
    return out


_OPS = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "ge": lambda a, b: a is not None and a >= b,
    "gt": lambda a, b: a is not None and a > b,
    "le": lambda a, b: a is not None and a <= b,
    "lt": lambda a, b: a is not None and a < b,
}


def _parse_filter(table: Table, text: str) -> list[t.Callable[[dict[str, t.Any]], bool]]:
    """``col op literal [and ...]`` with datetime, number, string and null literals."""
    predicates = []
    for clause in (c for c in re.split(r"\s+and\s+", text.strip()) if c):
        m = re.fullmatch(r"\(?\s*(\w+)\s+(eq|ne|ge|gt|le|lt)\s+(.+?)\s*\)?", clause)
        if m is None:
            msg = f"Syntax error at position 0 in '{text}'."
            raise ValueError(msg)
        prop, op, literal = m.groups()
        attr = table.attribute(prop)
        if attr is None:
            msg = f"Could not find a property named '{prop}' on type 'Microsoft.Dynamics.CRM.{table.logical_name}'."
            raise ValueError(msg)
        value = _literal(attr, literal)
        predicates.append(lambda r, p=prop, f=_OPS[op], v=value: f(_comparable(r.get(p)), v))
    return predicates


def _literal(attr: Attribute, literal: str) -> t.Any:
    if literal == "null":
        return None
    if literal.startswith("'") and literal.endswith("'"):
        return literal[1:-1].replace("''", "'")
    if attr.type == "DateTime":
        try:
            return _parse(literal)
        except ValueError:
            msg = f"The DateTimeOffset text '{literal}' should be in format 'yyyy-mm-ddThh:mm:ss('.'s+)?(zzzzzz)?'."
            raise ValueError(msg) from None
    if literal in {"true", "false"}:
        return literal == "true"
    return float(literal) if "." in literal else int(literal)


def _comparable(value: t.Any) -> t.Any:
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", value):
        return _parse(value)
    return value


def _parse_orderby(table: Table, text: str) -> list[tuple[str, bool]]:
    order = []
    for item in (i.strip() for i in text.split(",") if i.strip()):
        prop, _, direction = item.partition(" ")
        if table.attribute(prop) is None:
            msg = f"Could not find a property named '{prop}' on type 'Microsoft.Dynamics.CRM.{table.logical_name}'."
            raise ValueError(msg)
        order.append((prop, direction.strip().lower() == "desc"))
    return order


class _Desc:
    def __init__(self, value: t.Any) -> None:
        self.value = value

    def __lt__(self, other: _Desc) -> bool:
        return other.value < self.value

    def __gt__(self, other: _Desc) -> bool:
        return other.value > self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and other.value == self.value

    __hash__ = None  # type: ignore[assignment]


def _sort_key(value: t.Any, desc: bool) -> t.Any:
    key = (value is not None, "" if value is None else str(value).lower())
    return _Desc(key) if desc else key


def _write_cookie(page_number: int, page: list[dict[str, t.Any]], keys: list[tuple[str, bool]]) -> str:
    """``<cookie pagenumber=.. pagingcookie=.. istracking=..>`` as Dataverse puts in ``$skiptoken``."""
    parts = []
    for column, _ in keys:
        last, first = page[-1].get(column), page[0].get(column)
        if column.endswith("id") and last:
            last, first = "{" + str(last).upper() + "}", "{" + str(first).upper() + "}"
        parts.append(f'<{column} last="{last}" first="{first}" />')
    inner = f'<cookie page="{page_number}">{"".join(parts)}</cookie>'
    return f'<cookie pagenumber="{page_number + 1}" pagingcookie="{quote(inner, safe="")}" istracking="False" />'


def _read_cookie(skiptoken: str) -> tuple[int, dict[str, t.Any]]:
    m = re.fullmatch(r'<cookie pagenumber="(\d+)" pagingcookie="([^"]*)" istracking="(?:True|False)" />', skiptoken)
    if m is None:
        raise ValueError(skiptoken)
    inner = unquote(m.group(2))
    last = {}
    for column, raw in re.findall(r'<(\w+) last="([^"]*)" first="[^"]*" />', inner):
        value = raw[1:-1].lower() if raw.startswith("{") and raw.endswith("}") else raw
        last[column] = None if value == "None" else value
    if not last:
        raise ValueError(skiptoken)
    return int(m.group(1)) - 1, last


def create_app() -> DataverseApp:
    """The ``dataverse-clinic`` environment with its seeded clinic data."""
    return DataverseApp()
