"""The ``email`` stream: Gmail ``users.messages`` resources, incremental by mailbox historyId."""

from __future__ import annotations

import typing as t
from datetime import datetime

from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from typing_extensions import override

from tap_gmail.auth import GoogleAuthError
from tap_gmail.batch import BatchItem, build_batch, parse_batch_response
from tap_gmail.client import QUOTA_REASONS, GmailStream, HistoryExpiredError, InvalidPageTokenError, google_error

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context

#: Quota units (https://developers.google.com/gmail/api/reference/quota).
COST_GET, COST_LIST, COST_HISTORY, COST_PROFILE = 5, 5, 2, 1
HISTORY_TYPES = ("messageAdded", "messageDeleted", "labelAdded", "labelRemoved")


def _message_part(depth: int) -> th.ObjectType:
    """``MessagePart``: recursive in the API, declared a few levels deep, then free-form."""
    properties = [
        th.Property("partId", th.StringType),
        th.Property("mimeType", th.StringType),
        th.Property("filename", th.StringType),
        th.Property(
            "headers",
            th.ArrayType(th.ObjectType(th.Property("name", th.StringType), th.Property("value", th.StringType))),
        ),
        th.Property(
            "body",
            th.ObjectType(
                th.Property("attachmentId", th.StringType),
                th.Property("size", th.IntegerType),
                th.Property("data", th.StringType),
            ),
        ),
    ]
    child = _message_part(depth - 1) if depth > 1 else th.ObjectType(additional_properties=True)
    return th.ObjectType(*properties, th.Property("parts", th.ArrayType(child)), additional_properties=True)


MESSAGE_SCHEMA = th.PropertiesList(
    th.Property("id", th.StringType, required=True, description="The immutable ID of the message."),
    th.Property("threadId", th.StringType),
    th.Property("labelIds", th.ArrayType(th.StringType)),
    th.Property("snippet", th.StringType),
    th.Property("historyId", th.StringType, description="The ID of the last history record that modified it."),
    th.Property("internalDate", th.StringType, description="Internal creation timestamp, epoch ms (int64)."),
    th.Property("payload", _message_part(4)),
    th.Property("sizeEstimate", th.IntegerType),
    th.Property("raw", th.StringType, description="The RFC 2822 message, base64url (format=raw)."),
    th.Property(
        "classificationLabelValues",
        th.ArrayType(th.ObjectType(additional_properties=True)),
        description="Classification labels of the message (Workspace).",
    ),
).to_dict()


def _free_form_has_properties(schema: dict) -> dict:
    """The SDK conforms nested objects through ``properties``: give free-form objects an empty map."""
    if schema.get("type") in ("object", ["object", "null"]) or "object" in schema.get("type", []):
        schema.setdefault("properties", {})
        for sub in schema["properties"].values():
            _free_form_has_properties(sub)
    if isinstance(schema.get("items"), dict):
        _free_form_has_properties(schema["items"])
    return schema


_free_form_has_properties(MESSAGE_SCHEMA)


class EmailStream(GmailStream):
    """Gmail messages (``users.messages.get``), one record per message id."""

    name = "email"
    path = "/gmail/v1/users/{user_id}/messages"
    primary_keys = ("id",)
    schema = MESSAGE_SCHEMA

    # -- configuration helpers --------------------------------------------------------------------

    @property
    def _list_filters(self) -> dict[str, t.Any]:
        params: dict[str, t.Any] = {"includeSpamTrash": str(bool(self.config["include_spam_trash"])).lower()}
        if self.config.get("q"):
            params["q"] = self.config["q"]
        if self.config.get("label_ids"):
            params["labelIds"] = list(self.config["label_ids"])
        return params

    def _backfill_query(self) -> dict[str, t.Any]:
        params = self._list_filters
        start = self.config.get("start_date")
        if start:
            seconds = int(datetime.fromisoformat(str(start).replace("Z", "+00:00")).timestamp())
            params["q"] = f"{params.get('q', '')} after:{seconds}".strip()
        return params

    def _get_params(self) -> dict[str, t.Any]:
        params: dict[str, t.Any] = {"format": self.config["message_format"]}
        if self.config["message_format"] == "metadata" and self.config.get("metadata_headers"):
            params["metadataHeaders"] = list(self.config["metadata_headers"])
        return params

    # -- sync ---------------------------------------------------------------------------------------

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        state = self.get_context_state(context)
        bookmark = state.get("history_id")
        if bookmark and "backfill" not in state:
            try:
                yield from self._sync_history(state, str(bookmark))
            except HistoryExpiredError:
                self.logger.warning(
                    "historyId %s has expired upstream (history.list answered 404): falling back to a full "
                    "re-list of the mailbox; stored messages are re-emitted (at-least-once)",
                    bookmark,
                )
                state.pop("history_id", None)
            else:
                return
        yield from self._backfill(state)

    def _profile(self) -> dict[str, t.Any]:
        return self.call("GET", f"{self.user_path}/profile", cost=COST_PROFILE).json()

    def _backfill(self, state: dict) -> Iterator[dict[str, t.Any]]:
        """List every matching message id and fetch them in batches; resumable by page."""
        query = self._backfill_query()
        progress = state.get("backfill")
        if not progress or progress.get("query") != query:
            # Changes after this point are read from history on the next run: nothing falls in between.
            progress = {"history_id": str(self._profile()["historyId"]), "query": query, "page_token": None}
            state["backfill"] = progress
            self._checkpoint()
        else:
            self.logger.info("Resuming an interrupted backfill")
        while True:
            params = {**query, "maxResults": self.config["page_size"]}
            if progress.get("page_token"):
                params["pageToken"] = progress["page_token"]
            try:
                page = self.call("GET", f"{self.user_path}/messages", params=params, cost=COST_LIST).json()
            except InvalidPageTokenError:
                self.logger.warning("The stored page token was rejected; restarting the listing from the top")
                progress["page_token"] = None
                continue
            ids = [m["id"] for m in page.get("messages", [])]
            yield from self._fetch(ids)
            next_token = page.get("nextPageToken")
            if not next_token:
                break
            progress["page_token"] = next_token
            self._checkpoint()
        state["history_id"] = progress["history_id"]
        state.pop("backfill", None)

    def _sync_history(self, state: dict, start: str) -> Iterator[dict[str, t.Any]]:
        """Re-fetch every message added or relabelled since ``start``; deletions are only counted."""
        params: dict[str, t.Any] = {
            "startHistoryId": start,
            "maxResults": self.config["page_size"],
            "historyTypes": list(HISTORY_TYPES),
        }
        deleted = filtered = 0
        allowed: set[str] | None = None
        while True:
            page = self.call("GET", f"{self.user_path}/history", params=params, cost=COST_HISTORY).json()
            changed: dict[str, None] = {}
            for record in page.get("history", []):
                for key in ("messagesAdded", "labelsAdded", "labelsRemoved"):
                    for entry in record.get(key, []):
                        changed[entry["message"]["id"]] = None
                for entry in record.get("messagesDeleted", []):
                    changed.pop(entry["message"]["id"], None)
                    deleted += 1
            ids = list(changed)
            if self.config.get("q") and ids and (allowed is None or not allowed.issuperset(ids)):
                # Gmail's q cannot be evaluated client-side: list what matches now (after this page was read,
                # so messages added since the last listing are included).
                allowed = self._ids_matching_query()
            if allowed is not None:
                filtered += sum(1 for i in ids if i not in allowed)
                ids = [i for i in ids if i in allowed]
            for record in self._fetch(ids):
                if self._passes_filters(record):
                    yield record
                else:
                    filtered += 1
            history = page.get("history", [])
            if not page.get("nextPageToken"):
                state["history_id"] = str(page["historyId"])
                break
            if history:  # this page is done: a later run may resume after its last record
                state["history_id"] = str(history[-1]["id"])
                self._checkpoint()
            params["pageToken"] = page["nextPageToken"]
        if deleted:
            self.logger.info("%d messages were deleted upstream; stored payloads are kept", deleted)
        if filtered:
            self.logger.info("%d changed messages no longer match the configured filters; not emitted", filtered)

    def _ids_matching_query(self) -> set[str]:
        ids: set[str] = set()
        params: dict[str, t.Any] = {**self._list_filters, "maxResults": self.config["page_size"]}
        while True:
            page = self.call("GET", f"{self.user_path}/messages", params=params, cost=COST_LIST).json()
            ids.update(m["id"] for m in page.get("messages", []))
            if not page.get("nextPageToken"):
                return ids
            params["pageToken"] = page["nextPageToken"]

    def _passes_filters(self, record: dict[str, t.Any]) -> bool:
        labels = set(record.get("labelIds") or [])
        if not self.config["include_spam_trash"] and labels & {"SPAM", "TRASH"}:
            return False
        return set(self.config.get("label_ids") or []) <= labels

    def _checkpoint(self) -> None:
        """Emit STATE now: every record yielded before this call has already been written."""
        self.state_manager.is_flushed = False
        self._write_state_message()

    # -- batched fetch ------------------------------------------------------------------------------

    def _fetch(self, ids: list[str]) -> Iterator[dict[str, t.Any]]:
        """``messages.get`` for ``ids`` through the batch endpoint: one round trip per ``batch_size`` ids.

        Parts are matched to requests by Content-ID (``parse_batch_response``). Parts answered 429/403-quota/5xx
        are retried in a later batch after a backoff; parts answered 401 (the access token ran out while the
        batch was worked through) are re-sent at once with a refreshed token, as googleapiclient's
        BatchHttpRequest does, and fail the run if they are refused again; a part answered 404 is a message
        deleted since it was listed (counted, not emitted).
        """
        size = int(self.config["batch_size"])
        gone = 0
        for start in range(0, len(ids), size):
            pending = ids[start : start + size]
            attempt = 0
            refreshed_for: set[str] = set()  # ids re-sent after a refresh for their 401
            while pending:
                results = self._send_batch(pending)
                retry: list[str] = []
                unauthorized: list[str] = []
                for message_id, item in zip(pending, results, strict=True):
                    if item.status == 200:
                        yield item.json()
                        continue
                    reason, message = google_error(item.body)
                    if item.status == 404:
                        gone += 1
                    elif item.status == 401:
                        unauthorized.append(message_id)
                    elif item.status in (429, 500, 502, 503, 504) or (item.status == 403 and reason in QUOTA_REASONS):
                        retry.append(message_id)
                    else:
                        msg = f"messages.get failed in a batch: {item.status} {reason}: {message}"
                        raise FatalAPIError(msg)
                if unauthorized:
                    if refreshed_for.intersection(unauthorized):
                        msg = (
                            f"The Gmail API rejected a freshly refreshed access token for {len(unauthorized)} "
                            "batch parts (401): check that the token's grant still covers gmail.readonly"
                        )
                        raise GoogleAuthError(msg)
                    self.logger.info(
                        "%d batch parts answered 401: refreshing the token, re-sending them", len(unauthorized)
                    )
                    self.authenticator.invalidate()
                    refreshed_for.update(unauthorized)
                if retry:
                    attempt += 1
                    if attempt >= self.retry_policy.max_attempts:
                        msg = f"{len(retry)} messages still throttled after {attempt - 1} retries"
                        raise RetriableAPIError(msg)
                    wait = self.wait_seconds(attempt)
                    self.logger.warning("%d batch parts throttled; retrying them in %.2fs", len(retry), wait)
                    self.quota.sleep(wait)
                pending = unauthorized + retry
        if gone:
            self.logger.info("%d listed messages were deleted before they could be fetched", gone)

    def _send_batch(self, ids: list[str]) -> list[BatchItem]:
        params = self._get_params()
        base = urlsplit_path(self.user_path)
        body, content_type = build_batch([(f"{base}/messages/{mid}", params) for mid in ids])
        response = self.call(
            "POST",
            self.config["batch_url"],
            data=body,
            headers={"Content-Type": content_type},
            cost=COST_GET * len(ids),
        )
        items = parse_batch_response(response)
        if len(items) != len(ids):
            msg = f"Batch answered {len(items)} parts for {len(ids)} requests"
            raise FatalAPIError(msg)
        return items


def urlsplit_path(url: str) -> str:
    """The path of ``url`` (batch parts carry paths, not absolute URLs)."""
    from urllib.parse import urlsplit

    return urlsplit(url).path
