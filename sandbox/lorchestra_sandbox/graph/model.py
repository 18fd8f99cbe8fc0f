"""The Graph sandbox's data: mailboxes, folders, messages, deletions, and delta rounds and cursors."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import typing as t
from dataclasses import dataclass, field

#: The sandbox clock's start: changes made by tests are stamped from here, one minute apart.
EPOCH = dt.datetime(2025, 3, 10, 9, 0, tzinfo=dt.UTC)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def digest(*parts: str, size: int = 2) -> bytes:
    out = b""
    for i in range(size):
        out += hashlib.sha256("|".join((*parts, str(i))).encode()).digest()
    return out


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def immutable_id(upn: str, key: str) -> str:
    """The id a message keeps wherever it moves (``Prefer: IdType="ImmutableId"``)."""
    return "AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A" + b64(digest(upn, key, "immutable"))[:100]


def folder_id(upn: str, key: str) -> str:
    return "AAMkA" + b64(digest(upn, "folder", key, size=2))[:60] + "AAA="


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
    select: tuple[str, ...] | None = None


@dataclass
class DeltaCursor:
    mailbox: str
    folder: str
    seq: int
    filter: str | None
    select: tuple[str, ...] | None = None
