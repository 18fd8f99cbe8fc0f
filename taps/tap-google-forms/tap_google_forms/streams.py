"""Streams: ``form`` (the form definition) and ``form_response`` (incremental by ``lastSubmittedTime``)."""

from __future__ import annotations

import datetime as dt
import re
import typing as t

from singer_sdk import StreamSchema
from singer_sdk.pagination import SinglePagePaginator

from tap_google_forms.client import SCHEMAS, GoogleFormsStream, PageTokenRejectedError

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context

#: How often one run restarts a listing whose page token the API refused.
MAX_LISTING_RESTARTS = 2

_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?$")


def rfc3339_zulu(value: str) -> str:
    """An ISO 8601 timestamp as the RFC 3339 "Zulu" form the ``filter`` parameter requires.

    Keeps every fractional digit (the API has nanosecond precision), so ``timestamp >= bookmark``
    matches the bookmarked response itself and nothing submitted before it.
    """
    match = _ISO.match(value.strip())
    if not match:
        msg = f"not an ISO 8601 timestamp: {value!r}"
        raise ValueError(msg)
    day, clock, fraction, offset = match.groups()
    moment = dt.datetime.fromisoformat(f"{day}T{clock or '00:00:00'}{offset or '+00:00'}".replace("Z", "+00:00"))
    utc = moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{utc}.{fraction[:9]}Z" if fraction else f"{utc}Z"


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

    Incremental on ``lastSubmittedTime``: the run sends ``filter=timestamp >= {bookmark}`` on every page
    (the API requires the same filter with each ``pageToken``). The listing order is not documented, so
    the stream is unsorted: the bookmark moves only when the listing completed (an interrupted run starts
    again from the previous bookmark), and never past the run's start (the SDK signpost).
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

    def get_url_params(self, context: Context | None, next_page_token: str | None) -> dict[str, t.Any]:
        params: dict[str, t.Any] = {"pageSize": self.config["page_size"]}
        if self._filter:
            params["filter"] = self._filter
        if next_page_token:
            params["pageToken"] = next_page_token
        return params

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        start = self.get_starting_replication_key_value(context)
        self._filter = f"timestamp >= {rfc3339_zulu(str(start))}" if start else None
        self.logger.info(
            "form_response: listing %s", f"responses with {self._filter}" if self._filter else "all responses"
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
        self.logger.info("form_response: %d responses received", count)
