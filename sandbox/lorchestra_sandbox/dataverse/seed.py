"""Seed data of the Dataverse sandbox: the ``dataverse-clinic`` app registration, its tables and fake clinic rows."""

from __future__ import annotations

import datetime as dt
import typing as t
import uuid

from lorchestra_sandbox.dataverse.model import Attribute, Table
from lorchestra_sandbox.dataverse.odata import UTC, iso, parse_instant

if t.TYPE_CHECKING:
    from lorchestra_sandbox.dataverse.app import DataverseApp

#: The app registration of the ``dataverse-clinic`` connection.
TENANT_ID = "8f3c2a71-5b4e-4d2a-9c61-0f7e3d9a1b24"
CLIENT_ID = "3b1d7c0e-9a52-4f6b-8e2d-5c4a1f0b7e93"
CLIENT_SECRET = "sbx-dataverse-clinic-Qx7~secret"  # noqa: S105 - a sandbox credential, printed in the README
ORG_ID = "5e0a1f52-7c3d-4b8e-a9d6-2f4c8b1e0d37"
#: The clinic users' time zone (Pacific standard time), in which User Local values were entered.
CLINIC_OFFSET = dt.timezone(dt.timedelta(hours=-8))


def user_local_midnight(day: dt.date) -> str:
    """A Date Only column with User Local behaviour: midnight where the user entered it, stored in UTC."""
    return iso(dt.datetime.combine(day, dt.time(0, 0), tzinfo=CLINIC_OFFSET))


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


def tables() -> list[Table]:
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
            Attribute("birthdate", "DateTime", behavior="DateOnly", date_format="DateOnly"),
            Attribute("gendercode", "Picklist", {1: "Male", 2: "Female", 3: "Non-binary", 4: "Prefer not to say"}),
            Attribute("preferredcontactmethodcode", "Picklist", {1: "Any", 2: "Email", 3: "Phone", 5: "Mail"}),
            Attribute("donotemail", "Boolean", {0: "Allow", 1: "Do Not Allow"}),
            Attribute("address1_line1", "String"),
            Attribute("address1_city", "String"),
            Attribute("address1_postalcode", "String"),
            Attribute("cr8a1_clientnumber", "String"),
            # A custom Date Only column left at the default User Local behaviour: returned as a date-time.
            Attribute("cr8a1_intakedate", "DateTime", date_format="DateOnly"),
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
            Attribute("cr8a1_scheduledstart", "DateTime", behavior="TimeZoneIndependent"),
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
USERS = {
    "0b7c1e2a-41f3-4d5e-9a8b-6c2d1e0f3a41": "Dr. Rosa Imani",
    "1c8d2f3b-52a4-4e6f-8b9c-7d3e2f1a4b52": "Dr. Jonah Pell",
    "2d9e3a4c-63b5-4f7a-9cad-8e4f3a2b5c63": "Clinic Front Desk",
}
SYSTEM_USER = "2d9e3a4c-63b5-4f7a-9cad-8e4f3a2b5c63"
USD = "7f1e2d3c-4b5a-4e6f-8a9b-0c1d2e3f4a5b"


def seed_rows(app: DataverseApp) -> None:
    """120 contacts, 240 sessions and 160 reports, deterministic from the app's random seed."""
    rng = app.rng
    contacts, sessions, reports = (app.tables[n] for n in ("contacts", "cr8a1_sessions", "cr8a1_reports"))
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
            "cr8a1_intakedate": user_local_midnight(created.date()),
            "description": None,
            "statecode": 0 if rng.random() < 0.9 else 1,
            "createdon": iso(min(created, modified)),
            "modifiedon": iso(modified),
        }
        row["statuscode"] = 1 if row["statecode"] == 0 else 2
        app.stamp(contacts, row, owner=rng.choice(list(USERS)))
    client_ids = list(contacts.rows)
    for i in range(240):
        client = contacts.rows[rng.choice(client_ids)]
        scheduled = parse_instant(client["createdon"]) + dt.timedelta(days=rng.randint(1, 60), hours=rng.randint(0, 6))
        kind = 100000000 if i % 8 == 0 else rng.choice([100000001, 100000001, 100000002, 100000003])
        attended = rng.random() < 0.85
        row = {
            "cr8a1_sessionid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "cr8a1_name": f"S-{20000 + i}",
            "_cr8a1_client_value": client["contactid"],
            "cr8a1_scheduledstart": iso(scheduled),
            "cr8a1_durationminutes": rng.choice([30, 45, 50, 60, 90]),
            "cr8a1_sessiontype": kind,
            "cr8a1_modality": rng.choice([100000000, 100000001]),
            "cr8a1_attended": attended,
            "cr8a1_fee": rng.choice([120.0, 150.0, 175.0, 90.0]),
            "_transactioncurrencyid_value": USD,
            "cr8a1_notes": rng.choice([None, "Client reports improved sleep.", "Reviewed coping plan."]),
            "statecode": 0,
            "statuscode": 1,
            "createdon": iso(scheduled - dt.timedelta(days=7)),
            "modifiedon": iso(scheduled + dt.timedelta(hours=2)),
        }
        app.stamp(sessions, row, owner=rng.choice(list(USERS)[:2]))
    session_rows = list(sessions.rows.values())
    for i in range(160):
        s = session_rows[(i * 3) % len(session_rows)]
        signed = rng.random() < 0.8
        written = parse_instant(s["modifiedon"]) + dt.timedelta(hours=rng.randint(1, 48))
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
            "cr8a1_signedon": iso(written + dt.timedelta(hours=3)) if signed else None,
            "statecode": 0,
            "statuscode": 1,
            "createdon": iso(written),
            "modifiedon": iso(written + dt.timedelta(hours=3)),
        }
        app.stamp(reports, row, owner=s["_ownerid_value"])
