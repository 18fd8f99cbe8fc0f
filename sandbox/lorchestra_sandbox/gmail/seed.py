"""The three clinic mailboxes of the product spec: accounts, credentials and realistic fake messages."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from importlib import resources

from lorchestra_sandbox.gmail.content import CLINICIANS, DAYS, FIRST, LAST, TEMPLATES
from lorchestra_sandbox.gmail.model import Mailbox

#: OAuth client of the sandbox (gmail.com accounts authorise it with a refresh token).
CLIENT_ID = "812640512345-lorchestrasandbox.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-sandbox-gmail-client-secret"  # noqa: S105 - a sandbox-only fake
READONLY_SCOPE = "https://www.googleapis.com/auth/gmail.readonly"
#: Scopes that let a client read a mailbox.
READ_SCOPES = frozenset({READONLY_SCOPE, "https://www.googleapis.com/auth/gmail.modify", "https://mail.google.com/"})


@dataclass(frozen=True)
class Account:
    """One mailbox of the product spec and how the sandbox lets a client in."""

    connection_name: str
    email: str
    refresh_token: str | None  # gmail.com accounts
    delegated: bool  # Workspace mailbox reachable by the service account's domain-wide delegation
    seed: int
    count: int
    first_history_id: int


ACCOUNTS: tuple[Account, ...] = (
    Account(
        "gmail-acct1",
        "mensio.frontdesk@gmail.com",
        "1//sbx-acct1-frontdesk-refresh",
        delegated=False,
        seed=11,
        count=180,
        first_history_id=482_113,
    ),
    Account(
        "gmail-acct2",
        "mensio.billing@gmail.com",
        "1//sbx-acct2-billing-refresh",
        delegated=False,
        seed=22,
        count=120,
        first_history_id=91_877,
    ),
    Account(
        "gmail-acct3",
        "intake@mensio-clinic.example",
        None,
        delegated=True,
        seed=33,
        count=200,
        first_history_id=1_204_551,
    ),
)


def service_account_info() -> dict[str, str]:
    """The sandbox's service account key file (a throwaway key that only this sandbox trusts)."""
    data = resources.files("lorchestra_sandbox") / "data" / "gmail" / "sandbox-service-account.json"
    return json.loads(data.read_text())


SEED_START = datetime(2025, 9, 1, 8, 0, tzinfo=UTC)


def compose(
    mailbox_email: str,
    *,
    subject: str,
    body: str,
    sender: str,
    when: datetime,
    message_id: str,
    attachment: tuple[str, bytes] | None = None,
    sent: bool = False,
    in_reply_to: str | None = None,
) -> bytes:
    """An RFC 822 message as Gmail would store it (text + HTML alternative, optional PDF attachment)."""
    digest = hashlib.sha256(message_id.encode()).hexdigest()
    alt_boundary, mixed_boundary = "000000000000" + digest[:16], "000000000000" + digest[16:32]
    head = []
    if not sent:
        head += [f"Delivered-To: {mailbox_email}", f"Return-Path: <{sender.rsplit('<', maxsplit=1)[-1].rstrip('>')}>"]
    head += ["MIME-Version: 1.0", f"Date: {format_datetime(when)}", f"Message-ID: {message_id}"]
    if in_reply_to:
        head.append(f"In-Reply-To: {in_reply_to}")
    head += [
        f"Subject: {subject}",
        f"From: {mailbox_email if sent else sender}",
        f"To: {sender if sent else mailbox_email}",
    ]
    text = body.replace("\n", "\r\n")
    markup = '<div dir="ltr">' + html.escape(body).replace("\n", "<br>") + "</div>"
    alternative = (
        f'--{alt_boundary}\r\nContent-Type: text/plain; charset="UTF-8"\r\n\r\n{text}\r\n\r\n'
        f'--{alt_boundary}\r\nContent-Type: text/html; charset="UTF-8"\r\n\r\n{markup}\r\n\r\n'
        f"--{alt_boundary}--\r\n"
    )
    if attachment is None:
        head.append(f'Content-Type: multipart/alternative; boundary="{alt_boundary}"')
        return ("\r\n".join(head) + "\r\n\r\n" + alternative).encode()
    name, data = attachment
    encoded = base64.encodebytes(data).decode().replace("\n", "\r\n")
    head.append(f'Content-Type: multipart/mixed; boundary="{mixed_boundary}"')
    mixed = (
        f'--{mixed_boundary}\r\nContent-Type: multipart/alternative; boundary="{alt_boundary}"\r\n\r\n'
        f"{alternative}\r\n"
        f'--{mixed_boundary}\r\nContent-Type: application/pdf; name="{name}"\r\n'
        f'Content-Disposition: attachment; filename="{name}"\r\nContent-Transfer-Encoding: base64\r\n'
        f"X-Attachment-Id: f_{digest[32:42]}\r\n\r\n{encoded}--{mixed_boundary}--\r\n"
    )
    return ("\r\n".join(head) + "\r\n\r\n" + mixed).encode()


def fake_pdf(rng: random.Random, title: str) -> bytes:
    filler = bytes(rng.getrandbits(8) for _ in range(rng.randint(300, 900)))
    return b"%PDF-1.4\n% " + title.encode() + b"\n" + filler + b"\n%%EOF\n"


def seed_mailbox(account: Account) -> Mailbox:
    rng = random.Random(account.seed)  # noqa: S311 - deterministic fake data
    box = Mailbox(account, rng=rng, history_id=account.first_history_id)
    templates = TEMPLATES[account.connection_name]
    when = SEED_START
    for n in range(account.count):
        when += timedelta(minutes=rng.randint(20, 900))
        subject, body, labels, attach = rng.choice(templates)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        values = {
            "first": first,
            "last": last,
            "last_lower": last.lower().replace("'", ""),
            "clinician": rng.choice(CLINICIANS),
            "day": rng.choice(DAYS),
            "phone": f"{rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
            "num": f"{rng.randint(10000, 99999)}",
            "amount": f"{rng.randint(8, 40) * 10}",
        }
        labels = list(labels)
        if n % 23 == 7:
            labels = ["SPAM", "UNREAD"]
        elif n % 31 == 11:
            labels = ["TRASH"]
        elif n % 9 == 0 and "UNREAD" not in labels and "SENT" not in labels:
            labels.append("STARRED")
        slug = f"{first}.{last}".lower().replace("'", "")
        domain = rng.choice(["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me"])
        sender = f"{first} {last} <{slug}@{domain}>"
        attachment = None
        if attach:
            name = attach.format(**values)
            attachment = (name, fake_pdf(rng, name))
        raw = compose(
            account.email,
            subject=subject.format(**values),
            body=body.format(**values),
            sender=sender,
            when=when,
            message_id=f"<{account.seed}.{n}.{rng.getrandbits(40):x}@mail.{domain}>",
            attachment=attachment,
            sent="SENT" in labels,
        )
        box.add(raw, labels, internal_date=int(when.timestamp() * 1000) + rng.randint(0, 999))
    box.history_floor = box.history_id
    return box
