"""Streams: ``form`` (the form definition) and ``form_response`` (incremental by ``lastSubmittedTime``)."""

from __future__ import annotations

import typing as t

from singer_sdk import StreamSchema
from singer_sdk.pagination import SinglePagePaginator
from typing_extensions import override

from tap_google_forms.client import SCHEMAS, GoogleFormsStream, PageTokenRejectedError
from tap_google_forms.timestamps import NANOS, from_nanos, normalise, to_nanos

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context, Record

#: How often one run restarts a listing whose page token the API refused.
MAX_LISTING_RESTARTS = 2
#: Stream state key: when the last complete listing of every response started (fixed-width RFC 3339).
FULL_LISTING_AT = "full_listing_at"


def rfc3339_zulu(value: str) -> str:
    """An ISO 8601 timestamp as the RFC 3339 "Zulu" form the ``filter`` parameter accepts (nine digits)."""
    return normalise(value)


class FormStream(GoogleFormsStream):
    """The form definition (``forms.get``): items, question ids and titles to interpret answers."""

    name = "form"
    path = "/v1/forms/{form_id}"
    primary_keys = ("formId",)
    replication_key = None
    records_jsonpath = "$"
    schema = StreamSchema(SCHEMAS, key="form")

    def get_new_paginator(self) -> SinglePagePaginator:
        return SinglePagePaginator()


class FormResponseStream(GoogleFormsStream):
    """Responses of the form (``forms.responses.list``), as the API returns them.

    Incremental on ``lastSubmittedTime``, with two safety nets because the reference only says
    ``filter=timestamp > N`` selects responses "submitted after" N, not which time it compares:

    * if it compares ``lastSubmittedTime``, an edited response is listed again by the next run;
    * if it compares ``createTime``, an edit of an older response never matches the filter. So the filter
      starts ``filter_overlap_seconds`` before the bookmark (edits soon after submission, the common case,
      come with the next run), and every ``full_listing_every_hours`` a run lists every response (one call
      per 5,000): no edit stays missed longer than that period (plus the time to the next scheduled run).

    The same filter goes with every page of a run (the API requires it with each ``pageToken``). The
    listing order is not documented, so the stream is unsorted: the bookmark moves only when the listing
    completed (an interrupted run starts again from the previous bookmark), never past the run's start.
    """

    name = "form_response"
    path = "/v1/forms/{form_id}/responses"
    primary_keys = ("responseId",)
    replication_key = "lastSubmittedTime"
    is_sorted = False
    records_jsonpath = "$.responses[*]"
    schema = StreamSchema(SCHEMAS, key="form_response")

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._filter: str | None = None

    @override
    def get_url_params(self, context: Context | None, next_page_token: str | None) -> dict[str, t.Any]:
        params: dict[str, t.Any] = {"pageSize": self.config["page_size"]}
        if self._filter:
            params["filter"] = self._filter
        if next_page_token:
            params["pageToken"] = next_page_token
        return params

    # -- the bookmark as an instant -------------------------------------------------------------

    @override
    def _increment_stream_state(self, latest_record: Record, *, context: Context | None = None) -> None:
        # singer-sdk keeps the larger *string* (there is no public hook to compare otherwise, sdk#2753):
        # handing it the fixed-width form makes that the newest instant. The record itself is sent unchanged.
        value = latest_record.get(self.replication_key)
        if value:
            latest_record = {**latest_record, self.replication_key: normalise(str(value))}
        super()._increment_stream_state(latest_record, context=context)

    @override
    def get_replication_key_signpost(self, context: Context | None = None) -> str:
        """The run's start, in the bookmark's fixed-width form (the SDK caps the bookmark with it)."""
        return from_nanos(self._initialized_at * 1_000_000)

    @override
    def compare_start_date(self, value: str, start_date_value: str) -> str:
        return max(normalise(value), normalise(start_date_value))

    # -- listing --------------------------------------------------------------------------------

    def _plan(self, context: Context | None) -> tuple[str | None, bool]:
        """The run's filter, and whether this run is a full listing."""
        state = self.get_context_state(context)
        start_date = self.config.get("start_date")
        floor = to_nanos(str(start_date)) if start_date else None
        period = float(self.config["full_listing_every_hours"]) * 3600 * NANOS
        last_full = state.get(FULL_LISTING_AT)
        now = to_nanos(self.get_replication_key_signpost(context))
        bookmark = state.get("replication_key_value") if state.get("replication_key") == self.replication_key else None
        full = bookmark is None or last_full is None or now - to_nanos(str(last_full)) >= period
        since = floor
        if not full:
            since = to_nanos(str(bookmark)) - int(float(self.config["filter_overlap_seconds"]) * NANOS)
            if floor is not None:
                since = max(since, floor)  # start_date bounds what the connection ingests, overlap included
        return (f"timestamp >= {from_nanos(since)}" if since is not None else None), full

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        self._filter, full = self._plan(context)
        started = self.get_replication_key_signpost(context)
        kind = "full listing" if full else "incremental listing"
        self.logger.info(
            "form_response: %s of %s", kind, f"responses with {self._filter}" if self._filter else "all responses"
        )
        restarts = 0
        count = 0
        while True:
            try:
                for record in self.request_records(context):
                    count += 1
                    yield record
            except PageTokenRejectedError as exc:
                restarts += 1
                if restarts > MAX_LISTING_RESTARTS:
                    raise
                self.logger.warning(
                    "form_response: the API refused a page token (%s); listing again from the first page "
                    "with the same filter (responses already sent may be sent again)",
                    exc,
                )
                continue
            break
        if full:
            # Only a listing that completed counts: an interrupted one is done again by the next run.
            self.get_context_state(context)[FULL_LISTING_AT] = started
        self.logger.info("form_response: %d responses received", count)
