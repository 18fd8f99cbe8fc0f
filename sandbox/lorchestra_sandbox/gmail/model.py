"""The Gmail sandbox's data model: messages as RFC 822 bytes plus metadata, mailboxes with history, search."""

from __future__ import annotations

import base64
import copy
import hashlib
import html
import random
import re
import time
import typing as t
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import Message
from email.parser import BytesParser
from functools import cached_property

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from lorchestra_sandbox.gmail.seed import Account


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


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
