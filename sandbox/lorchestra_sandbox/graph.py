"""Microsoft Graph mail (v1.0) and the Entra ID token endpoint, on one port.

Wire format follows the Graph reference: ``/v1.0/users/{id|upn}/mailFolders`` (``$top``/``$skip``,
``@odata.nextLink``), ``/mailFolders/{id}/childFolders``, ``/mailFolders/{id}/messages/delta``
(``$skiptoken`` pages, ``$deltatoken`` rounds, ``@removed`` entries, ``$filter=receivedDateTime ge``),
the ``Prefer`` header (``odata.maxpagesize=N`` and ``IdType="ImmutableId"``), Graph error bodies
(``{"error": {"code", "message", "innerError"}}``) and the v2.0 client-credentials token endpoint
``/{tenant}/oauth2/v2.0/token`` with AADSTS error bodies.

Provider-specific behaviour and switches (beyond core's faults):

* an expired sync state (``{"expire_sync": true}``) answers ``410 Gone`` / ``syncStateNotFound``;
* more than :data:`MAILBOX_CONCURRENCY` requests in flight for one mailbox answer
  ``429 ApplicationThrottled`` ("MailboxConcurrency"); the peak is kept in ``peak_concurrency``;
* ``deny(mailbox)`` makes a mailbox answer ``403 ErrorAccessDenied`` (missing application permission);
* ``add_message`` / ``update_message`` / ``move_message`` / ``delete_message`` change a mailbox
  between runs; ``message_resource`` renders what Graph would return.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import random
import re
import secrets
import threading
import typing as t
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from werkzeug.routing import Rule

from lorchestra_sandbox.core import Faults, ProviderApp

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from werkzeug.wrappers import Request, Response

#: Outlook allows four concurrent requests per app and mailbox.
MAILBOX_CONCURRENCY = 4
#: Page size of a delta round without ``Prefer: odata.maxpagesize`` (Graph's default for messages).
DEFAULT_DELTA_PAGE = 10
#: Default ``$top`` of mailFolders / childFolders.
DEFAULT_FOLDER_PAGE = 10

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
EPOCH = dt.datetime(2025, 3, 10, 9, 0, tzinfo=dt.UTC)

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


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def _digest(*parts: str, size: int = 2) -> bytes:
    out = b""
    for i in range(size):
        out += hashlib.sha256("|".join((*parts, str(i))).encode()).digest()
    return out


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class GraphFaults(Faults):
    """Core's switches plus Graph's own (all settable through ``POST /_sandbox/faults``).

    Attributes:
        expire_tokens_after: answer N more API requests, then revoke every access token issued so
            far, once (a token that dies mid-run although its ``expires_in`` has not passed).
        gateway_timeouts: next N API requests answer 504 (with Retry-After).
        token_errors: next N token requests answer 503 ``temporarily_unavailable`` (with Retry-After).
    """

    expire_tokens_after: int | None = None
    gateway_timeouts: int = 0
    token_errors: int = 0


@dataclass
class Folder:
    key: str
    id: str
    display_name: str
    parent_id: str
    well_known: str | None = None
    hidden: bool = False


@dataclass
class Message:
    """One message; ``folder`` is the key of the folder holding it (None once deleted)."""

    key: str
    immutable_id: str
    folder: str | None
    fields: dict[str, t.Any]
    seq: int


@dataclass
class Tombstone:
    """A message left ``folder`` (deleted or moved) at change ``seq``."""

    folder: str
    message_key: str
    seq: int


@dataclass
class Mailbox:
    upn: str
    user_id: str
    display_name: str
    tenant: str
    folders: dict[str, Folder] = field(default_factory=dict)  # key -> Folder
    messages: dict[str, Message] = field(default_factory=dict)  # key -> Message
    tombstones: list[Tombstone] = field(default_factory=list)
    seq: int = 0
    root_id: str = ""

    def folder_by_ref(self, ref: str) -> Folder | None:
        """A folder by id or well-known name (case-insensitive, as Graph accepts both)."""
        for folder in self.folders.values():
            if folder.id == ref or (folder.well_known and folder.well_known == ref.lower()):
                return folder
        return None


@dataclass
class DeltaRound:
    """One delta round: its entries are fixed when the round starts; pages are served from it."""

    mailbox: str
    folder: str
    entries: list[tuple[str, str]]  # ("message"|"removed", message key)
    seq: int  # change counter the round's deltaLink resumes from
    filter: str | None


@dataclass
class DeltaCursor:
    mailbox: str
    folder: str
    seq: int
    filter: str | None


_FILTER_RE = re.compile(r"^\s*receivedDateTime\s+(ge|gt)\s+(\S+)\s*$", re.IGNORECASE)


class GraphApp(ProviderApp):
    """Microsoft Graph mail endpoints plus the Entra ID v2.0 token endpoint."""

    name = "exchange"
    token_paths = ("/<tenant>/oauth2/v2.0/token",)

    #: core's generic error codes -> Graph's
    _CODES: t.ClassVar[dict[str, tuple[str, str | None]]] = {
        "UNAUTHENTICATED": ("InvalidAuthenticationToken", "Access token has expired or is not yet valid."),
        "NOT_FOUND": ("ResourceNotFound", None),
        "BAD_REQUEST": ("BadRequest", None),
        "RESOURCE_EXHAUSTED": ("TooManyRequests", "Please retry again later."),
        "UNAVAILABLE": ("serviceNotAvailable", "The service is temporarily unavailable. Please retry later."),
    }

    def __init__(self) -> None:
        super().__init__()
        self.mailboxes: dict[str, Mailbox] = {}  # lower-case UPN -> Mailbox
        self.tenants: dict[str, str] = {}  # tenant id -> tenant key
        self.client_tenants: dict[str, str] = {}  # client id -> tenant id
        self.token_tenant: dict[str, str] = {}  # access token -> tenant id
        self.rounds: dict[str, DeltaRound] = {}  # skiptoken -> round (+ offset in the token)
        self.cursors: dict[str, DeltaCursor] = {}  # deltatoken -> cursor
        self.denied: set[str] = set()
        self.in_flight: dict[str, int] = {}
        self.peak_concurrency: dict[str, int] = {}
        self.clock = EPOCH
        self._slots = threading.Lock()
        self.faults: GraphFaults = GraphFaults()

    # -- routes ---------------------------------------------------------------------------------

    def routes(self) -> Iterable[Rule]:
        base = "/v1.0/users/<mailbox>"
        return [
            Rule(f"{base}/mailFolders", endpoint=self.list_folders, methods=["GET"]),
            Rule(f"{base}/mailFolders/<folder>", endpoint=self.get_folder, methods=["GET"]),
            Rule(f"{base}/mailFolders/<folder>/childFolders", endpoint=self.list_children, methods=["GET"]),
            Rule(f"{base}/mailFolders/<folder>/messages/delta", endpoint=self.delta, methods=["GET"]),
            Rule(f"{base}/mailFolders/<folder>/messages/microsoft.graph.delta", endpoint=self.delta),
            Rule(f"{base}/messages/<message>", endpoint=self.get_message, methods=["GET"]),
        ]

    def control_routes(self) -> Iterable[Rule]:
        """``/_sandbox/graph/...``: change mailboxes over HTTP (for the README's main command)."""
        base = "/_sandbox/graph/<mailbox>"
        return [
            Rule(f"{base}/messages", endpoint=self._ctl_add, methods=["POST"]),
            Rule(f"{base}/messages/<message>", endpoint=self._ctl_update, methods=["PATCH"]),
            Rule(f"{base}/messages/<message>/move", endpoint=self._ctl_move, methods=["POST"]),
            Rule(f"{base}/messages/<message>", endpoint=self._ctl_delete, methods=["DELETE"]),
        ]

    def _ctl_add(self, request: Request, mailbox: str) -> Response:
        body = request.get_json(force=True) or {}
        folder = body.pop("folder", "inbox")
        return self.json({"id": self.add_message(mailbox, folder, **body)}, 201)

    def _ctl_update(self, request: Request, mailbox: str, message: str) -> Response:
        self.update_message(mailbox, message, **(request.get_json(force=True) or {}))
        return self.json({"ok": True})

    def _ctl_move(self, request: Request, mailbox: str, message: str) -> Response:
        self.move_message(mailbox, message, (request.get_json(force=True) or {})["destinationId"])
        return self.json({"ok": True})

    def _ctl_delete(self, request: Request, mailbox: str, message: str) -> Response:
        self.delete_message(mailbox, message)
        return self.json({"ok": True})

    # -- wire format --------------------------------------------------------------------------

    def error(self, status: int, code: str, message: str) -> Response:
        """Graph's error body (core's generic codes and messages are translated to Graph's)."""
        code, graph_message = self._CODES.get(code, (code, None))
        body = {
            "error": {
                "code": code,
                "message": graph_message or message,
                "innerError": {
                    "date": _iso(dt.datetime.now(dt.UTC)),
                    "request-id": str(uuid.uuid4()),
                    "client-request-id": str(uuid.uuid4()),
                },
            }
        }
        headers = {}
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="", error="invalid_token"'
        return self.json(body, status, headers)

    def _aad_error(self, status: int, error: str, code: int, description: str) -> Response:
        now = dt.datetime.now(dt.UTC)
        return self.json(
            {
                "error": error,
                "error_description": f"AADSTS{code}: {description} Trace ID: {uuid.uuid4()} "
                f"Correlation ID: {uuid.uuid4()} Timestamp: {now:%Y-%m-%d %H:%M:%SZ}",
                "error_codes": [code],
                "timestamp": f"{now:%Y-%m-%d %H:%M:%SZ}",
                "trace_id": str(uuid.uuid4()),
                "correlation_id": str(uuid.uuid4()),
            },
            status,
        )

    def _token(self, request: Request, tenant: str = "") -> Response:
        return self.token_response(request, tenant)

    def token_response(self, request: Request, tenant: str = "") -> Response:
        """Entra ID v2.0 token endpoint (``/{tenant}/oauth2/v2.0/token``), client-credentials grant only."""
        form = request.form
        with self.lock:
            token_error = self.faults.token_errors > 0
            if token_error:
                self.faults.token_errors -= 1
        if token_error:
            response = self._aad_error(
                503, "temporarily_unavailable", 500011, "The service is temporarily unavailable."
            )
            response.headers["Retry-After"] = str(self.faults.retry_after)
            return response
        if tenant not in self.tenants:
            return self._aad_error(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have "
                "the correct tenant ID and are signing into the correct cloud.",
            )
        if form.get("grant_type") != "client_credentials":
            return self._aad_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        client_id = form.get("client_id", "")
        if self.client_tenants.get(client_id) != tenant:
            return self._aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
            )
        if self.clients.get(client_id) != form.get("client_secret"):
            return self._aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being "
                f"sent in the request is the client secret value, not the client secret ID, for a secret "
                f"added to app '{client_id}'.",
            )
        scope = form.get("scope", "")
        if not scope.endswith("/.default"):
            return self._aad_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. "
                "Client credential flows must have a scope value with /.default suffixed to the resource "
                "identifier (application ID URI).",
            )
        token, lifetime = self.tokens.issue()
        with self.lock:
            self.token_tenant[token] = tenant
        return self.json(
            {
                "token_type": "Bearer",
                "expires_in": lifetime,
                "ext_expires_in": lifetime,
                "access_token": token,
            }
        )

    def on_expire_sync(self) -> None:
        """Forget every delta round and delta link: they answer 410 syncStateNotFound."""
        self.rounds.clear()
        self.cursors.clear()

    # -- concurrency limit --------------------------------------------------------------------

    def _call_api(self, endpoint: t.Any, request: Request, args: dict) -> Response:
        mailbox = str(args.get("mailbox", "")).lower()
        with self._slots:
            running = self.in_flight.get(mailbox, 0) + 1
            if running > MAILBOX_CONCURRENCY:
                response = self.error(429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.")
                response.headers["Retry-After"] = str(self.faults.retry_after)
                return response
            self.in_flight[mailbox] = running
            self.peak_concurrency[mailbox] = max(self.peak_concurrency.get(mailbox, 0), running)
        try:
            return self._graph_fault() or super()._call_api(endpoint, request, args)
        finally:
            with self._slots:
                self.in_flight[mailbox] -= 1

    def _graph_fault(self) -> Response | None:
        """Graph's own switches: 504s, and revoking every token after a countdown."""
        with self.lock:
            countdown = self.faults.expire_tokens_after
            if countdown is not None:
                self.faults.expire_tokens_after = countdown - 1 if countdown > 0 else None
                if countdown <= 0:
                    self.tokens.expire_all()
            if self.faults.gateway_timeouts <= 0:
                return None
            self.faults.gateway_timeouts -= 1
        response = self.error(504, "UnknownError", "The operation has timed out.")
        response.headers["Retry-After"] = str(self.faults.retry_after)
        return response

    # -- helpers ------------------------------------------------------------------------------

    def _resolve(self, request: Request, ref: str) -> tuple[Mailbox | None, Response | None]:
        ref_l = ref.lower()
        box = self.mailboxes.get(ref_l) or next((b for b in self.mailboxes.values() if b.user_id == ref_l), None)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if box is None or self.token_tenant.get(token) != TENANTS[box.tenant]["tenant_id"]:
            return None, self.error(404, "ErrorInvalidUser", f"The requested user '{ref}' is invalid.")
        if box.upn in self.denied:
            return None, self.error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        return box, None

    @staticmethod
    def _prefer(request: Request) -> tuple[int | None, bool]:
        """(odata.maxpagesize, IdType="ImmutableId") from the Prefer header(s)."""
        page, immutable = None, False
        for header in request.headers.getlist("Prefer"):
            for raw in header.split(","):
                pref = raw.strip()
                name, _, value = pref.partition("=")
                if name.strip().lower() == "odata.maxpagesize" and value.strip().isdigit():
                    page = int(value)
                elif name.strip().lower() == "idtype" and value.strip().strip('"') == "ImmutableId":
                    immutable = True
        return page, immutable

    def _not_found(self) -> Response:
        return self.error(404, "ErrorItemNotFound", "The specified object was not found in the store.")

    def _folder_resource(self, box: Mailbox, folder: Folder) -> dict[str, t.Any]:
        inside = [m for m in box.messages.values() if m.folder == folder.key]
        return {
            "id": folder.id,
            "displayName": folder.display_name,
            "parentFolderId": folder.parent_id,
            "childFolderCount": sum(1 for f in box.folders.values() if f.parent_id == folder.id),
            "unreadItemCount": sum(1 for m in inside if not m.fields["isRead"]),
            "totalItemCount": len(inside),
            "sizeInBytes": sum(len(m.fields["body"]["content"]) + 900 for m in inside),
            "isHidden": folder.hidden,
        }

    def _page_folders(self, request: Request, box: Mailbox, folders: list[Folder], context_path: str) -> Response:
        top = int(request.args.get("$top", DEFAULT_FOLDER_PAGE))
        skip = int(request.args.get("$skip", 0))
        if request.args.get("includeHiddenFolders", "").lower() != "true":
            folders = [f for f in folders if not f.hidden]
        chunk = folders[skip : skip + top]
        upn = quote(box.upn)
        body: dict[str, t.Any] = {
            "@odata.context": f"{request.host_url}v1.0/$metadata#users('{upn}')/{context_path}",
            "value": [self._folder_resource(box, f) for f in chunk],
        }
        if skip + top < len(folders):
            query = dict(request.args.items())
            query["$skip"] = str(skip + top)
            body["@odata.nextLink"] = f"{request.base_url}?{urlencode(query)}"
        return self.json(body)

    def _rest_id(self, box: Mailbox, message: Message, folder_key: str) -> str:
        """The default (non-immutable) id: it changes when the message moves to another folder."""
        return "AAMkA" + _b64(_digest(box.upn, message.key, folder_key))[:140] + "AAA="

    def _render(self, box: Mailbox, message: Message, *, immutable: bool) -> dict[str, t.Any]:
        folder = box.folders[message.folder] if message.folder else None
        ident = message.immutable_id if immutable else self._rest_id(box, message, message.folder or "")
        change_key = _b64(_digest(message.key, str(message.seq), size=1))[:40]
        return {
            "@odata.type": "#microsoft.graph.message",
            "@odata.etag": f'W/"{change_key}"',
            "id": ident,
            **message.fields,
            "changeKey": change_key,
            "parentFolderId": folder.id if folder else None,
            "webLink": "https://outlook.office365.com/owa/?ItemID="
            + quote(ident, safe="")
            + "&exvsurl=1&viewmodel=ReadMessageItem",
        }

    def _matches(self, message: Message, flt: str | None) -> bool:
        if not flt:
            return True
        match = _FILTER_RE.match(flt)
        if match is None:
            return True
        op, value = match.groups()
        received = message.fields["receivedDateTime"]
        return received >= value if op.lower() == "ge" else received > value

    # -- endpoints ----------------------------------------------------------------------------

    def list_folders(self, request: Request, mailbox: str) -> Response:
        box, err = self._resolve(request, mailbox)
        if box is None:
            return err  # type: ignore[return-value]
        with self.lock:
            top = [f for f in box.folders.values() if f.parent_id == box.root_id]
            return self._page_folders(request, box, top, "mailFolders")

    def get_folder(self, request: Request, mailbox: str, folder: str) -> Response:
        box, err = self._resolve(request, mailbox)
        if box is None:
            return err  # type: ignore[return-value]
        with self.lock:
            found = box.folder_by_ref(folder)
            if found is None:
                return self._not_found()
            body = self._folder_resource(box, found)
            upn = quote(box.upn)
            return self.json(
                {
                    "@odata.context": f"{request.host_url}v1.0/$metadata#users('{upn}')/mailFolders/$entity",
                    **body,
                }
            )

    def list_children(self, request: Request, mailbox: str, folder: str) -> Response:
        box, err = self._resolve(request, mailbox)
        if box is None:
            return err  # type: ignore[return-value]
        with self.lock:
            parent = box.folder_by_ref(folder)
            if parent is None:
                return self._not_found()
            children = [f for f in box.folders.values() if f.parent_id == parent.id]
            return self._page_folders(request, box, children, f"mailFolders('{parent.id}')/childFolders")

    def get_message(self, request: Request, mailbox: str, message: str) -> Response:
        box, err = self._resolve(request, mailbox)
        if box is None:
            return err  # type: ignore[return-value]
        _, immutable = self._prefer(request)
        with self.lock:
            for m in box.messages.values():
                if m.folder and message in (m.immutable_id, self._rest_id(box, m, m.folder)):
                    return self.json(self._render(box, m, immutable=immutable))
        return self._not_found()

    def delta(self, request: Request, mailbox: str, folder: str) -> Response:
        box, err = self._resolve(request, mailbox)
        if box is None:
            return err  # type: ignore[return-value]
        page_size, immutable = self._prefer(request)
        page_size = page_size or DEFAULT_DELTA_PAGE
        with self.lock:
            found = box.folder_by_ref(folder)
            if found is None:
                return self._not_found()
            skiptoken = request.args.get("$skiptoken")
            deltatoken = request.args.get("$deltatoken")
            if skiptoken is not None:
                round_id, _, offset_s = skiptoken.rpartition(".")
                current = self.rounds.get(round_id)
                if current is None or current.folder != found.key or not offset_s.isdigit():
                    return self._sync_state_not_found()
                offset = int(offset_s)
            else:
                if deltatoken is not None:
                    cursor = self.cursors.get(deltatoken)
                    if cursor is None or cursor.folder != found.key or cursor.mailbox != box.upn:
                        return self._sync_state_not_found()
                    since, flt = cursor.seq, cursor.filter
                else:
                    since, flt = None, request.args.get("$filter")
                current = self._start_round(box, found, since, flt)
                round_id = secrets.token_urlsafe(18)
                self.rounds[round_id] = current
                offset = 0
            entries = current.entries[offset : offset + page_size]
            value = []
            for kind, key in entries:
                message = box.messages[key]
                if kind == "message" and message.folder == found.key:
                    value.append(self._render(box, message, immutable=immutable))
                else:
                    ident = message.immutable_id if immutable else self._rest_id(box, message, found.key)
                    value.append(
                        {
                            "@odata.type": "#microsoft.graph.message",
                            "id": ident,
                            "@removed": {"reason": "deleted"},
                        }
                    )
            link_base = (
                f"{request.host_url}v1.0/users/{quote(mailbox)}/mailFolders/{quote(folder, safe='')}/messages/delta"
            )
            body: dict[str, t.Any] = {
                "@odata.context": f"{request.host_url}v1.0/$metadata#Collection(message)",
                "value": value,
            }
            if offset + page_size < len(current.entries):
                body["@odata.nextLink"] = f"{link_base}?{urlencode({'$skiptoken': f'{round_id}.{offset + page_size}'})}"
            else:
                token = secrets.token_urlsafe(24)
                self.cursors[token] = DeltaCursor(box.upn, found.key, current.seq, current.filter)
                body["@odata.deltaLink"] = f"{link_base}?{urlencode({'$deltatoken': token})}"
        response = self.json(body)
        if request.headers.get("Prefer"):
            applied = [f"odata.maxpagesize={page_size}"] if "maxpagesize" in request.headers["Prefer"] else []
            if immutable:
                applied.append('IdType="ImmutableId"')
            if applied:
                response.headers["Preference-Applied"] = ", ".join(applied)
        return response

    def _sync_state_not_found(self) -> Response:
        return self.error(
            410,
            "syncStateNotFound",
            "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
        )

    def _start_round(self, box: Mailbox, folder: Folder, since: int | None, flt: str | None) -> DeltaRound:
        changed = sorted(
            (m for m in box.messages.values() if m.folder == folder.key and self._matches(m, flt)),
            key=lambda m: (m.seq, m.key),
        )
        if since is None:
            entries = [("message", m.key) for m in changed]
        else:
            entries = [("message", m.key) for m in changed if m.seq > since]
            gone = {
                ts.message_key
                for ts in box.tombstones
                if ts.folder == folder.key and ts.seq > since and box.messages[ts.message_key].folder != folder.key
            }
            entries += [("removed", key) for key in sorted(gone)]
        return DeltaRound(box.upn, folder.key, entries, box.seq, flt)

    # -- seeding and mutation (used by tests and by create_app) ----------------------------------

    def add_mailbox(self, tenant: str, upn: str, display_name: str) -> Mailbox:
        info = TENANTS[tenant]
        self.tenants[info["tenant_id"]] = tenant
        self.client_tenants[info["client_id"]] = info["tenant_id"]
        self.clients[info["client_id"]] = info["client_secret"]
        user_id = str(uuid.UUID(bytes=_digest(upn, size=1)[:16]))
        box = Mailbox(upn=upn.lower(), user_id=user_id, display_name=display_name, tenant=tenant)
        box.root_id = self._folder_id(box.upn, "msgfolderroot")
        for key, well_known, name, parent in FOLDER_LAYOUT:
            parent_id = box.root_id if parent is None else box.folders[parent].id
            box.folders[key] = Folder(
                key, self._folder_id(box.upn, key), name, parent_id, well_known, hidden=key == "clipboard"
            )
        self.mailboxes[box.upn] = box
        return box

    @staticmethod
    def _folder_id(upn: str, key: str) -> str:
        return "AAMkA" + _b64(_digest(upn, "folder", key, size=2))[:60] + "AAA="

    def add_folder(self, mailbox: str, name: str, parent: str | None = None) -> str:
        """Create a folder (under ``parent``, a folder key or id); returns its id."""
        with self.lock:
            box = self.mailboxes[mailbox.lower()]
            key = f"user-{len(box.folders)}-{name.lower()}"
            if parent is None:
                parent_id = box.root_id
            else:
                parent_folder = box.folders.get(parent) or box.folder_by_ref(parent)
                parent_id = parent_folder.id if parent_folder else box.root_id
            box.folders[key] = Folder(key, self._folder_id(box.upn, key), name, parent_id)
            return box.folders[key].id

    def _tick(self, box: Mailbox) -> tuple[int, str]:
        box.seq += 1
        self.clock += dt.timedelta(minutes=1)
        return box.seq, _iso(self.clock)

    def _folder_key(self, box: Mailbox, folder: str) -> str:
        if folder in box.folders:
            return folder
        found = box.folder_by_ref(folder)
        if found is None:
            msg = f"no folder {folder!r} in {box.upn}"
            raise KeyError(msg)
        return found.key

    def add_message(self, mailbox: str, folder: str = "inbox", **fields: t.Any) -> str:
        """Deliver a new message into ``folder`` (key, id or well-known name); returns its immutable id."""
        with self.lock:
            box = self.mailboxes[mailbox.lower()]
            seq, now = self._tick(box)
            key = f"m{len(box.messages):05d}"
            rng = random.Random(f"{box.upn}:{key}")  # noqa: S311 - fake data, not crypto
            folder_key = self._folder_key(box, folder)
            base = _fake_fields(rng, box, key, received=now, folder=folder_key)
            base.update(fields)
            base["lastModifiedDateTime"] = now
            immutable_id = "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A" + _b64(_digest(box.upn, key, "immutable"))[:100]
            box.messages[key] = Message(key, immutable_id, folder_key, base, seq)
            return immutable_id

    def _find(self, box: Mailbox, message_id: str) -> Message:
        for m in box.messages.values():
            if m.immutable_id == message_id:
                return m
        msg = f"no message {message_id!r} in {box.upn}"
        raise KeyError(msg)

    def update_message(self, mailbox: str, message_id: str, **changes: t.Any) -> None:
        """Change properties of a message (e.g. ``isRead=True``, ``categories=[...]``)."""
        with self.lock:
            box = self.mailboxes[mailbox.lower()]
            message = self._find(box, message_id)
            seq, now = self._tick(box)
            message.fields.update(changes)
            message.fields["lastModifiedDateTime"] = now
            message.seq = seq

    def move_message(self, mailbox: str, message_id: str, folder: str) -> None:
        """Move a message: its default id changes, its immutable id does not."""
        with self.lock:
            box = self.mailboxes[mailbox.lower()]
            message = self._find(box, message_id)
            seq, now = self._tick(box)
            if message.folder:
                box.tombstones.append(Tombstone(message.folder, message.key, seq))
            message.folder = self._folder_key(box, folder)
            message.fields["lastModifiedDateTime"] = now
            message.seq = seq

    def delete_message(self, mailbox: str, message_id: str) -> None:
        """Hard-delete a message (delta rounds report it as ``@removed``)."""
        with self.lock:
            box = self.mailboxes[mailbox.lower()]
            message = self._find(box, message_id)
            seq, _ = self._tick(box)
            if message.folder:
                box.tombstones.append(Tombstone(message.folder, message.key, seq))
            message.folder = None
            message.seq = seq

    def deny(self, mailbox: str, denied: bool = True) -> None:
        """Make the mailbox answer 403 ErrorAccessDenied (application permission missing)."""
        with self.lock:
            (self.denied.add if denied else self.denied.discard)(mailbox.lower())

    def message_resource(self, mailbox: str, message_id: str, immutable: bool = True) -> dict[str, t.Any]:
        """The message as a delta response returns it."""
        with self.lock:
            box = self.mailboxes[mailbox.lower()]
            return self._render(box, self._find(box, message_id), immutable=immutable)

    def messages(self, mailbox: str, folders: Iterable[str] | None = None) -> list[dict[str, t.Any]]:
        """Every message currently in the mailbox (optionally only these folders), as Graph renders them."""
        with self.lock:
            box = self.mailboxes[mailbox.lower()]
            keys = None if folders is None else {self._folder_key(box, f) for f in folders}
            return [
                self._render(box, m, immutable=True)
                for m in box.messages.values()
                if m.folder and (keys is None or m.folder in keys)
            ]

    def folder_ids(self, mailbox: str) -> dict[str, str]:
        """displayName path -> id of every folder of a mailbox (hidden ones included)."""
        with self.lock:
            box = self.mailboxes[mailbox.lower()]
            by_id = {f.id: f for f in box.folders.values()}

            def path(f: Folder) -> str:
                parent = by_id.get(f.parent_id)
                return f.display_name if parent is None else f"{path(parent)}/{f.display_name}"

            return {path(f): f.id for f in box.folders.values()}


def _person(rng: random.Random, domain: str | None = None) -> dict[str, dict[str, str]]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    local = f"{first}.{last}".lower().replace("ü", "ue").replace("ö", "oe").replace("ä", "ae")
    host = domain or rng.choice(["web.example", "posteo.example", "gmx.example", "mail.example"])
    return {"emailAddress": {"name": f"{first} {last}", "address": f"{local}@{host}"}}


def _fake_fields(rng: random.Random, box: Mailbox, key: str, received: str, folder: str = "inbox") -> dict[str, t.Any]:
    """Properties of a message resource (Graph v1.0 ``message``), minus id/changeKey/parentFolderId."""
    topic, text = rng.choice(TOPICS)
    sender = _person(rng)
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
    conversation = "AAQkA" + _b64(_digest(box.upn, "conv", topic, sender["emailAddress"]["address"], size=1))[:40]
    is_draft = folder == "drafts"
    frm_host = frm["emailAddress"]["address"].split("@")[1]
    return {
        "createdDateTime": received,
        "lastModifiedDateTime": received,
        "categories": rng.choice([[], [], [], ["Klient:in"], ["Abrechnung"], ["Warteliste"]]),
        "receivedDateTime": received,
        "sentDateTime": None if is_draft else received,
        "hasAttachments": topic in {"Rechnung", "Anamnesebogen", "Kostenübernahme Krankenkasse"},
        "internetMessageId": f"<{_b64(_digest(box.upn, key, 'mid', size=1))[:24]}@{frm_host}>",
        "subject": topic if rng.random() < 0.7 else f"AW: {topic}",
        "bodyPreview": preview,
        "importance": rng.choice(["normal"] * 8 + ["high", "low"]),
        "conversationId": conversation,
        "conversationIndex": _b64(_digest(conversation, key, size=1))[:30],
        "isDeliveryReceiptRequested": False if not is_draft else None,
        "isReadReceiptRequested": False,
        "isRead": outgoing or rng.random() < 0.75,
        "isDraft": is_draft,
        "inferenceClassification": "focused" if rng.random() < 0.85 else "other",
        "body": {"contentType": "html", "content": html},
        "sender": frm,
        "from": frm,
        "toRecipients": [to],
        "ccRecipients": [_person(rng, box.upn.split("@")[1])] if rng.random() < 0.15 else [],
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
        fields = _fake_fields(random.Random(f"{upn}:{key}"), box, key, _iso(moment), folder)  # noqa: S311
        box.seq += 1
        immutable_id = "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A" + _b64(_digest(box.upn, key, "immutable"))[:100]
        box.messages[key] = Message(key, immutable_id, folder, fields, box.seq)
    return box


def create_app() -> GraphApp:
    """The Graph sandbox seeded with the four Exchange mailboxes of the product spec."""
    app = GraphApp()
    for tenant, upn, display_name, count in CONNECTIONS.values():
        seed_mailbox(app, tenant, upn, display_name, count)
    return app


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
