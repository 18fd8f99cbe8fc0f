"""The base stream of tap-google-forms: auth, retries, Google error handling and the provenance keyword."""

from __future__ import annotations

import decimal
import typing as t
from http import HTTPStatus
from importlib import resources

from lorchestra_tapkit import ApiUrlMixin, ProvenanceMixin, RetryMixin, json_body
from singer_sdk import RESTStream, SchemaDirectory
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers.jsonpath import extract_jsonpath
from singer_sdk.pagination import JSONPathPaginator
from singer_sdk.singerlib import SelectionMask
from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    import requests
    from lorchestra_tapkit.google import GoogleAuthenticator
    from singer_sdk.pagination import BaseAPIPaginator

    from tap_google_forms.tap import TapGoogleForms

SOURCE_SYSTEM = "google_forms"
SCHEMAS = SchemaDirectory(resources.files("tap_google_forms") / "schemas")


def _body(response: requests.Response) -> dict[str, t.Any]:
    """The parsed-once body; numbers are decimals, as in singer-sdk's own ``parse_response``."""
    return json_body(response, parse_float=decimal.Decimal)


class PageTokenRejectedError(FatalAPIError):
    """The API refused a ``pageToken`` (expired, or issued for another filter): restart the listing."""


class NextPageTokenPaginator(JSONPathPaginator):
    """Google's ``nextPageToken``; keeps going through an empty page that still carries a token."""

    def __init__(self) -> None:
        super().__init__("$.nextPageToken")

    @override
    def get_next(self, response: requests.Response) -> str | None:
        # The cached body: the SDK's get_next would decode the whole page again for one token.
        return _body(response).get("nextPageToken")

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        return bool(self.get_next(response))


class _MemoSelectionMask(SelectionMask):
    """A selection mask that keeps what it inherits for a breadcrumb not in the catalog.

    singer-sdk's mask walks up to the nearest catalogued ancestor on every such lookup and keeps nothing:
    with ``answers`` keyed by question id, that is a walk per answer field of every record.
    """

    @override
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


class GoogleFormsStream(RetryMixin, ProvenanceMixin, ApiUrlMixin, RESTStream):
    """A Google Forms API v1 stream."""

    source_system = SOURCE_SYSTEM

    @override
    @property
    def authenticator(self) -> GoogleAuthenticator:
        # The tap holds the one authenticator its streams share.
        return t.cast("TapGoogleForms", self._tap).google_authenticator

    @override
    @property
    def http_headers(self) -> dict:
        return {"User-Agent": "tap-google-forms/0.1 (lorchestra)", "Accept": "application/json"}

    # -- errors and retries ---------------------------------------------------------------------

    @override
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

    @override
    def response_error_message(self, response: requests.Response) -> str:
        return _google_error(response)

    # -- records and selection ------------------------------------------------------------------

    @override
    def parse_response(self, response: requests.Response) -> Iterator[dict[str, t.Any]]:
        # From the body validate_response parsed: the SDK's parse_response would decode it again.
        yield from extract_jsonpath(self.records_jsonpath, input=_body(response))

    @override
    @property
    def mask(self) -> SelectionMask:
        # The SDK's mask (rebuilt when selection changes), memoising its inherited lookups.
        mask = super().mask
        if not isinstance(mask, _MemoSelectionMask):
            mask = self._mask = _MemoSelectionMask(mask)
        return mask

    # -- paging ---------------------------------------------------------------------------------

    @override
    def get_new_paginator(self) -> BaseAPIPaginator[t.Any]:
        return NextPageTokenPaginator()
