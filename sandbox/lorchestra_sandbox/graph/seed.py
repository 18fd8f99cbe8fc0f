"""Seed data of the Graph sandbox: the tenants, the four mailboxes of the product spec, fake German mail."""

from __future__ import annotations

import datetime as dt
import random
import typing as t

from lorchestra_sandbox.graph.model import Mailbox, Message, b64, digest, immutable_id, iso

if t.TYPE_CHECKING:
    from lorchestra_sandbox.graph.app import GraphApp


# Sandbox-only credentials (never valid anywhere else).
TENANTS: dict[str, dict[str, str]] = {
    "mensio": {
        "tenant_id": "5f1d7a2c-8c3e-4b7a-9d61-2a4e0c9b7f10",
        "client_id": "3c9e8f12-4b6d-4a1e-8f2a-6d7c5b4a3e21",
        "client_secret": "sbx-mensio~Q8v.graph-client-secret",
        "domain": "mensio.example",
        "org": "Mensio Praxis",
    },
    "efs": {
        "tenant_id": "b7e4c1d9-2f6a-4c3b-8e5d-9a1f0e2d3c47",
        "client_id": "8a2d6e4f-1c3b-4d5a-9e7f-0b1c2d3e4f50",
        "client_secret": "sbx-efs~W3k.graph-client-secret",
        "domain": "efs.example",
        "org": "EFS Beratung",
    },
}

#: connection_name -> (tenant key, mailbox UPN, display name, number of seeded messages)
CONNECTIONS: dict[str, tuple[str, str, str, int]] = {
    "exchange-ben-mensio": ("mensio", "ben@mensio.example", "Ben Hartmann", 90),
    "exchange-booking-mensio": ("mensio", "booking@mensio.example", "Mensio Terminbuchung", 70),
    "exchange-info-mensio": ("mensio", "info@mensio.example", "Mensio Info", 60),
    "exchange-ben-efs": ("efs", "ben@efs.example", "Ben Hartmann (EFS)", 50),
}

#: (well-known name or None, displayName, parent key or None)
FOLDER_LAYOUT: list[tuple[str, str | None, str, str | None]] = [
    ("inbox", "inbox", "Inbox", None),
    ("intake", None, "Intake", "inbox"),
    ("intake-2024", None, "2024", "intake"),
    ("billing", None, "Billing", "inbox"),
    ("sentitems", "sentitems", "Sent Items", None),
    ("drafts", "drafts", "Drafts", None),
    ("deleteditems", "deleteditems", "Deleted Items", None),
    ("archive", "archive", "Archive", None),
    ("junkemail", "junkemail", "Junk Email", None),
    ("outbox", "outbox", "Outbox", None),
    ("conversationhistory", "conversationhistory", "Conversation History", None),
    ("clipboard", None, "Clipboard", None),
]
#: where seeded mail goes, with weights
SEED_FOLDERS = [
    ("inbox", 30),
    ("intake", 15),
    ("intake-2024", 10),
    ("billing", 10),
    ("sentitems", 20),
    ("drafts", 3),
    ("deleteditems", 5),
    ("archive", 10),
    ("junkemail", 2),
]

FIRST_NAMES = [
    "Anna", "Lukas", "Mia", "Jonas", "Lea", "Felix", "Sophie", "Paul", "Emma", "Noah",
    "Hannah", "Elias", "Marie", "Leon", "Clara", "Finn", "Laura", "Tim", "Julia", "Max",
]  # fmt: skip
LAST_NAMES = [
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
    "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Neumann", "Schwarz",
]  # fmt: skip
# fmt: off
TOPICS = [
    ("Terminanfrage", "ich würde gerne einen Termin für ein Erstgespräch vereinbaren. Passt es Ihnen nächste Woche?"),
    ("Terminverschiebung", "leider muss ich meinen Termin am Donnerstag verschieben. Gibt es eine Alternative?"),
    ("Absage Termin", "ich kann den vereinbarten Termin leider nicht wahrnehmen und sage hiermit ab."),
    ("Rechnung", "anbei die Rechnung für die Sitzungen im letzten Monat. Bitte um Überweisung binnen 14 Tagen."),
    ("Anamnesebogen", "anbei der ausgefüllte Anamnesebogen für das Erstgespräch."),
    ("Kostenübernahme Krankenkasse", "die Krankenkasse hat die Kostenübernahme bestätigt, das Schreiben liegt bei."),
    ("Rückfrage zur Sitzung", "nach unserer letzten Sitzung habe ich noch eine kurze Frage zu den Übungen."),
    ("Wartelistenplatz", "ich wollte nachfragen, ob inzwischen ein Platz auf der Warteliste frei geworden ist."),
    ("Bescheinigung", "könnten Sie mir bitte eine Bescheinigung über die wahrgenommenen Termine ausstellen?"),
    ("Videositzung Link", "hier ist der Link für unsere Videositzung morgen um 10 Uhr."),
]
# fmt: on


def person(rng: random.Random, domain: str | None = None) -> dict[str, dict[str, str]]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    local = f"{first}.{last}".lower().replace("ü", "ue").replace("ö", "oe").replace("ä", "ae")
    host = domain or rng.choice(["web.example", "posteo.example", "gmx.example", "mail.example"])
    return {"emailAddress": {"name": f"{first} {last}", "address": f"{local}@{host}"}}


def fake_fields(rng: random.Random, box: Mailbox, key: str, received: str, folder: str = "inbox") -> dict[str, t.Any]:
    """Properties of a message resource (Graph v1.0 ``message``), minus id/changeKey/parentFolderId."""
    topic, text = rng.choice(TOPICS)
    sender = person(rng)
    me = {"emailAddress": {"name": box.display_name, "address": box.upn}}
    outgoing = folder in {"sentitems", "drafts"}
    frm, to = (me, sender) if outgoing else (sender, me)
    greeting = f"Sehr geehrte/r {to['emailAddress']['name']},"
    signature = frm["emailAddress"]["name"]
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>'
        f"<body><p>{greeting}</p><p>{text}</p><p>Mit freundlichen Grüßen<br>{signature}</p></body></html>"
    )
    preview = f"{greeting} {text}"[:255]
    conversation = "AAQkA" + b64(digest(box.upn, "conv", topic, sender["emailAddress"]["address"], size=1))[:40]
    is_draft = folder == "drafts"
    frm_host = frm["emailAddress"]["address"].split("@")[1]
    return {
        "createdDateTime": received,
        "lastModifiedDateTime": received,
        "categories": rng.choice([[], [], [], ["Klient:in"], ["Abrechnung"], ["Warteliste"]]),
        "receivedDateTime": received,
        "sentDateTime": None if is_draft else received,
        "hasAttachments": topic in {"Rechnung", "Anamnesebogen", "Kostenübernahme Krankenkasse"},
        "internetMessageId": f"<{b64(digest(box.upn, key, 'mid', size=1))[:24]}@{frm_host}>",
        "subject": topic if rng.random() < 0.7 else f"AW: {topic}",
        "bodyPreview": preview,
        "importance": rng.choice(["normal"] * 8 + ["high", "low"]),
        "conversationId": conversation,
        "conversationIndex": b64(digest(conversation, key, size=1))[:30],
        "isDeliveryReceiptRequested": False if not is_draft else None,
        "isReadReceiptRequested": False,
        "isRead": outgoing or rng.random() < 0.75,
        "isDraft": is_draft,
        "inferenceClassification": "focused" if rng.random() < 0.85 else "other",
        "body": {"contentType": "html", "content": html},
        "sender": frm,
        "from": frm,
        "toRecipients": [to],
        "ccRecipients": [person(rng, box.upn.split("@")[1])] if rng.random() < 0.15 else [],
        "bccRecipients": [],
        "replyTo": [],
        "flag": {"flagStatus": "flagged" if rng.random() < 0.1 else "notFlagged"},
    }


def seed_mailbox(app: GraphApp, tenant: str, upn: str, display_name: str, count: int) -> Mailbox:
    """Create a mailbox with ``count`` deterministic messages spread over its folders."""
    box = app.add_mailbox(tenant, upn, display_name)
    rng = random.Random(upn)  # noqa: S311 - fake data, not crypto
    start = dt.datetime(2024, 6, 3, 7, 30, tzinfo=dt.UTC)
    keys = [k for k, _ in SEED_FOLDERS]
    weights = [w for _, w in SEED_FOLDERS]
    moment = start
    for index in range(count):
        moment += dt.timedelta(minutes=rng.randint(90, 60 * 60))
        folder = rng.choices(keys, weights)[0]
        key = f"m{index:05d}"
        fields = fake_fields(random.Random(f"{upn}:{key}"), box, key, iso(moment), folder)  # noqa: S311
        box.seq += 1
        box.messages[key] = Message(key, immutable_id(box.upn, key), folder, fields, box.seq)
    return box


def connection_config(connection_name: str, base_url: str) -> dict[str, t.Any]:
    """tap-exchange settings that point a connection of the product spec at a running sandbox."""
    tenant, upn, _, _ = CONNECTIONS[connection_name]
    info = TENANTS[tenant]
    return {
        "connection_name": connection_name,
        "tenant_id": info["tenant_id"],
        "client_id": info["client_id"],
        "client_secret": info["client_secret"],
        "mailbox": upn,
        "api_url": f"{base_url}/v1.0",
        "authority_url": base_url,
    }
