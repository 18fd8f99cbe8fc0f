"""The Gmail API v1 app: profile, labels, messages, history and the write calls tests use."""

from __future__ import annotations

import json
import secrets
import time
import typing as t
from dataclasses import dataclass
from datetime import UTC, datetime

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from lorchestra_sandbox.core import Faults, ProviderApp
from lorchestra_sandbox.gmail.batch import BatchEndpoint
from lorchestra_sandbox.gmail.content import SYSTEM_LABELS, USER_LABELS
from lorchestra_sandbox.gmail.model import Mailbox, StoredMessage, b64url, matches
from lorchestra_sandbox.gmail.seed import (
    ACCOUNTS,
    CLIENT_ID,
    CLIENT_SECRET,
    READ_SCOPES,
    READONLY_SCOPE,
    compose,
    seed_mailbox,
    service_account_info,
)
from lorchestra_sandbox.google_oauth import GoogleOAuth, ServiceAccount, b64url_decode

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable

API = "/gmail/v1/users/<user_id>"


@dataclass
class GmailFaults(Faults):
    """Generic faults plus Gmail's own (see the module docstring)."""

    quota_403: int = 0
    quota_403_reason: str = "userRateLimitExceeded"
    forbidden: int = 0
    batch_item_throttle: int = 0
    batch_item_unauthorized: int = 0
    batch_expire_tokens_after_parts: int | None = None
    batch_part_order: str = "request"


def _page_token(key: tuple[int, ...] | tuple[int, str]) -> str:
    return b64url(json.dumps(list(key)).encode()).rstrip("=")


def _read_page_token(token: str) -> list[t.Any] | None:
    try:
        value = json.loads(b64url_decode(token))
    except ValueError:
        return None
    return value if isinstance(value, list) else None


class GmailApp(BatchEndpoint, ProviderApp):
    """One Gmail API host serving the mailboxes of gmail-acct1..3."""

    name = "gmail"
    token_paths = ("/token", "/o/oauth2/token")

    def __init__(self) -> None:
        self.mailboxes: dict[str, Mailbox] = {a.email: seed_mailbox(a) for a in ACCOUNTS}
        delegated = [a.email for a in ACCOUNTS if a.delegated]
        self.oauth = GoogleOAuth(
            clients={CLIENT_ID: CLIENT_SECRET},
            refresh_tokens={
                a.refresh_token: (a.email, frozenset({READONLY_SCOPE})) for a in ACCOUNTS if a.refresh_token
            },
            # Domain-wide delegation over the Workspace mailbox, for the Gmail read scopes only.
            service_accounts=[
                ServiceAccount(service_account_info(), delegates_to=frozenset(delegated), delegated_scopes=READ_SCOPES)
            ],
            workspace_users=delegated,
        )
        super().__init__()
        self.faults = GmailFaults()

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

    def token_response(self, request: Request) -> Response:
        return self.oauth.token_response(self, request)

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
        grant = self.oauth.grant_of(request)
        owner = grant.principal if grant is not None else ""
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
            raw = b64url_decode(str(body["raw"]))
        except (KeyError, ValueError):
            return self.error(
                400, "INVALID_ARGUMENT", "'raw' RFC822 payload message string is required.", "invalidArgument"
            )
        with self.lock:
            msg = box.add(raw, list(body.get("labelIds", [])))
            return self.json({"id": msg.id, "threadId": msg.thread_id, "labelIds": msg.label_ids})

    def modify_message(self, request: Request, user_id: str, message_id: str) -> Response:
        body = request.get_json(silent=True) or {}
        add, remove = body.get("addLabelIds", []), body.get("removeLabelIds", [])
        return self._relabel(request, user_id, message_id, add, remove)

    def trash_message(self, request: Request, user_id: str, message_id: str) -> Response:
        return self._relabel(request, user_id, message_id, ["TRASH"], ["INBOX"])

    def untrash_message(self, request: Request, user_id: str, message_id: str) -> Response:
        return self._relabel(request, user_id, message_id, [], ["TRASH"])

    def _relabel(self, request: Request, user_id: str, message_id: str, add: list[str], remove: list[str]) -> Response:
        def relabel(box: Mailbox, msg: StoredMessage) -> Response:
            box.modify(message_id, add, remove)
            return self.json(msg.resource("minimal"))

        return self._on_message(request, user_id, message_id, relabel)

    def delete_msg(self, request: Request, user_id: str, message_id: str) -> Response:
        def delete(box: Mailbox, _msg: StoredMessage) -> Response:
            box.delete(message_id)
            return Response(status=204)

        return self._on_message(request, user_id, message_id, delete)

    def _on_message(
        self, request: Request, user_id: str, message_id: str, change: Callable[[Mailbox, StoredMessage], Response]
    ) -> Response:
        """``change(box, message)`` under the lock, once the mailbox and the message are found (else their error)."""
        box = self._resolve(request, user_id)
        if isinstance(box, Response):
            return box
        with self.lock:
            msg = self._message(box, message_id)
            return msg if isinstance(msg, Response) else change(box, msg)


def create_app() -> GmailApp:
    """The Gmail sandbox seeded with the three clinic mailboxes."""
    return GmailApp()
