"""The Graph sandbox's HTTP surface: mail folders, messages, messages/delta, limits and fault switches."""

from __future__ import annotations

import secrets
import threading
import typing as t
import uuid
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from werkzeug.routing import Rule

from lorchestra_sandbox.core import Faults, ProviderApp
from lorchestra_sandbox.entra_oauth import TOKEN_PATH, EntraTokenEndpoint
from lorchestra_sandbox.graph.edits import MailboxEdits
from lorchestra_sandbox.graph.model import DeltaCursor, DeltaRound, Folder, Mailbox, digest, folder_id
from lorchestra_sandbox.graph.seed import FOLDER_LAYOUT, TENANTS
from lorchestra_sandbox.graph.wire import (
    DEFAULT_DELTA_PAGE,
    DEFAULT_FOLDER_PAGE,
    FILTERED_DELTA_CAP,
    FOLDER_PROPERTIES,
    MESSAGE_DEFAULT,
    MESSAGE_ON_SELECT,
    folder_resource,
    graph_error,
    matches,
    parse_prefer,
    parse_select,
    pick,
    render_message,
    rest_id,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from werkzeug.wrappers import Request, Response

#: Outlook allows four concurrent requests per app and mailbox.
MAILBOX_CONCURRENCY = 4
GRAPH_RESOURCE = "https://graph.microsoft.com"
#: Graph's basic code for each status, used at the top level when the specific code is in ``innerError``.
_GENERIC_CODES = {400: "invalidRequest", 404: "itemNotFound", 410: "generalException"}


@dataclass
class GraphFaults(Faults):
    """Core's switches plus Graph's own (all settable through ``POST /_sandbox/faults``).

    Attributes:
        expire_tokens_after: answer N more API requests, then revoke every access token issued so
            far, once (a token that dies mid-run although its ``expires_in`` has not passed).
        gateway_timeouts: next N API requests answer 504 (with Retry-After).
        token_errors: next N token requests answer 503 ``temporarily_unavailable`` (with Retry-After).
        sync_error_status, sync_error_code, sync_error_inner: how an expired delta or skip token is
            answered. Graph documents "a 40X-series error with error codes such as syncStateNotFound"
            (delta query overview) and ``resyncRequired`` ("the delta token is no longer valid, and
            the app must reset the sync state", errors page); the code may sit at the top level or in
            ``innerError`` (``sync_error_inner``). Default: 410 ``syncStateNotFound``.
    """

    expire_tokens_after: int | None = None
    gateway_timeouts: int = 0
    token_errors: int = 0
    sync_error_status: int = 410
    sync_error_code: str = "syncStateNotFound"
    sync_error_inner: bool = False


class GraphApp(MailboxEdits, ProviderApp):
    """Microsoft Graph mail endpoints plus the Entra ID v2.0 token endpoint."""

    name = "exchange"
    token_paths = (TOKEN_PATH,)

    def __init__(self) -> None:
        super().__init__()
        self.mailboxes: dict[str, Mailbox] = {}  # lower-case UPN -> Mailbox
        self.entra = EntraTokenEndpoint(self.tokens, resources=lambda _request: {GRAPH_RESOURCE})
        self.rounds: dict[str, DeltaRound] = {}  # skiptoken -> round (+ offset in the token)
        self.cursors: dict[str, DeltaCursor] = {}  # deltatoken -> cursor
        self.denied: set[str] = set()
        self.in_flight: dict[str, int] = {}
        self.peak_concurrency: dict[str, int] = {}
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

    # -- auth, errors, limits -------------------------------------------------------------------

    def error(self, status: int, code: str, message: str) -> Response:
        return graph_error(status, code, message)

    def _token(self, request: Request, tenant: str = "") -> Response:
        with self.lock:
            token_error = self.faults.token_errors > 0
            if token_error:
                self.faults.token_errors -= 1
        if token_error:
            return self.entra.unavailable(self.faults.retry_after)
        return self.entra.respond(request, tenant)

    def on_expire_sync(self) -> None:
        """Forget every delta round and delta link: they answer the configured sync-state error."""
        self.rounds.clear()
        self.cursors.clear()

    def _call_api(self, endpoint: t.Any, request: Request, args: Mapping[str, t.Any]) -> Response:
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

    def _resolve(self, request: Request, ref: str) -> Mailbox | Response:
        """The mailbox ``ref`` names, or the error answer when it is unknown here or not allowed."""
        ref_l = ref.lower()
        box = self.mailboxes.get(ref_l) or next((b for b in self.mailboxes.values() if b.user_id == ref_l), None)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if box is None or self.entra.issued_to.get(token) != TENANTS[box.tenant]["tenant_id"]:
            return self.error(404, "ErrorInvalidUser", f"The requested user '{ref}' is invalid.")
        if box.upn in self.denied:
            return self.error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        return box

    def _not_found(self) -> Response:
        return self.error(404, "ErrorItemNotFound", "The specified object was not found in the store.")

    def _bad_select(self, exc: ValueError) -> Response:
        return self.error(400, "RequestBroker--ParseUri", str(exc))

    # -- folders ----------------------------------------------------------------------------------

    def _page_folders(self, request: Request, box: Mailbox, folders: list[Folder], context_path: str) -> Response:
        try:
            select = parse_select(request, FOLDER_PROPERTIES, "mailFolder")
        except ValueError as exc:
            return self._bad_select(exc)
        top = int(request.args.get("$top", DEFAULT_FOLDER_PAGE))
        skip = int(request.args.get("$skip", 0))
        if request.args.get("includeHiddenFolders", "").lower() != "true":
            folders = [f for f in folders if not f.hidden]
        chunk = folders[skip : skip + top]
        body: dict[str, t.Any] = {
            "@odata.context": f"{request.host_url}v1.0/$metadata#users('{quote(box.upn)}')/{context_path}",
            "value": [pick(folder_resource(box, f), select) for f in chunk],
        }
        if skip + top < len(folders):
            query = dict(request.args.items())
            query["$skip"] = str(skip + top)
            body["@odata.nextLink"] = f"{request.base_url}?{urlencode(query)}"
        return self.json(body)

    def list_folders(self, request: Request, mailbox: str) -> Response:
        box = self._resolve(request, mailbox)
        if not isinstance(box, Mailbox):  # the error answer
            return box
        with self.lock:
            top = [f for f in box.folders.values() if f.parent_id == box.root_id]
            return self._page_folders(request, box, top, "mailFolders")

    def get_folder(self, request: Request, mailbox: str, folder: str) -> Response:
        box = self._resolve(request, mailbox)
        if not isinstance(box, Mailbox):  # the error answer
            return box
        try:
            select = parse_select(request, FOLDER_PROPERTIES, "mailFolder")
        except ValueError as exc:
            return self._bad_select(exc)
        with self.lock:
            found = box.folder_by_ref(folder)
            if found is None:
                return self._not_found()
            context = f"{request.host_url}v1.0/$metadata#users('{quote(box.upn)}')/mailFolders/$entity"
            return self.json({"@odata.context": context, **pick(folder_resource(box, found), select)})

    def list_children(self, request: Request, mailbox: str, folder: str) -> Response:
        box = self._resolve(request, mailbox)
        if not isinstance(box, Mailbox):  # the error answer
            return box
        with self.lock:
            parent = box.folder_by_ref(folder)
            if parent is None:
                return self._not_found()
            children = [f for f in box.folders.values() if f.parent_id == parent.id]
            return self._page_folders(request, box, children, f"mailFolders('{parent.id}')/childFolders")

    # -- messages -------------------------------------------------------------------------------

    def get_message(self, request: Request, mailbox: str, message: str) -> Response:
        box = self._resolve(request, mailbox)
        if not isinstance(box, Mailbox):  # the error answer
            return box
        try:
            select = parse_select(request, MESSAGE_DEFAULT + MESSAGE_ON_SELECT, "message")
        except ValueError as exc:
            return self._bad_select(exc)
        _, immutable = parse_prefer(request)
        with self.lock:
            for m in box.messages.values():
                if m.folder and message in (m.immutable_id, rest_id(box, m, m.folder)):
                    return self.json(render_message(box, m, immutable=immutable, select=select))
        return self._not_found()

    def delta(self, request: Request, mailbox: str, folder: str) -> Response:
        """One page of a delta round; ``$filter`` and ``$select`` of the first request are carried in the links."""
        box = self._resolve(request, mailbox)
        if not isinstance(box, Mailbox):  # the error answer
            return box
        page_size, immutable = parse_prefer(request)
        page_size = page_size or DEFAULT_DELTA_PAGE
        with self.lock:
            found = box.folder_by_ref(folder)
            if found is None:
                return self._not_found()
            opened = self._round_page(request, box, found)
            if not isinstance(opened, tuple):
                return opened
            round_id, current, offset = opened
            value = []
            for kind, key in current.entries[offset : offset + page_size]:
                message = box.messages[key]
                if kind == "message" and message.folder == found.key:
                    value.append(render_message(box, message, immutable=immutable, select=current.select))
                else:
                    ident = message.immutable_id if immutable else rest_id(box, message, found.key)
                    value.append(
                        {"@odata.type": "#microsoft.graph.message", "id": ident, "@removed": {"reason": "deleted"}}
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
                self.cursors[token] = DeltaCursor(box.upn, found.key, current.seq, current.filter, current.select)
                body["@odata.deltaLink"] = f"{link_base}?{urlencode({'$deltatoken': token})}"
        response = self.json(body)
        if request.headers.get("Prefer"):
            applied = [f"odata.maxpagesize={page_size}"] if "maxpagesize" in request.headers["Prefer"] else []
            if immutable:
                applied.append('IdType="ImmutableId"')
            if applied:
                response.headers["Preference-Applied"] = ", ".join(applied)
        return response

    def _round_page(self, request: Request, box: Mailbox, found: Folder) -> tuple[str, DeltaRound, int] | Response:
        """(round id, round, offset) of the page asked for: a skip token's, or a new round's first page."""
        skiptoken = request.args.get("$skiptoken")
        deltatoken = request.args.get("$deltatoken")
        if skiptoken is not None:
            round_id, _, offset_s = skiptoken.rpartition(".")
            current = self.rounds.get(round_id)
            if current is None or current.folder != found.key or not offset_s.isdigit():
                return self._sync_state_error(request)
            return round_id, current, int(offset_s)
        if deltatoken is not None:
            cursor = self.cursors.get(deltatoken)
            if cursor is None or cursor.folder != found.key or cursor.mailbox != box.upn:
                return self._sync_state_error(request)
            since, flt, select = cursor.seq, cursor.filter, cursor.select
        else:
            try:
                select = parse_select(request, MESSAGE_DEFAULT + MESSAGE_ON_SELECT, "message")
            except ValueError as exc:
                return self._bad_select(exc)
            since, flt = None, request.args.get("$filter")
        round_id = secrets.token_urlsafe(18)
        self.rounds[round_id] = self._start_round(box, found, since, flt, select)
        return round_id, self.rounds[round_id], 0

    def _sync_state_error(self, request: Request) -> Response:
        """An expired delta or skip token, in the shape the ``sync_error_*`` switches choose."""
        status, code = self.faults.sync_error_status, self.faults.sync_error_code
        message = (
            "The sync state generation is not found. The delta token is expired and data must be synchronized again."
        )
        if self.faults.sync_error_inner:
            response = graph_error(status, _GENERIC_CODES.get(status, "generalException"), message, inner_code=code)
        else:
            response = graph_error(status, code, message)
        if status == 410:
            # Delta query overview, "Synchronization reset": a 410 carries a Location header with the
            # initial query (an empty $deltaToken).
            response.headers["Location"] = f"{request.base_url}?$deltatoken="
        return response

    def _start_round(
        self, box: Mailbox, folder: Folder, since: int | None, flt: str | None, select: tuple[str, ...] | None
    ) -> DeltaRound:
        changed = sorted(
            (m for m in box.messages.values() if m.folder == folder.key and matches(m, flt)),
            key=lambda m: (m.seq, m.key),
        )
        if flt and len(changed) > FILTERED_DELTA_CAP:
            # "Applying $filter in a delta query returns only up to 5,000 messages." Which ones is not
            # documented: the sandbox keeps the most recently received, as a mailbox view would.
            newest = sorted(changed, key=lambda m: m.fields["receivedDateTime"], reverse=True)[:FILTERED_DELTA_CAP]
            keep = {m.key for m in newest}
            changed = [m for m in changed if m.key in keep]
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
        return DeltaRound(box.upn, folder.key, entries, box.seq, flt, select)

    # -- seeding --------------------------------------------------------------------------------

    def add_mailbox(self, tenant: str, upn: str, display_name: str) -> Mailbox:
        info = TENANTS[tenant]
        self.entra.register(info["tenant_id"], info["client_id"], info["client_secret"], info["domain"])
        user_id = str(uuid.UUID(bytes=digest(upn, size=1)[:16]))
        box = Mailbox(upn=upn.lower(), user_id=user_id, display_name=display_name, tenant=tenant)
        box.root_id = folder_id(box.upn, "msgfolderroot")
        for key, well_known, name, parent in FOLDER_LAYOUT:
            parent_id = box.root_id if parent is None else box.folders[parent].id
            box.folders[key] = Folder(
                key, folder_id(box.upn, key), name, parent_id, well_known, hidden=key == "clipboard"
            )
        self.mailboxes[box.upn] = box
        return box
