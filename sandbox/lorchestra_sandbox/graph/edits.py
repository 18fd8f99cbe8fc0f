"""Changing the Graph sandbox's mailboxes between runs (tests and ``/_sandbox/graph/...``), and reading them back."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import threading
import typing as t

from lorchestra_sandbox.graph.model import EPOCH, Folder, Mailbox, Message, Tombstone, folder_id, immutable_id, iso
from lorchestra_sandbox.graph.seed import fake_fields
from lorchestra_sandbox.graph.wire import render_message

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator


class MailboxEdits:
    """Mailbox changes a user would make (deliver, edit, move, delete), each one tick of the sandbox clock."""

    lock: threading.RLock
    mailboxes: dict[str, Mailbox]
    denied: set[str]
    clock: dt.datetime = EPOCH

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
            box.folders[key] = Folder(key, folder_id(box.upn, key), name, parent_id)
            return box.folders[key].id

    def _tick(self, box: Mailbox) -> tuple[int, str]:
        box.seq += 1
        self.clock += dt.timedelta(minutes=1)
        return box.seq, iso(self.clock)

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
            base = fake_fields(rng, box, key, received=now, folder=folder_key)
            base.update(fields)
            base["lastModifiedDateTime"] = now
            box.messages[key] = Message(key, immutable_id(box.upn, key), folder_key, base, seq)
            return box.messages[key].immutable_id

    def _find(self, box: Mailbox, message_id: str) -> Message:
        for m in box.messages.values():
            if m.immutable_id == message_id:
                return m
        msg = f"no message {message_id!r} in {box.upn}"
        raise KeyError(msg)

    @contextlib.contextmanager
    def _editing(self, mailbox: str, message_id: str) -> Iterator[tuple[Mailbox, Message, str]]:
        """One edit of a message, one tick: yields (mailbox, message, now); the message then changes at this tick."""
        with self.lock:
            box = self.mailboxes[mailbox.lower()]
            message = self._find(box, message_id)
            seq, now = self._tick(box)
            yield box, message, now
            message.seq = seq

    @staticmethod
    def _leave_folder(box: Mailbox, message: Message) -> None:
        """Delta rounds of the folder the message leaves report it as ``@removed``."""
        if message.folder:
            box.tombstones.append(Tombstone(message.folder, message.key, box.seq))

    def update_message(self, mailbox: str, message_id: str, **changes: t.Any) -> None:
        """Change properties of a message (e.g. ``isRead=True``, ``categories=[...]``)."""
        with self._editing(mailbox, message_id) as (_, message, now):
            message.fields.update(changes)
            message.fields["lastModifiedDateTime"] = now

    def move_message(self, mailbox: str, message_id: str, folder: str) -> None:
        """Move a message: its default id changes, its immutable id does not."""
        with self._editing(mailbox, message_id) as (box, message, now):
            self._leave_folder(box, message)
            message.folder = self._folder_key(box, folder)
            message.fields["lastModifiedDateTime"] = now

    def delete_message(self, mailbox: str, message_id: str) -> None:
        """Hard-delete a message (delta rounds report it as ``@removed``)."""
        with self._editing(mailbox, message_id) as (box, message, _):
            self._leave_folder(box, message)
            message.folder = None

    def deny(self, mailbox: str, denied: bool = True) -> None:
        """Make the mailbox answer 403 ErrorAccessDenied (application permission missing)."""
        with self.lock:
            (self.denied.add if denied else self.denied.discard)(mailbox.lower())

    def message_resource(self, mailbox: str, message_id: str, immutable: bool = True) -> dict[str, t.Any]:
        """The message as a delta response returns it."""
        with self.lock:
            box = self.mailboxes[mailbox.lower()]
            return render_message(box, self._find(box, message_id), immutable=immutable)

    def messages(self, mailbox: str, folders: Iterable[str] | None = None) -> list[dict[str, t.Any]]:
        """Every message currently in the mailbox (optionally only these folders), as Graph renders them."""
        with self.lock:
            box = self.mailboxes[mailbox.lower()]
            keys = None if folders is None else {self._folder_key(box, f) for f in folders}
            return [
                render_message(box, m, immutable=True)
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

    def add_messages(self, mailbox: str, folder: str, count: int) -> list[str]:
        """Deliver ``count`` messages into one folder (e.g. a folder beyond the 5,000 of a filtered delta)."""
        with self.lock:
            return [self.add_message(mailbox, folder) for _ in range(count)]
