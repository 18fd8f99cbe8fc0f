"""The Dataverse Web API base stream: metadata-driven schema, OData paging, limits and checkpoints."""

from __future__ import annotations

import datetime as dt
import logging
import time
import typing as t
from http import HTTPStatus

from lorchestra_tapkit import ProvenanceMixin, RetryMixin, json_body
from singer_sdk import RESTStream
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.pagination import BaseHATEOASPaginator
from singer_sdk.streams.rest import HTTPRequest
from typing_extensions import override

from tap_dataverse.schema import schema_from_attributes

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    import requests
    from lorchestra_tapkit.entra import EntraClientCredentialsAuthenticator
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context
    from singer_sdk.singerlib import Catalog
    from singer_sdk.streams.rest import PageContext

    from tap_dataverse.tap import TapDataverse

SOURCE_SYSTEM = "dataverse"
FORMATTED_VALUE = "OData.Community.Display.V1.FormattedValue"
#: Service protection: slow down when fewer requests / seconds than this remain in the 5-minute window.
MIN_BURST_REMAINING = 20
MIN_TIME_REMAINING = 30.0


class NextLinkPaginator(BaseHATEOASPaginator):
    """Follows ``@odata.nextLink`` (its ``$skiptoken`` carries Dataverse's paging cookie)."""

    @override
    def get_next_url(self, response: requests.Response) -> str | None:
        return json_body(response).get("@odata.nextLink")


class ServiceProtection:
    """Respect ``x-ms-ratelimit-*-xrm-requests``: pause before the window runs out, not after.

    The limits count per user across every request of the run, so one instance is shared by all streams.
    """

    def __init__(self, pause_seconds: float) -> None:
        self.pause_seconds = pause_seconds
        self._pause_until = 0.0

    def observe(self, headers: t.Mapping[str, str], logger: logging.Logger) -> None:
        burst = headers.get("x-ms-ratelimit-burst-remaining-xrm-requests")
        seconds = headers.get("x-ms-ratelimit-time-remaining-xrm-requests")
        try:
            low = (burst is not None and float(burst) <= MIN_BURST_REMAINING) or (
                seconds is not None and float(seconds) <= MIN_TIME_REMAINING
            )
        except ValueError:  # informational headers: a malformed one is ignored
            return
        if low:
            logger.warning(
                "Dataverse service protection nearly reached (%s requests, %s s of execution time left "
                "in the window): pausing %.1f s",
                burst,
                seconds,
                self.pause_seconds,
            )
            self._pause_until = time.monotonic() + self.pause_seconds

    def wait(self) -> None:
        delay = self._pause_until - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class DataverseStream(RetryMixin, ProvenanceMixin, RESTStream[t.Any]):
    """One Dataverse table (entity set), synced incrementally on ``modifiedon``.

    The primary key and the schema come from the table's metadata, fetched on first use (or taken
    from the input catalog when one is given). Only the selected columns are requested (``$select``).
    Rows are requested in ``modifiedon`` order, then primary id (a unique, deterministic order), so the
    bookmark only moves forward, and STATE is written after each completed page: a run that stops
    resumes from its last page with ``modifiedon ge {bookmark}`` (rows sharing the bookmark's second
    are read again: at least once, never a gap).
    """

    #: Each table's stream name, set by its class (the tap reads it before making the stream).
    name: str
    #: The entity set read when the ``entity_sets`` setting does not name one.
    default_entity_set: t.ClassVar[str | None] = None

    source_system = SOURCE_SYSTEM
    replication_key = "modifiedon"
    is_sorted = True
    records_jsonpath = "$.value[*]"

    def __init__(self, tap: Tap, entity_set: str) -> None:
        self.entity_set = entity_set
        super().__init__(tap=tap)
        self.path = f"/{entity_set}"

    @property
    def dataverse_tap(self) -> TapDataverse:
        """The tap that made this stream (it holds what the streams share)."""
        return t.cast("TapDataverse", self._tap)

    # -- where and how ---------------------------------------------------------------------------

    @property
    @override
    def url_base(self) -> str:
        api_url = self.config.get("api_url")
        if api_url:
            return api_url.rstrip("/")
        return f"{self.config['environment_url'].rstrip('/')}/api/data/v9.2"

    @property
    @override
    def authenticator(self) -> EntraClientCredentialsAuthenticator:
        return self.dataverse_tap.dataverse_authenticator

    @property
    @override
    def http_headers(self) -> dict[str, str]:
        page_size = int(self.config.get("page_size") or 5000)
        return {
            "Accept": "application/json",
            "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
            "Prefer": f'odata.include-annotations="{FORMATTED_VALUE}",odata.maxpagesize={page_size}',
        }

    @override
    def get_new_paginator(self) -> NextLinkPaginator:
        return NextLinkPaginator()

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        # modifiedon is not unique: Dataverse's paging guidance says such an order is not deterministic,
        # so pages could overlap or skip rows that share a modifiedon. The primary id makes it unique.
        params: dict[str, t.Any] = {
            "$select": ",".join(self.selected_columns),
            "$orderby": f"modifiedon asc,{self.primary_keys[0]} asc",
        }
        start = self.get_starting_timestamp(context)
        if start is not None:
            start_utc = start.astimezone(dt.UTC) if start.tzinfo else start.replace(tzinfo=dt.UTC)
            params["$filter"] = f"modifiedon ge {start_utc.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        return params

    @property
    def selected_columns(self) -> list[str]:
        """The columns to ``$select``: those of the schema the catalog selects (annotations come with them)."""
        return [
            name for name in self.schema["properties"] if "@" not in name and self.mask.get(("properties", name), True)
        ]

    @override
    def get_http_request(self, *, page: PageContext) -> HTTPRequest:
        """The first page from the query; later pages exactly as ``@odata.nextLink`` says."""
        if page.next_page_token:
            return HTTPRequest(url=page.next_page_token.geturl(), headers=self.http_headers)
        request = super().get_http_request(page=page)
        request.safe_query_chars = "$'(),:"
        return request

    # -- metadata-driven schema and key --------------------------------------------------------

    @property
    @override
    def schema(self) -> dict:
        if self._schema is None:
            self._load_table()
        return t.cast("dict", self._schema)

    # mypy does not see @override on a property that has a setter (the setter is marked too).
    @property  # type: ignore[explicit-override]
    @override
    def primary_keys(self) -> Sequence[str]:
        if self._primary_keys is None:
            self._load_table()
        return self._primary_keys or []

    @primary_keys.setter
    @override
    def primary_keys(self, new_value: Sequence[str]) -> None:
        self._primary_keys = new_value

    @override
    def apply_catalog(self, catalog: Catalog) -> None:
        """Take schema and key from the catalog when it has this stream: no metadata round trips."""
        entry = catalog.get_stream(self.name)
        if entry is not None and self._schema is None:
            self._schema = entry.schema.to_dict()
        super().apply_catalog(catalog)

    def _load_table(self) -> None:
        """``EntityDefinitions`` by entity set name, the table's ``Attributes`` and its DateTime columns' behaviour."""
        found = self._get_json(
            "/EntityDefinitions",
            {
                "$select": "LogicalName,EntitySetName,PrimaryIdAttribute",
                "$filter": "EntitySetName eq '{}'".format(self.entity_set.replace("'", "''")),
            },
        ).get("value", [])
        if not found:
            msg = (
                f"Dataverse has no table whose entity set is '{self.entity_set}' (stream '{self.name}'): "
                f"check the entity_sets.{self.name} setting (the plural entity set name, e.g. 'contacts')"
            )
            raise FatalAPIError(msg)
        table = found[0]
        logical = table["LogicalName"]
        attributes = self._get_json(
            f"/EntityDefinitions(LogicalName='{logical}')/Attributes",
            {"$select": "LogicalName,AttributeType,AttributeTypeName,AttributeOf,IsValidForRead"},
        )["value"]
        date_times = {
            a["LogicalName"]: a
            for a in self._get_json(
                f"/EntityDefinitions(LogicalName='{logical}')/Attributes/Microsoft.Dynamics.CRM.DateTimeAttributeMetadata",
                {"$select": "LogicalName,Format,DateTimeBehavior"},
            )["value"]
        }
        self._schema = schema_from_attributes(attributes, date_times=date_times)
        self._primary_keys = [table["PrimaryIdAttribute"]]
        if self.replication_key not in self._schema["properties"]:
            msg = f"Table '{logical}' has no modifiedon column: it cannot be synced incrementally"
            raise FatalAPIError(msg)

    def _get_json(self, path: str, params: dict[str, t.Any]) -> dict[str, t.Any]:
        """A GET with the stream's auth, retries and error handling."""
        prepared = self.build_prepared_request(
            method="GET",
            url=self.url_base + path,
            params=HTTPRequest(url="", params=params, safe_query_chars="$'(),:").encode_params(),
            headers=self.http_headers,
        )
        response = self.request_decorator(self._request)(prepared, None)
        return json_body(response)

    # -- records and checkpoints -----------------------------------------------------------------

    @override
    def parse_response(self, response: requests.Response) -> Iterator[dict[str, t.Any]]:
        yield from json_body(response).get("value", [])
        # Every record of this page has now been written and counted into the bookmark.
        self._write_state_message()

    # -- errors, retries and service protection --------------------------------------------------

    @property
    def service_protection(self) -> ServiceProtection:
        return self.dataverse_tap.service_protection

    @override
    def _request(self, prepared_request: requests.PreparedRequest, context: Context | None) -> requests.Response:
        self.service_protection.wait()
        return super()._request(prepared_request, context)

    @override
    def validate_response(self, response: requests.Response) -> None:
        self._observe_limits(response)
        status = response.status_code
        if status == HTTPStatus.UNAUTHORIZED:
            self.authenticator.invalidate()
            msg = (
                "Dataverse rejected the access token (HTTP 401); a new token is requested for the retry. "
                f"If this persists, app {self.config['client_id']} may have no application user in "
                f"{self.config['environment_url']}"
            )
            raise RetriableAPIError(msg, response)
        if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise RetriableAPIError(self.response_error_message(response), response)
        if status >= HTTPStatus.BAD_REQUEST:
            raise FatalAPIError(self.response_error_message(response))
        try:
            json_body(response)
        except ValueError:
            msg = f"Dataverse sent an incomplete or non-JSON body for '{self.entity_set}' (HTTP {status})"
            raise RetriableAPIError(msg, response) from None

    @override
    def response_error_message(self, response: requests.Response) -> str:
        """Dataverse's error code and message, with what to do; never the URL's query or headers."""
        try:
            error = response.json().get("error", {})
        except ValueError:
            error = {}
        code, message = error.get("code", "-"), error.get("message", response.reason)
        status = response.status_code
        what = f"HTTP {status} from Dataverse reading '{self.entity_set}' (stream '{self.name}'): {code} {message}"
        if status == HTTPStatus.FORBIDDEN:
            return (
                f"{what} -> the application user lacks a privilege: give its security role "
                f"Organization-level Read on this table"
            )
        if status == HTTPStatus.NOT_FOUND:
            return f"{what} -> check the entity_sets.{self.name} setting and environment_url"
        return what

    def _observe_limits(self, response: requests.Response) -> None:
        self.service_protection.observe(response.headers, self.logger)
