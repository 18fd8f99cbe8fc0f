"""Stream ``email``: Graph ``message`` resources, one delta query per mail folder."""

from __future__ import annotations

import datetime as dt
import sys
import typing as t
from functools import cached_property
from urllib.parse import quote, urlencode

from singer_sdk import SchemaDirectory, StreamSchema
from singer_sdk.exceptions import FatalAPIError

from tap_exchange import schemas
from tap_exchange.client import GraphStream, SyncStateExpiredError

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk import singerlib as singer
    from singer_sdk.helpers.types import Context


#: Message properties Graph returns only when ``$select`` names them (message resource reference).
ON_SELECT_ONLY = ("uniqueBody", "internetMessageHeaders")


def _instant(value: str) -> dt.datetime:
    """An RFC 3339 timestamp as an aware instant (a naive one is taken as UTC)."""
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class EmailStream(GraphStream):
    """Every message of the mailbox, including its body, from each mail folder.

    Each folder is a partition (context ``{"folder_id": ...}``) with its own entry in STATE:
    ``next_link`` while a delta round is being paged (an interrupted run resumes there) and
    ``delta_link`` once the round is complete (the next run asks only for changes).
    ``@removed`` entries are counted, never emitted: a deletion upstream never erases a payload.
    """

    name = "email"
    #: For metrics and logs only: requests are built from the mailbox URL and Graph's links.
    path = "/users/{mailbox}/mailFolders/{folder_id}/messages/delta"
    primary_keys = ("id",)
    replication_key = "lastModifiedDateTime"
    is_sorted = False  # delta rounds are not ordered
    schema = StreamSchema(SchemaDirectory(schemas))  # schemas/email.json

    # -- folders (partitions) -------------------------------------------------------------------

    @override
    @property
    def partitions(self) -> list[dict] | None:
        if getattr(self, "_folder_partitions", None) is None:
            self._folder_partitions = [{"folder_id": folder_id} for folder_id in self._folder_ids()]
        return self._folder_partitions

    def _folder_ids(self) -> list[str]:
        """Ids of the folders to sync: the configured ones, else every folder and child folder."""
        configured = self.config.get("folders")
        ids: list[str] = []
        if configured:
            for ref in configured:
                folder = self.get_json(f"{self.mailbox_url}/mailFolders/{quote(ref, safe='=')}?$select=id")
                if folder["id"] not in ids:
                    ids.append(folder["id"])
            return ids
        params = {"$select": "id,childFolderCount"}
        if self.config.get("include_hidden_folders"):
            params["includeHiddenFolders"] = "true"
        query = "?" + urlencode(params, safe="$,")
        pending = list(self.paged(f"{self.mailbox_url}/mailFolders{query}"))
        while pending:
            folder = pending.pop(0)
            if folder["id"] in ids:
                continue
            ids.append(folder["id"])
            if folder.get("childFolderCount"):
                children = f"{self.mailbox_url}/mailFolders/{quote(folder['id'], safe='=')}/childFolders"
                pending[:0] = list(self.paged(children + query))
        self.logger.info("Found %d mail folders to sync.", len(ids))
        return ids

    # -- delta rounds ---------------------------------------------------------------------------

    @override
    @property
    def metadata(self) -> singer.MetadataMapping:
        """Discovered metadata: the properties Graph returns only on ``$select`` are not selected by default."""
        fresh = self._metadata is None and not self._tap_input_catalog
        metadata = super().metadata
        if fresh:
            for name in ON_SELECT_ONLY:
                metadata[("properties", name)].selected_by_default = False
        return metadata

    @cached_property
    def select(self) -> str | None:
        """``$select`` for the delta rounds: None (Graph's default properties) unless the catalog differs.

        With the default selection the tap asks for Graph's default set, so properties Graph adds later
        still reach the record (``additionalProperties``). Otherwise it names the selected properties:
        fewer (e.g. no ``body``), or more (``uniqueBody`` and ``internetMessageHeaders``, which Graph
        returns only when named). ``receivedDateTime`` is always requested: ``start_date`` is applied to it.
        """
        properties = [p for p in self.schema["properties"] if not p.startswith("@")]
        chosen = [p for p in properties if p == "receivedDateTime" or self.mask.get(("properties", p), False)]
        if chosen == [p for p in properties if p not in ON_SELECT_ONLY]:
            return None
        return ",".join(chosen)

    @cached_property
    def start_date(self) -> dt.datetime | None:
        start = self.config.get("start_date")
        return None if not start else _instant(start)

    def _initial_url(self, folder_id: str) -> str:
        # No $filter: "applying $filter in a delta query returns only up to 5,000 messages" (delta query
        # for messages), so a filtered round could silently stop at 5,000. start_date is applied to
        # each message as it arrives instead; $select is carried into the round's later links.
        url = f"{self.mailbox_url}/mailFolders/{quote(folder_id, safe='=')}/messages/delta"
        if self.select:
            url += "?" + urlencode({"$select": self.select}, safe="$,")
        return url

    def _before_start(self, item: dict[str, t.Any]) -> bool:
        """Whether a message was received before ``start_date`` (one without the property is kept)."""
        received = item.get("receivedDateTime")
        return self.start_date is not None and bool(received) and _instant(received) < self.start_date

    def _owned(self, link: str | None) -> bool:
        """Whether a stored link points at the configured api_url (it may have moved since)."""
        return bool(link) and str(link).startswith(self.url_base + "/")

    def _first_link(self, folder_id: str, state: dict[str, t.Any]) -> tuple[str, str]:
        """Where this run starts in a folder (its stored link, if still usable) and the kind of sync."""
        for key in ("next_link", "delta_link"):
            if state.get(key) and not self._owned(state[key]):
                self.logger.warning("Stored %s does not match api_url; that folder is synced again.", key)
                state.pop(key)
        if (state.get("next_link") or state.get("delta_link")) and state.get("select") != self.select:
            self.logger.warning("The catalog's property selection changed; folder …%s is synced again.", folder_id[-8:])
            state.pop("next_link", None)
            state.pop("delta_link", None)
        if (state.get("next_link") or state.get("delta_link")) and self.start_date and not state.get("no_filter"):
            # Links stored before this version were opened with $filter=receivedDateTime ge start_date,
            # which Graph caps at 5,000 messages: the folder is read again so nothing stays missing.
            self.logger.warning("Folder …%s was synced with a capped $filter; it is synced again.", folder_id[-8:])
            state.pop("next_link", None)
            state.pop("delta_link", None)
        state["no_filter"] = True  # this folder's links are opened without $filter
        state.pop("select", None)
        if self.select:
            state["select"] = self.select  # the links carry it: a new selection needs new links
        url = state.get("next_link") or state.get("delta_link") or self._initial_url(folder_id)
        mode = "resumed" if state.get("next_link") else "changes" if state.get("delta_link") else "full"
        return url, mode

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        if not context:
            msg = "the email stream is always synced per folder"
            raise FatalAPIError(msg)
        folder_id = context["folder_id"]
        state = self.get_context_state(context)
        url, mode = self._first_link(folder_id, state)
        emitted = removed = skipped = resets = 0
        while True:
            try:
                page = self.get_json(url, context)
            except SyncStateExpiredError as exc:
                resets += 1
                if resets > 1:
                    raise
                # The stored link is dropped, so a failing full round cannot leave it in STATE either.
                self.logger.warning(
                    "Delta state of folder …%s is no longer valid (%s); starting a full sync of it.",
                    folder_id[-8:],
                    str(exc).split(": ", 1)[0],
                )
                state.pop("next_link", None)
                state.pop("delta_link", None)
                self._flush_state()
                url, mode = self._initial_url(folder_id), "full (reset)"
                continue
            for item in page.get("value", []):
                if "@removed" in item:
                    removed += 1
                    continue
                if self._before_start(item):
                    skipped += 1
                    continue
                emitted += 1
                yield item
            # Reached only after every record of the page was emitted: the link can be saved.
            if next_link := page.get("@odata.nextLink"):
                state["next_link"] = url = next_link
                self._flush_state()
                continue
            delta_link = page.get("@odata.deltaLink")
            if not delta_link:
                msg = "Graph delta page has neither @odata.nextLink nor @odata.deltaLink"
                raise FatalAPIError(msg)
            state.pop("next_link", None)
            state["delta_link"] = delta_link
            self._flush_state()
            break
        self.logger.info(
            "Folder …%s (%s sync): %d messages emitted, %d removals seen and not emitted, "
            "%d received before start_date skipped.",
            folder_id[-8:],
            mode,
            emitted,
            removed,
            skipped,
        )

    @override
    def _process_record(
        self,
        record: dict[str, t.Any],
        child_context: Context | None = None,
        partition_context: Context | None = None,
    ) -> None:
        """Keep records exactly as Graph returned them: the SDK would add ``folder_id`` to each."""
        super()._process_record(record, child_context=child_context, partition_context=None)

    def _flush_state(self) -> None:
        """Emit a STATE message now (the partition's links changed)."""
        self.state_manager.is_flushed = False
        self._write_state_message()
