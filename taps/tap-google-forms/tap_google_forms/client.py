"""The base stream of tap-google-forms: auth, retries, Google error handling and the provenance keyword."""

from __future__ import annotations

import decimal
import email.utils
import random
import time
import typing as t
from http import HTTPStatus
from importlib import resources

from singer_sdk import RESTStream, SchemaDirectory
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers.jsonpath import extract_jsonpath
from singer_sdk.pagination import JSONPathPaginator
from singer_sdk.singerlib import SchemaMessage, SelectionMask

if t.TYPE_CHECKING:
    from collections.abc import Generator, Iterator

    import requests
    from backoff.types import Details

    from tap_google_forms.auth import GoogleAuthenticator

SOURCE_SYSTEM = "google_forms"
SCHEMAS = SchemaDirectory(resources.files("tap_google_forms") / "schemas")
_BODY = "_google_forms_body"


def _body(response: requests.Response) -> dict[str, t.Any]:
    """The response's JSON, parsed once (in ``validate_response``) for the checks, records and paging.

    Numbers are decimals, as in singer-sdk's own ``parse_response``.
    """
    body = getattr(response, _BODY, None)
    if body is None:
        body = response.json(parse_float=decimal.Decimal)
        setattr(response, _BODY, body)
    return body


class PageTokenRejectedError(FatalAPIError):
    """The API refused a ``pageToken`` (expired, or issued for another filter): restart the listing."""


class NextPageTokenPaginator(JSONPathPaginator):
    """Google's ``nextPageToken``; keeps going through an empty page that still carries a token."""

    def __init__(self) -> None:
        super().__init__("$.nextPageToken")

    def get_next(self, response: requests.Response) -> str | None:
        # The cached body: the SDK's get_next would decode the whole page again for one token.
        return _body(response).get("nextPageToken")

    def continue_if_empty(self, response: requests.Response) -> bool:
        return bool(self.get_next(response))


class _MemoSelectionMask(SelectionMask):
    """A selection mask that keeps what it inherits for a breadcrumb not in the catalog.

    singer-sdk's mask walks up to the nearest catalogued ancestor on every such lookup and keeps nothing:
    with ``answers`` keyed by question id, that is a walk per answer field of every record.
    """

    def __missing__(self, breadcrumb: tuple[str, ...]) -> bool:
        selected = super().__missing__(breadcrumb)
        self[breadcrumb] = selected
        return selected


def _google_error(response: requests.Response) -> str:
    """``403 PERMISSION_DENIED: The caller does not have permission`` from Google's error body."""
    try:
        error = response.json()["error"]
        status, message = error.get("status", ""), error.get("message", "")
    except (ValueError, KeyError, TypeError, AttributeError):
        status, message = response.reason, ""
    text = f"{response.status_code} {status}".strip()
    return f"{text}: {message[:300]}" if message else text


class GoogleFormsStream(RESTStream):
    """A Google Forms API v1 stream."""

    @property
    def url_base(self) -> str:
        return str(self.config["api_url"]).rstrip("/")

    @property
    def authenticator(self) -> GoogleAuthenticator:
        return self._tap.google_authenticator  # type: ignore[attr-defined]

    @property
    def http_headers(self) -> dict:
        return {"User-Agent": "tap-google-forms/0.1 (lorchestra)", "Accept": "application/json"}

    # -- errors and retries ---------------------------------------------------------------------

    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if status == HTTPStatus.UNAUTHORIZED:
            if self.authenticator.note_unauthorized():
                msg = "401 UNAUTHENTICATED: access token rejected, refreshing it and retrying"
                raise RetriableAPIError(msg, response)
            msg = (
                f"The Forms API keeps rejecting freshly issued access tokens for connection "
                f"'{self.config['connection_name']}' ({_google_error(response)})."
            )
            raise FatalAPIError(msg)
        self.authenticator.note_authorized()
        if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise RetriableAPIError(_google_error(response), response)
        if status == HTTPStatus.FORBIDDEN:
            raise FatalAPIError(self._forbidden_message(response))
        if status == HTTPStatus.NOT_FOUND:
            msg = (
                f"Form '{self.config['form_id']}' was not found ({_google_error(response)}) for connection "
                f"'{self.config['connection_name']}'. Check form_id: it is the id in the form's edit URL "
                "(docs.google.com/forms/d/<form_id>/edit), not the responder link (/forms/d/e/...)."
            )
            raise FatalAPIError(msg)
        if status == HTTPStatus.BAD_REQUEST and "pageToken=" in (response.request.url or ""):
            raise PageTokenRejectedError(_google_error(response))
        if status >= HTTPStatus.BAD_REQUEST:
            msg = f"The Forms API refused the {self.name} request: {_google_error(response)}"
            raise FatalAPIError(msg)
        try:
            _body(response)
        except ValueError:
            # A body cut off in transit: the same request is safe to repeat.
            msg = "response body is not valid JSON (truncated?)"
            raise RetriableAPIError(msg, response) from None

    def _forbidden_message(self, response: requests.Response) -> str:
        detail = _google_error(response)
        if "scope" in detail.lower():
            hint = (
                "The access token lacks the read-only Forms scopes (forms.body.readonly, "
                "forms.responses.readonly): re-consent the OAuth user with them or fix the service account's "
                "scopes."
            )
        else:
            hint = (
                "The account behind the credentials cannot read this form: share the form with the service "
                "account (or the OAuth user), or use an account that owns it."
            )
        return (
            f"Permission denied reading {self.name} of form '{self.config['form_id']}' for connection "
            f"'{self.config['connection_name']}' ({detail}). {hint}"
        )

    def backoff_max_tries(self) -> int:
        return int(self.config["max_tries"])

    def backoff_jitter(self, value: float) -> float:
        return value  # jitter is already in ``_wait_seconds``; a Retry-After is honoured as given

    def backoff_wait_generator(self) -> Generator[float, BaseException, None]:
        def waits() -> Generator[float, BaseException, None]:
            attempt = 0
            exception = yield  # type: ignore[misc]  # primed by backoff with send(None)
            while True:
                attempt += 1
                exception = yield self._wait_seconds(exception, attempt)

        return waits()

    def _wait_seconds(self, exception: BaseException, attempt: int) -> float:
        """Retry-After when the API sends one, else exponential backoff with jitter; both capped."""
        cap = float(self.config["max_backoff_seconds"])
        response = getattr(exception, "response", None)
        if response is not None and response.status_code == HTTPStatus.UNAUTHORIZED:
            return 0.0
        retry_after = response.headers.get("Retry-After") if response is not None else None
        if retry_after:
            seconds = _parse_retry_after(retry_after)
            if seconds is not None:
                return min(seconds, cap)
        base = float(self.config["backoff_base_seconds"]) * 2 ** (attempt - 1)
        return min(cap, base / 2 + random.uniform(0, base / 2))  # noqa: S311 - jitter, not crypto

    def backoff_handler(self, details: Details) -> None:
        exception = details.get("exception")
        response = getattr(exception, "response", None)
        status = response.status_code if response is not None else type(exception).__name__
        self.logger.warning(
            "%s: request failed (%s), retry %d in %.2fs", self.name, status, details["tries"], details["wait"]
        )

    def response_error_message(self, response: requests.Response) -> str:
        return _google_error(response)

    # -- records and selection ------------------------------------------------------------------

    def parse_response(self, response: requests.Response) -> Iterator[dict[str, t.Any]]:
        # From the body validate_response parsed: the SDK's parse_response would decode it again.
        yield from extract_jsonpath(self.records_jsonpath, input=_body(response))

    @property
    def mask(self) -> SelectionMask:
        # The SDK's mask (rebuilt when selection changes), memoising its inherited lookups.
        mask = super().mask
        if not isinstance(mask, _MemoSelectionMask):
            mask = self._mask = _MemoSelectionMask(mask)
        return mask

    # -- provenance -----------------------------------------------------------------------------

    def _generate_schema_messages(self) -> Iterator[SchemaMessage]:
        provenance = {
            "source_system": SOURCE_SYSTEM,
            "connection_name": self.config["connection_name"],
            "schema_ref": self.config.get("schema_ref"),
        }
        for message in super()._generate_schema_messages():
            schema = {**message.schema, "x-lorchestra": provenance}
            yield SchemaMessage(message.stream, schema, message.key_properties, message.bookmark_properties)

    # -- paging ---------------------------------------------------------------------------------

    def get_new_paginator(self) -> NextPageTokenPaginator:
        return NextPageTokenPaginator()


def _parse_retry_after(value: str) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date)."""
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
