"""Graph's wire format: error bodies, ``Prefer`` and ``$select`` parsing, and resources as Graph renders them."""

from __future__ import annotations

import datetime as dt
import re
import typing as t
import uuid
from urllib.parse import quote

from lorchestra_sandbox.core import ProviderApp
from lorchestra_sandbox.graph.model import b64, digest, iso

if t.TYPE_CHECKING:
    from werkzeug.wrappers import Request, Response

    from lorchestra_sandbox.graph.model import Folder, Mailbox, Message

#: Page size of a delta round without ``Prefer: odata.maxpagesize`` (Graph's default for messages).
DEFAULT_DELTA_PAGE = 10
#: Default ``$top`` of mailFolders / childFolders.
DEFAULT_FOLDER_PAGE = 10
#: "Applying $filter in a delta query returns only up to 5,000 messages" (delta query for messages).
FILTERED_DELTA_CAP = 5000

FILTER_RE = re.compile(r"^\s*receivedDateTime\s+(ge|gt)\s+(\S+)\s*$", re.IGNORECASE)

#: core's generic error codes -> Graph's
_CODES: dict[str, tuple[str, str | None]] = {
    "UNAUTHENTICATED": ("InvalidAuthenticationToken", "Access token has expired or is not yet valid."),
    "NOT_FOUND": ("ResourceNotFound", None),
    "BAD_REQUEST": ("BadRequest", None),
    "RESOURCE_EXHAUSTED": ("TooManyRequests", "Please retry again later."),
    "UNAVAILABLE": ("serviceNotAvailable", "The service is temporarily unavailable. Please retry later."),
}

#: Message properties Graph returns without ``$select`` (what :func:`render_message` produces).
MESSAGE_DEFAULT = (
    "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "receivedDateTime",
    "sentDateTime", "hasAttachments", "internetMessageId", "subject", "bodyPreview", "importance",
    "parentFolderId", "conversationId", "conversationIndex", "isDeliveryReceiptRequested",
    "isReadReceiptRequested", "isRead", "isDraft", "webLink", "inferenceClassification", "body", "sender",
    "from", "toRecipients", "ccRecipients", "bccRecipients", "replyTo", "flag",
)  # fmt: skip
#: Returned only when ``$select`` names them (message resource reference).
MESSAGE_ON_SELECT = ("uniqueBody", "internetMessageHeaders")
FOLDER_PROPERTIES = (
    "id", "displayName", "parentFolderId", "childFolderCount", "unreadItemCount", "totalItemCount",
    "sizeInBytes", "isHidden",
)  # fmt: skip


def inner_error() -> dict[str, str]:
    return {
        "date": iso(dt.datetime.now(dt.UTC)),
        "request-id": str(uuid.uuid4()),
        "client-request-id": str(uuid.uuid4()),
    }


def graph_error(status: int, code: str, message: str, inner_code: str | None = None) -> Response:
    """``{"error": {"code", "message", "innerError"}}``; core's generic codes are translated to Graph's.

    ``inner_code`` puts a more specific code in ``innerError`` (Graph's errors page: apps loop
    through the nested ``innererror`` codes and use the most detailed one they understand).
    """
    code, graph_message = _CODES.get(code, (code, None))
    inner: dict[str, t.Any] = inner_error()
    if inner_code:
        inner["code"] = inner_code
    body = {"error": {"code": code, "message": graph_message or message, "innerError": inner}}
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="", error="invalid_token"'
    return ProviderApp.json(body, status, headers)


def parse_prefer(request: Request) -> tuple[int | None, bool]:
    """(odata.maxpagesize, IdType="ImmutableId") from the Prefer header(s)."""
    page, immutable = None, False
    for header in request.headers.getlist("Prefer"):
        for raw in header.split(","):
            name, _, value = raw.strip().partition("=")
            if name.strip().lower() == "odata.maxpagesize" and value.strip().isdigit():
                page = int(value)
            elif name.strip().lower() == "idtype" and value.strip().strip('"') == "ImmutableId":
                immutable = True
    return page, immutable


def parse_select(request: Request, known: t.Iterable[str], entity: str) -> tuple[str, ...] | None:
    """The ``$select`` list (None: not given); an unknown property raises ``ValueError`` with Graph's message."""
    raw = request.args.get("$select")
    if raw is None:
        return None
    names = tuple(s.strip() for s in raw.split(",") if s.strip())
    allowed = {k.lower(): k for k in known}
    unknown = [n for n in names if n.lower() not in allowed]
    if unknown:
        msg = f"Could not find a property named '{unknown[0]}' on type 'microsoft.graph.{entity}'."
        raise ValueError(msg)
    return tuple(allowed[n.lower()] for n in names)


def pick(resource: dict[str, t.Any], select: tuple[str, ...] | None) -> dict[str, t.Any]:
    """Only the selected properties; annotations (``@odata.*``) and ``id`` are always returned."""
    if select is None:
        return resource
    return {k: v for k, v in resource.items() if k.startswith("@") or k == "id" or k in select}


def rest_id(box: Mailbox, message: Message, folder_key: str) -> str:
    """The default (non-immutable) id: it changes when the message moves to another folder."""
    return "AAMkA" + b64(digest(box.upn, message.key, folder_key))[:140] + "AAA="


def render_message(
    box: Mailbox, message: Message, *, immutable: bool, select: tuple[str, ...] | None = None
) -> dict[str, t.Any]:
    """The message resource; ``uniqueBody`` and ``internetMessageHeaders`` only when selected."""
    folder = box.folders[message.folder] if message.folder else None
    ident = message.immutable_id if immutable else rest_id(box, message, message.folder or "")
    change_key = b64(digest(message.key, str(message.seq), size=1))[:40]
    resource = {
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
    if select and "uniqueBody" in select:
        resource["uniqueBody"] = dict(message.fields["body"])
    if select and "internetMessageHeaders" in select:
        sender = (message.fields.get("from") or {}).get("emailAddress", {})
        resource["internetMessageHeaders"] = [
            {"name": "Message-ID", "value": message.fields["internetMessageId"]},
            {"name": "From", "value": f"{sender.get('name', '')} <{sender.get('address', '')}>"},
            {"name": "Subject", "value": message.fields["subject"]},
        ]
    return pick(resource, select)


def folder_resource(box: Mailbox, folder: Folder) -> dict[str, t.Any]:
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


def matches(message: Message, flt: str | None) -> bool:
    """Whether a message passes the one ``$filter`` messages/delta supports (``receivedDateTime ge|gt``)."""
    if not flt:
        return True
    match = FILTER_RE.match(flt)
    if match is None:
        return True
    op, value = match.groups()
    received = message.fields["receivedDateTime"]
    return received >= value if op.lower() == "ge" else received > value
