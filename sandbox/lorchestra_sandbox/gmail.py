"""Sandbox of the Gmail API v1 (and Google's OAuth token endpoint) for the three clinic mailboxes.

Wire format follows the public reference (https://developers.google.com/gmail/api/reference/rest):

* ``GET /gmail/v1/users/{userId}/profile`` -> ``{emailAddress, messagesTotal, threadsTotal, historyId}``
* ``GET /gmail/v1/users/{userId}/labels`` -> ``{labels: [...]}``
* ``GET /gmail/v1/users/{userId}/messages`` (``q``, ``labelIds``, ``includeSpamTrash``, ``maxResults``,
  ``pageToken``) -> ``{messages: [{id, threadId}], nextPageToken, resultSizeEstimate}``, newest first
* ``GET /gmail/v1/users/{userId}/messages/{id}`` (``format`` = minimal | full | raw | metadata,
  ``metadataHeaders``) -> a ``Message`` resource built from a real RFC 822 message
* ``GET /gmail/v1/users/{userId}/history`` (``startHistoryId``, ``historyTypes``, ``labelId``, ...) ->
  ``{history: [...], nextPageToken, historyId}``; a ``startHistoryId`` older than the retained history is
  answered ``404 notFound`` exactly like Gmail does
* ``POST /gmail/v1/users/{userId}/messages`` (insert), ``.../messages/{id}/modify``, ``/trash``, ``/untrash``
  and ``DELETE .../messages/{id}``: the write calls tests use to change a mailbox between runs
* ``POST /batch/gmail/v1``: Google's ``multipart/mixed`` HTTP batch (at most 100 parts), each part
  answered with its own status line
* ``POST /token``: ``refresh_token`` grant (gmail.com accounts) and the
  ``urn:ietf:params:oauth:grant-type:jwt-bearer`` grant of a service account with domain-wide delegation
  (the JWT's ``sub`` is the impersonated Workspace mailbox). ``userId=me`` resolves to the token's mailbox.

Errors use Google's body ``{"error": {"code", "message", "errors": [{"message", "domain", "reason"}],
"status"}}``. Gmail-specific fault switches (``POST /_sandbox/faults``) beside the generic ones:
``quota_403`` (next N requests answer 403 ``userRateLimitExceeded``, or ``quota_403_reason``),
``forbidden`` (next N answer 403 ``insufficientPermissions``), ``batch_item_throttle`` (next N batch
parts answer 429 ``rateLimitExceeded``); ``{"expire_sync": true}`` expires every stored historyId.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import html
import json
import random
import re
import secrets
import time
import typing as t
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import format_datetime
from functools import cached_property
from importlib import resources
from urllib.parse import urlsplit

from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Rule
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from lorchestra_sandbox.core import Faults, ProviderApp, RequestLogEntry

if t.TYPE_CHECKING:
    from collections.abc import Iterable

API = "/gmail/v1/users/<user_id>"
READ_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/gmail.readonly",
        "https://www.googleapis.com/auth/gmail.modify",
        "https://mail.google.com/",
    }
)
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

#: OAuth client of the sandbox (gmail.com accounts authorise it with a refresh token).
CLIENT_ID = "812640512345-lorchestrasandbox.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-sandbox-gmail-client-secret"  # noqa: S105 - a sandbox-only fake


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


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- stored messages ----------------------------------------------------------------------------


@dataclass
class StoredMessage:
    """A message as Gmail keeps it: the RFC 822 bytes plus mailbox metadata."""

    id: str
    thread_id: str
    raw: bytes
    internal_date: int  # ms since the epoch
    label_ids: list[str]
    history_id: int

    @cached_property
    def _parsed(self) -> Message:
        return BytesParser(policy=policy.compat32).parsebytes(self.raw)

    @cached_property
    def _payloads(self) -> dict[str, dict[str, t.Any]]:
        return {"full": self._part(self._parsed, "", full=True), "metadata": self._part(self._parsed, "", full=False)}

    def parsed(self) -> Message:
        return self._parsed

    @cached_property
    def _text(self) -> str:
        for part in self._parsed.walk():
            if part.get_content_type() == "text/plain" and not part.get_filename():
                data = t.cast("bytes", part.get_payload(decode=True) or b"")
                return data.decode(part.get_content_charset() or "utf-8", "replace")
        return ""

    def text(self) -> str:
        return self._text

    @cached_property
    def _snippet(self) -> str:
        words = " ".join(self._text.split())
        return html.escape(words[:160], quote=True).replace("&#x27;", "&#39;")

    def snippet(self) -> str:
        return self._snippet

    def header(self, name: str) -> str:
        return str(self.parsed().get(name, ""))

    def resource(self, fmt: str = "full", metadata_headers: list[str] | None = None) -> dict[str, t.Any]:
        """The ``users.messages`` resource in the requested ``format``."""
        base: dict[str, t.Any] = {"id": self.id, "threadId": self.thread_id, "labelIds": list(self.label_ids)}
        base["snippet"] = self.snippet()
        if fmt == "full":
            base["payload"] = copy.deepcopy(self._payloads["full"])
        elif fmt == "metadata":
            payload = copy.deepcopy(self._payloads["metadata"])
            if metadata_headers:
                wanted = {h.lower() for h in metadata_headers}
                payload["headers"] = [h for h in payload["headers"] if h["name"].lower() in wanted]
            base["payload"] = payload
        base["sizeEstimate"] = len(self.raw)
        base["historyId"] = str(self.history_id)
        base["internalDate"] = str(self.internal_date)
        if fmt == "raw":
            base["raw"] = b64url(self.raw)
        return base

    def _part(self, part: Message, part_id: str, *, full: bool) -> dict[str, t.Any]:
        headers = [{"name": k, "value": str(v)} for k, v in part.items()]
        if not full:  # format=metadata: headers only
            return {"partId": part_id, "mimeType": part.get_content_type(), "filename": "", "headers": headers}
        out: dict[str, t.Any] = {
            "partId": part_id,
            "mimeType": part.get_content_type(),
            "filename": part.get_filename() or "",
            "headers": headers,
        }
        if part.is_multipart():
            out["body"] = {"size": 0}
            children = t.cast("list[Message]", part.get_payload())
            out["parts"] = [
                self._part(child, f"{part_id}.{i}" if part_id else str(i), full=True)
                for i, child in enumerate(children)
            ]
            return out
        data = part.get_payload(decode=True) or b""
        if part.get_filename():
            digest = hashlib.sha256(self.id.encode() + part_id.encode()).digest()
            out["body"] = {"attachmentId": "ANGjdJ" + b64url(digest * 3).rstrip("="), "size": len(data)}
        else:
            out["body"] = {"size": len(data), "data": b64url(data)} if data else {"size": 0}
        return out


@dataclass
class Mailbox:
    """One user's mailbox with its history log."""

    account: Account
    messages: dict[str, StoredMessage] = field(default_factory=dict)
    history: list[dict[str, t.Any]] = field(default_factory=list)
    history_id: int = 0
    history_floor: int = 0  # startHistoryId below this answers 404 (Gmail keeps about a week)
    rng: random.Random = field(default_factory=random.Random)
    clock: int = 0  # internalDate (ms) of the newest message

    def next_history_id(self) -> int:
        self.history_id += self.rng.randint(1, 4)
        return self.history_id

    def new_id(self, internal_date: int) -> str:
        candidate = f"{(internal_date << 20) | self.rng.getrandbits(20):x}"
        while candidate in self.messages:
            candidate = f"{int(candidate, 16) + 1:x}"
        return candidate

    def add(self, raw: bytes, label_ids: list[str], internal_date: int | None = None) -> StoredMessage:
        if internal_date is None:
            internal_date = max(self.clock + 60_000, int(time.time() * 1000))
        self.clock = max(self.clock, internal_date)
        mid = self.new_id(internal_date)
        thread = self._thread_for(raw) or mid
        msg = StoredMessage(mid, thread, raw, internal_date, list(label_ids), self.next_history_id())
        self.messages[mid] = msg
        ref = {"id": mid, "threadId": thread}
        self.history.append(
            {
                "id": msg.history_id,
                "messages": [ref],
                "messagesAdded": [{"message": {**ref, "labelIds": list(label_ids)}}],
            }
        )
        return msg

    def _thread_for(self, raw: bytes) -> str | None:
        if b"In-Reply-To:" not in raw:
            return None
        reply_to = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True).get("In-Reply-To")
        if not reply_to:
            return None
        for m in self.messages.values():
            if m.header("Message-ID") == str(reply_to):
                return m.thread_id
        return None

    def modify(self, mid: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> StoredMessage:
        msg = self.messages[mid]
        added = [lbl for lbl in add if lbl not in msg.label_ids]
        removed = [lbl for lbl in remove if lbl in msg.label_ids]
        if not added and not removed:
            return msg
        msg.label_ids = [lbl for lbl in msg.label_ids if lbl not in removed] + added
        msg.history_id = self.next_history_id()
        ref = {"id": mid, "threadId": msg.thread_id}
        record: dict[str, t.Any] = {"id": msg.history_id, "messages": [ref]}
        if added:
            record["labelsAdded"] = [{"message": {**ref, "labelIds": list(msg.label_ids)}, "labelIds": added}]
        if removed:
            record["labelsRemoved"] = [{"message": {**ref, "labelIds": list(msg.label_ids)}, "labelIds": removed}]
        self.history.append(record)
        return msg

    def delete(self, mid: str) -> None:
        msg = self.messages.pop(mid)
        ref = {"id": mid, "threadId": msg.thread_id}
        self.history.append(
            {
                "id": self.next_history_id(),
                "messages": [ref],
                "messagesDeleted": [{"message": {**ref, "labelIds": list(msg.label_ids)}}],
            }
        )

    def listing(self) -> list[StoredMessage]:
        """Messages newest first, the order ``messages.list`` returns."""
        return sorted(self.messages.values(), key=lambda m: (m.internal_date, m.id), reverse=True)


# -- realistic fake content ---------------------------------------------------------------------

FIRST = [
    "Maria",
    "James",
    "Aisha",
    "Daniel",
    "Sofia",
    "Liam",
    "Grace",
    "Noah",
    "Priya",
    "Ethan",
    "Chloe",
    "Omar",
    "Hannah",
    "Lucas",
    "Mei",
    "Samuel",
    "Isabel",
    "Yusuf",
    "Clara",
    "Mateo",
]
LAST = [
    "Alvarez",
    "Nguyen",
    "Okafor",
    "Schmidt",
    "Rossi",
    "O'Brien",
    "Kowalski",
    "Haddad",
    "Lindqvist",
    "Patel",
    "Moreau",
    "Tanaka",
    "Silva",
    "Fischer",
    "Murphy",
    "Kaur",
    "Novak",
    "Dubois",
    "Jensen",
    "Costa",
]
CLINICIANS = ["Dr. Elena Marsh", "Dr. Tomas Reyes", "Jordan Lee, LCSW", "Dr. Amara Obi"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]

TEMPLATES: dict[str, list[tuple[str, str, list[str], str | None]]] = {
    # (subject, body, labels, attachment filename)
    "gmail-acct1": [
        (
            "Appointment request - {first} {last}",
            "Hi,\n\nI'd like to book an initial consultation with {clinician}. {day} afternoons work best for me.\n"
            "My phone is (555) {phone}.\n\nThanks,\n{first}",
            ["INBOX", "UNREAD", "CATEGORY_PERSONAL", "Label_1"],
            None,
        ),
        (
            "Re: Rescheduling my {day} session",
            "Hello,\n\nCould we move my session with {clinician} to next week? Something came up at work.\n\n"
            "Best,\n{first} {last}",
            ["INBOX", "CATEGORY_PERSONAL", "Label_1"],
            None,
        ),
        (
            "Completed intake forms - {first} {last}",
            "Please find my completed intake questionnaire attached.\n\nKind regards,\n{first} {last}",
            ["INBOX", "IMPORTANT", "CATEGORY_PERSONAL", "Label_2"],
            "intake-{last_lower}.pdf",
        ),
        (
            "Reminder: your appointment on {day}",
            "Dear {first},\n\nThis is a reminder of your appointment with {clinician} on {day} at 3:30 PM.\n"
            "Reply to this email if you need to reschedule.\n\nMensio Clinic front desk",
            ["SENT"],
            None,
        ),
        (
            "Mensio Clinic newsletter - wellbeing tips",
            "This month: sleep hygiene, mindful breathing, and our new evening group sessions.",
            ["INBOX", "CATEGORY_PROMOTIONS"],
            None,
        ),
        (
            "Question about my prescription refill",
            "Hi, my pharmacy says the refill for my medication needs approval from {clinician}. "
            "Could someone check?\n\n{first}",
            ["INBOX", "UNREAD", "IMPORTANT", "CATEGORY_PERSONAL"],
            None,
        ),
    ],
    "gmail-acct2": [
        (
            "Invoice INV-{num} for services rendered",
            "Dear {first} {last},\n\nAttached is invoice INV-{num} for sessions with {clinician}. "
            "Amount due: ${amount}.00.\n\nMensio Clinic billing",
            ["SENT", "Label_3"],
            "INV-{num}.pdf",
        ),
        (
            "Payment received - thank you",
            "We received your payment of ${amount}.00 on account {num}. Thank you!",
            ["INBOX", "CATEGORY_UPDATES", "Label_3"],
            None,
        ),
        (
            "Explanation of Benefits - claim {num}",
            "Your claim {num} for {first} {last} has been processed. Allowed amount ${amount}.00.",
            ["INBOX", "IMPORTANT", "CATEGORY_UPDATES", "Label_4"],
            "EOB-{num}.pdf",
        ),
        (
            "Superbill request for {first} {last}",
            "Hello,\n\nCould you send me a superbill for my sessions last month so I can file with my insurer?\n\n"
            "Thanks,\n{first}",
            ["INBOX", "UNREAD", "CATEGORY_PERSONAL", "Label_3"],
            None,
        ),
    ],
    "gmail-acct3": [
        (
            "Referral: {first} {last}",
            "Dear colleagues,\n\nI am referring {first} {last} for assessment. Relevant history attached.\n\n"
            "Regards,\nDr. K. Walsh, Northside Family Practice",
            ["INBOX", "IMPORTANT", "Label_5"],
            "referral-{num}.pdf",
        ),
        (
            "Fax received from (555) {phone}",
            "You have received a 3 page fax. The document is attached.",
            ["INBOX", "Label_5"],
            "fax-{num}.pdf",
        ),
        (
            "Intake screening notes - {first} {last}",
            "Screening call completed by {clinician}. Suitable for individual therapy; waitlist priority 2.",
            ["INBOX", "Label_6"],
            None,
        ),
        (
            "Re: Availability for new clients",
            "Hi team,\n\n{clinician} can take two new clients on {day} mornings from next month.\n",
            ["INBOX"],
            None,
        ),
    ],
}

USER_LABELS: dict[str, list[tuple[str, str]]] = {
    "gmail-acct1": [("Label_1", "Patients/Appointments"), ("Label_2", "Patients/Intake")],
    "gmail-acct2": [("Label_3", "Billing"), ("Label_4", "Insurance")],
    "gmail-acct3": [("Label_5", "Referrals"), ("Label_6", "Screening")],
}
SYSTEM_LABELS = [
    "INBOX",
    "SENT",
    "DRAFT",
    "SPAM",
    "TRASH",
    "UNREAD",
    "STARRED",
    "IMPORTANT",
    "CATEGORY_PERSONAL",
    "CATEGORY_SOCIAL",
    "CATEGORY_PROMOTIONS",
    "CATEGORY_UPDATES",
    "CATEGORY_FORUMS",
]

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


# -- search (the subset of Gmail's q syntax the clinic uses) ------------------------------------


def _parse_date(value: str, *, end: bool) -> int:
    """``after:``/``before:`` take unix seconds or YYYY/MM/DD; returns ms."""
    if value.isdigit():
        return int(value) * 1000
    day = datetime.strptime(value.replace("-", "/"), "%Y/%m/%d").replace(tzinfo=UTC)
    return int((day + (timedelta(days=1) if end else timedelta())).timestamp() * 1000)


def matches(msg: StoredMessage, query: str) -> bool:
    for raw_term in re.findall(r'-?\w+:"[^"]*"|-?"[^"]*"|\S+', query):
        negate = raw_term.startswith("-")
        term = raw_term.removeprefix("-")
        key, _, value = term.partition(":") if ":" in term else ("", "", term)
        value = value.strip('"').lower()
        key = key.lower()
        if key == "after":
            ok = msg.internal_date >= _parse_date(value, end=False)
        elif key == "before":
            ok = msg.internal_date < _parse_date(value, end=False)
        elif key in {"from", "to", "subject"}:
            ok = value in msg.header(key).lower()
        elif key in {"label", "in", "is"}:
            wanted = value.upper().replace("-", "_")
            aliases = {"STARRED": "STARRED", "UNREAD": "UNREAD", "IMPORTANT": "IMPORTANT"}
            ok = aliases.get(wanted, wanted) in msg.label_ids
        elif key == "has" and value == "attachment":
            ok = any(part.get_filename() for part in msg.parsed().walk())
        else:
            text = (msg.header("Subject") + " " + msg.text()).lower()
            ok = value in text
        if ok == negate:
            return False
    return True


# -- the app ------------------------------------------------------------------------------------


@dataclass
class GmailFaults(Faults):
    """Generic faults plus Gmail's own (see the module docstring)."""

    quota_403: int = 0
    quota_403_reason: str = "userRateLimitExceeded"
    forbidden: int = 0
    batch_item_throttle: int = 0


def _page_token(key: tuple[int, ...] | tuple[int, str]) -> str:
    return b64url(json.dumps(list(key)).encode()).rstrip("=")


def _read_page_token(token: str) -> list[t.Any] | None:
    try:
        value = json.loads(_b64url_decode(token))
    except ValueError:
        return None
    return value if isinstance(value, list) else None


class GmailApp(ProviderApp):
    """One Gmail API host serving the mailboxes of gmail-acct1..3."""

    name = "gmail"
    token_paths = ("/token", "/o/oauth2/token")

    def __init__(self) -> None:
        self.mailboxes: dict[str, Mailbox] = {a.email: seed_mailbox(a) for a in ACCOUNTS}
        self.refresh_tokens = {a.refresh_token: a.email for a in ACCOUNTS if a.refresh_token}
        sa = service_account_info()
        self.service_accounts = {sa["client_email"]: sa}
        self.token_owner: dict[str, str] = {}
        super().__init__()
        self.faults = GmailFaults()
        self.clients = {CLIENT_ID: CLIENT_SECRET}

    # -- test helpers (Python side) -----------------------------------------------------------

    def mailbox(self, key: str) -> Mailbox:
        """A mailbox by email address or connection name."""
        for box in self.mailboxes.values():
            if key in {box.account.email, box.account.connection_name}:
                return box
        raise KeyError(key)

    def resources(self, key: str, fmt: str = "full", *, include_spam_trash: bool = False) -> dict[str, dict]:
        """Every message resource of a mailbox, by id (what a full sync must emit)."""
        with self.lock:
            return {
                m.id: m.resource(fmt)
                for m in self.mailbox(key).listing()
                if include_spam_trash or not {"SPAM", "TRASH"} & set(m.label_ids)
            }

    def add_message(self, key: str, subject: str, body: str, labels: Iterable[str] = ("INBOX", "UNREAD")) -> str:
        with self.lock:
            box = self.mailbox(key)
            when = datetime.fromtimestamp(max(box.clock + 60_000, int(time.time() * 1000)) / 1000, UTC)
            raw = compose(
                box.account.email,
                subject=subject,
                body=body,
                sender="New Patient <new.patient@example.org>",
                when=when,
                message_id=f"<{secrets.token_hex(8)}@mail.example.org>",
            )
            return box.add(raw, list(labels), internal_date=int(when.timestamp() * 1000)).id

    def modify_labels(self, key: str, mid: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> None:
        with self.lock:
            self.mailbox(key).modify(mid, add, remove)

    def delete_message(self, key: str, mid: str) -> None:
        with self.lock:
            self.mailbox(key).delete(mid)

    # -- wiring -------------------------------------------------------------------------------

    def routes(self) -> Iterable[Rule]:
        return [
            Rule(f"{API}/profile", endpoint=self.get_profile, methods=["GET"]),
            Rule(f"{API}/labels", endpoint=self.list_labels, methods=["GET"]),
            Rule(f"{API}/messages", endpoint=self.list_messages, methods=["GET"]),
            Rule(f"{API}/messages", endpoint=self.insert_message, methods=["POST"]),
            Rule(f"{API}/messages/<message_id>", endpoint=self.get_message, methods=["GET"]),
            Rule(f"{API}/messages/<message_id>", endpoint=self.delete_msg, methods=["DELETE"]),
            Rule(f"{API}/messages/<message_id>/modify", endpoint=self.modify_message, methods=["POST"]),
            Rule(f"{API}/messages/<message_id>/trash", endpoint=self.trash_message, methods=["POST"]),
            Rule(f"{API}/messages/<message_id>/untrash", endpoint=self.untrash_message, methods=["POST"]),
            Rule(f"{API}/history", endpoint=self.list_history, methods=["GET"]),
            Rule("/batch/gmail/v1", endpoint=self.batch, methods=["POST"]),
        ]

    def error(self, status: int, code: str, message: str, reason: str | None = None) -> Response:
        reasons = {
            400: "badRequest",
            401: "authError",
            403: "forbidden",
            404: "notFound",
            429: "rateLimitExceeded",
            500: "backendError",
            503: "backendError",
        }
        detail: dict[str, str] = {
            "message": message,
            "domain": "usageLimits" if (reason and "RateLimit" in reason) or status == 429 else "global",
            "reason": reason or reasons.get(status, "failed"),
        }
        if status == 401:
            detail |= {"message": "Invalid Credentials", "location": "Authorization", "locationType": "header"}
        body = {"error": {"code": status, "message": message, "errors": [detail], "status": code}}
        headers = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'}
        return self.json(body, status, headers if status == 401 else None)

    def on_expire_sync(self) -> None:
        """Gmail only keeps history for a while: every historyId handed out so far stops working."""
        for box in self.mailboxes.values():
            box.history_floor = box.next_history_id()

    # -- OAuth token endpoint -----------------------------------------------------------------

    def token_response(self, request: Request) -> Response:
        form = request.form
        grant = form.get("grant_type")
        if grant == "refresh_token":
            if self.clients.get(form.get("client_id", "")) != form.get("client_secret"):
                return self.json({"error": "invalid_client", "error_description": "Unauthorized"}, 401)
            owner = self.refresh_tokens.get(form.get("refresh_token", ""))
            if owner is None:
                return self.json({"error": "invalid_grant", "error_description": "Bad Request"}, 400)
            scope = "https://www.googleapis.com/auth/gmail.readonly"
        elif grant == JWT_BEARER:
            owner_or_error = self._check_assertion(form.get("assertion", ""))
            if isinstance(owner_or_error, Response):
                return owner_or_error
            owner, scope = owner_or_error
        else:
            return self.json({"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}, 400)
        with self.lock:
            token, lifetime = self.tokens.issue()
            self.token_owner[token] = owner
        return self.json({"access_token": token, "expires_in": lifetime, "scope": scope, "token_type": "Bearer"})

    def _check_assertion(self, assertion: str) -> tuple[str, str] | Response:
        invalid = self.json({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, 400)
        try:
            head_b64, claims_b64, sig_b64 = assertion.split(".")
            claims = json.loads(_b64url_decode(claims_b64))
            json.loads(_b64url_decode(head_b64))
        except ValueError:
            return invalid
        account = self.service_accounts.get(claims.get("iss", ""))
        if account is None:
            return self.json({"error": "invalid_grant", "error_description": "Invalid grant: account not found"}, 400)
        if not _verify_rs256(account["private_key"], f"{head_b64}.{claims_b64}".encode(), _b64url_decode(sig_b64)):
            return invalid
        now = time.time()
        if not (claims.get("iat", 0) - 300 <= now < claims.get("exp", 0)):
            return self.json(
                {
                    "error": "invalid_grant",
                    "error_description": "Invalid JWT: Token must be a "
                    "short-lived token (60 minutes) and in a reasonable timeframe.",
                },
                400,
            )
        if urlsplit(str(claims.get("aud", ""))).path not in self.token_paths:
            return self.json({"error": "invalid_grant", "error_description": "Invalid JWT audience."}, 400)
        subject = str(claims.get("sub", "")).lower()
        delegated = {a.email for a in ACCOUNTS if a.delegated}
        if subject not in delegated:
            return self.json({"error": "invalid_grant", "error_description": "Invalid email or User ID"}, 400)
        scopes = set(str(claims.get("scope", "")).split())
        if not scopes & READ_SCOPES:
            return self.json(
                {
                    "error": "unauthorized_client",
                    "error_description": "Client is unauthorized to retrieve access tokens using this method, "
                    "or client not authorized for any of the scopes requested.",
                },
                401,
            )
        return subject, " ".join(sorted(scopes & READ_SCOPES))

    # -- request plumbing ---------------------------------------------------------------------

    def _gmail_fault(self) -> Response | None:
        with self.lock:
            f = t.cast("GmailFaults", self.faults)
            if f.quota_403 > 0:
                f.quota_403 -= 1
                message = {
                    "userRateLimitExceeded": "User Rate Limit Exceeded",
                    "rateLimitExceeded": "Rate Limit Exceeded",
                }.get(f.quota_403_reason, "Quota exceeded")
                return self.error(403, "PERMISSION_DENIED", message, f.quota_403_reason)
            if f.forbidden > 0:
                f.forbidden -= 1
                return self.error(
                    403,
                    "PERMISSION_DENIED",
                    "Request had insufficient authentication scopes.",
                    "insufficientPermissions",
                )
        return None

    def _box(self, request: Request, user_id: str) -> Mailbox | Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        owner = self.token_owner.get(token, "")
        if user_id not in {"me", owner}:
            return self.error(403, "PERMISSION_DENIED", f"Delegation denied for {owner}", "forbidden")
        return self.mailboxes[owner]

    def _resolve(self, request: Request, user_id: str) -> Mailbox | Response:
        fault = self._gmail_fault()
        return fault if fault is not None else self._box(request, user_id)

    def _message(self, box: Mailbox, message_id: str) -> StoredMessage | Response:
        msg = box.messages.get(message_id)
        if msg is None:
            return self.error(404, "NOT_FOUND", "Requested entity was not found.")
        return msg

    @staticmethod
    def _int_arg(request: Request, name: str, default: int, maximum: int) -> int:
        try:
            return max(1, min(int(request.args.get(name, default)), maximum))
        except ValueError:
            return default

    # -- read endpoints -----------------------------------------------------------------------

    def get_profile(self, request: Request, user_id: str) -> Response:
        box = self._resolve(request, user_id)
        if isinstance(box, Response):
            return box
        with self.lock:
            return self.json(
                {
                    "emailAddress": box.account.email,
                    "messagesTotal": len(box.messages),
                    "threadsTotal": len({m.thread_id for m in box.messages.values()}),
                    "historyId": str(box.history_id),
                }
            )

    def list_labels(self, request: Request, user_id: str) -> Response:
        box = self._resolve(request, user_id)
        if isinstance(box, Response):
            return box
        labels = [
            {
                "id": lbl,
                "name": lbl,
                "type": "system",
                **(
                    {"messageListVisibility": "hide", "labelListVisibility": "labelHide"}
                    if lbl.startswith("CATEGORY_")
                    else {}
                ),
            }
            for lbl in SYSTEM_LABELS
        ]
        labels += [
            {
                "id": lid,
                "name": name,
                "type": "user",
                "messageListVisibility": "show",
                "labelListVisibility": "labelShow",
            }
            for lid, name in USER_LABELS[box.account.connection_name]
        ]
        return self.json({"labels": labels})

    def list_messages(self, request: Request, user_id: str) -> Response:
        box = self._resolve(request, user_id)
        if isinstance(box, Response):
            return box
        size = self._int_arg(request, "maxResults", 100, 500)
        q = request.args.get("q", "")
        label_ids = request.args.getlist("labelIds")
        spam_trash = request.args.get("includeSpamTrash", "false").lower() == "true"
        token = request.args.get("pageToken")
        after: list[t.Any] | None = None
        if token:
            after = _read_page_token(token)
            if after is None:
                return self.error(400, "INVALID_ARGUMENT", "Invalid pageToken", "invalidArgument")
        with self.lock:
            hits = [
                m
                for m in box.listing()
                if (spam_trash or not {"SPAM", "TRASH"} & set(m.label_ids))
                and set(label_ids) <= set(m.label_ids)
                and (not q or matches(m, q))
            ]
        if after is not None:
            hits = [m for m in hits if [m.internal_date, m.id] < after]
        page = hits[:size]
        body: dict[str, t.Any] = {}
        if page:
            body["messages"] = [{"id": m.id, "threadId": m.thread_id} for m in page]
        if len(hits) > size:
            body["nextPageToken"] = _page_token((page[-1].internal_date, page[-1].id))
        body["resultSizeEstimate"] = len(hits)
        return self.json(body)

    def get_message(self, request: Request, user_id: str, message_id: str) -> Response:
        box = self._resolve(request, user_id)
        if isinstance(box, Response):
            return box
        fmt = request.args.get("format", "full")
        if fmt not in {"minimal", "full", "raw", "metadata"}:
            return self.error(400, "INVALID_ARGUMENT", f"Invalid value at 'format' ({fmt})", "invalidArgument")
        with self.lock:
            msg = self._message(box, message_id)
            if isinstance(msg, Response):
                return msg
            resource = msg.resource(fmt, request.args.getlist("metadataHeaders"))
        return self.json(resource)

    def list_history(self, request: Request, user_id: str) -> Response:
        box = self._resolve(request, user_id)
        if isinstance(box, Response):
            return box
        start = request.args.get("startHistoryId", "")
        if not start.isdigit():
            return self.error(400, "INVALID_ARGUMENT", "Invalid startHistoryId", "invalidArgument")
        size = self._int_arg(request, "maxResults", 100, 500)
        types = set(request.args.getlist("historyTypes"))
        label = request.args.get("labelId")
        token = request.args.get("pageToken")
        with self.lock:
            if int(start) < box.history_floor:
                return self.error(404, "NOT_FOUND", "Requested entity was not found.")
            after = int(start)
            if token:
                parsed = _read_page_token(token)
                if not parsed:
                    return self.error(400, "INVALID_ARGUMENT", "Invalid pageToken", "invalidArgument")
                after = int(parsed[0])
            kinds = {
                "messageAdded": "messagesAdded",
                "messageDeleted": "messagesDeleted",
                "labelAdded": "labelsAdded",
                "labelRemoved": "labelsRemoved",
            }
            wanted = {kinds[k] for k in types if k in kinds} or set(kinds.values())
            records = []
            for rec in box.history:
                if rec["id"] <= after:
                    continue
                kept = {k: v for k, v in rec.items() if k in wanted}
                if not kept:
                    continue
                if label and not any(label in e["message"].get("labelIds", []) for v in kept.values() for e in v):
                    continue
                records.append({"id": str(rec["id"]), "messages": rec["messages"], **kept})
            page = records[:size]
            body: dict[str, t.Any] = {}
            if page:
                body["history"] = page
            if len(records) > size:
                body["nextPageToken"] = _page_token((int(page[-1]["id"]),))
            body["historyId"] = str(box.history_id)
        return self.json(body)

    # -- write endpoints (used by tests to change a mailbox between runs) ----------------------

    def insert_message(self, request: Request, user_id: str) -> Response:
        box = self._resolve(request, user_id)
        if isinstance(box, Response):
            return box
        body = request.get_json(silent=True) or {}
        try:
            raw = _b64url_decode(str(body["raw"]))
        except (KeyError, ValueError):
            return self.error(
                400, "INVALID_ARGUMENT", "'raw' RFC822 payload message string is required.", "invalidArgument"
            )
        with self.lock:
            msg = box.add(raw, list(body.get("labelIds", [])))
            return self.json({"id": msg.id, "threadId": msg.thread_id, "labelIds": msg.label_ids})

    def modify_message(self, request: Request, user_id: str, message_id: str) -> Response:
        box = self._resolve(request, user_id)
        if isinstance(box, Response):
            return box
        body = request.get_json(silent=True) or {}
        with self.lock:
            msg = self._message(box, message_id)
            if isinstance(msg, Response):
                return msg
            box.modify(message_id, body.get("addLabelIds", []), body.get("removeLabelIds", []))
            return self.json(msg.resource("minimal"))

    def trash_message(self, request: Request, user_id: str, message_id: str) -> Response:
        return self._relabel(request, user_id, message_id, ["TRASH"], ["INBOX"])

    def untrash_message(self, request: Request, user_id: str, message_id: str) -> Response:
        return self._relabel(request, user_id, message_id, [], ["TRASH"])

    def _relabel(self, request: Request, user_id: str, message_id: str, add: list[str], remove: list[str]) -> Response:
        box = self._resolve(request, user_id)
        if isinstance(box, Response):
            return box
        with self.lock:
            msg = self._message(box, message_id)
            if isinstance(msg, Response):
                return msg
            box.modify(message_id, add, remove)
            return self.json(msg.resource("minimal"))

    def delete_msg(self, request: Request, user_id: str, message_id: str) -> Response:
        box = self._resolve(request, user_id)
        if isinstance(box, Response):
            return box
        with self.lock:
            msg = self._message(box, message_id)
            if isinstance(msg, Response):
                return msg
            box.delete(message_id)
        return Response(status=204)

    # -- HTTP batch -----------------------------------------------------------------------------

    def batch(self, request: Request) -> Response:
        """Google's batch endpoint: a multipart/mixed body of ``application/http`` parts."""
        match = re.search(r'boundary="?([^";]+)"?', request.headers.get("Content-Type", ""))
        if request.mimetype != "multipart/mixed" or not match:
            return self.error(400, "INVALID_ARGUMENT", "Batch request must be multipart/mixed with a boundary.")
        parts = split_multipart(request.get_data(), match.group(1))
        if len(parts) > 100:
            return self.error(400, "INVALID_ARGUMENT", "A batch request cannot contain more than 100 calls.")
        outer_auth = request.headers.get("Authorization", "")
        boundary = "batch_" + secrets.token_hex(12)
        out = []
        for part in parts:
            headers, inner = parse_part(part)
            response = self._batch_item(inner, outer_auth)
            content_id = headers.get("content-id", "")
            data = response.get_data()
            out.append(
                f"--{boundary}\r\nContent-Type: application/http\r\n"
                + (f"Content-ID: <response-{content_id.strip('<>')}>\r\n" if content_id else "")
                + "\r\n"
                + f"HTTP/1.1 {response.status}\r\n"
                + f'ETag: "{hashlib.sha1(data).hexdigest()}"\r\n'  # noqa: S324 - an ETag, not security
                + "Content-Type: application/json; charset=UTF-8\r\n"
                + "Vary: Origin\r\nVary: X-Origin\r\n"
                + f"Content-Length: {len(data)}\r\n\r\n"
                + data.decode()
                + "\r\n"
            )
        if all("Content-ID" in part for part in out):
            out.reverse()  # Google runs batched calls in any order; Content-ID is what pairs them
        body = "".join(out) + f"--{boundary}--\r\n"
        return Response(body, 200, content_type=f"multipart/mixed; boundary={boundary}")

    def _batch_item(self, inner: bytes, outer_auth: str) -> Response:
        head, _, body = inner.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, _ = lines[0].split(" ", 2)
        except ValueError:
            return self.error(400, "INVALID_ARGUMENT", "Malformed request line in batch part.")
        headers = Headers([tuple(line.split(": ", 1)) for line in lines[1:] if ": " in line])  # type: ignore[misc]
        if "Authorization" not in headers and outer_auth:
            headers["Authorization"] = outer_auth
        path, _, query = target.partition("?")
        environ = EnvironBuilder(path=path, method=method, headers=headers, data=body, query_string=query).get_environ()
        sub = Request(environ)
        response = self._dispatch_item(sub)
        with self.lock:
            self.requests.append(
                RequestLogEntry(method, path, sub.args.to_dict(flat=False), response.status_code, "batch_item")
            )
        return response

    def _dispatch_item(self, sub: Request) -> Response:
        adapter = self._map.bind_to_environ(sub.environ)
        try:
            endpoint, args = adapter.match()
        except NotFound:
            return self.error(404, "NOT_FOUND", "Requested entity was not found.")
        except HTTPException as exc:
            return self.error(exc.code or 400, "INVALID_ARGUMENT", exc.description or "bad request")
        if endpoint in (self.batch, self._token) or getattr(endpoint, "__self__", None) is not self:
            return self.error(400, "INVALID_ARGUMENT", "This call cannot be batched.")
        with self.lock:
            f = t.cast("GmailFaults", self.faults)
            if f.batch_item_throttle > 0:
                f.batch_item_throttle -= 1
                return self.error(
                    429, "RESOURCE_EXHAUSTED", "Too many concurrent requests for user.", "rateLimitExceeded"
                )
        if not self.tokens.check(sub.headers.get("Authorization", "").removeprefix("Bearer ")):
            return self.error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        return endpoint(sub, **args)


def split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """The parts of a multipart body (without their delimiters)."""
    delimiter = b"--" + boundary.encode()
    chunks = body.split(delimiter)
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        parts.append(chunk.removeprefix(b"\r\n").removesuffix(b"\r\n"))
    return parts


def parse_part(part: bytes) -> tuple[dict[str, str], bytes]:
    """A part's own headers (lower-cased names) and its content."""
    head, _, content = part.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode("latin-1").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, content


def _verify_rs256(private_key_pem: str, signed: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    public = t.cast("rsa.RSAPrivateKey", key).public_key()
    try:
        public.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def create_app() -> GmailApp:
    """The Gmail sandbox seeded with the three clinic mailboxes."""
    return GmailApp()
