"""The Microsoft Graph base stream: auth, Prefer headers, retries, error messages, provenance."""

from __future__ import annotations

import sys
import typing as t
from functools import cached_property
from http import HTTPStatus
from urllib.parse import quote, urlparse

import requests
from lorchestra_tapkit import ApiUrlMixin, ProvenanceMixin, RetryMixin, json_body
from singer_sdk import RESTStream
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_exchange.auth import graph_authenticator

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Generator

    from lorchestra_tapkit.entra import EntraClientCredentialsAuthenticator
    from singer_sdk.helpers.types import Context

SOURCE_SYSTEM = "exchange"


#: Error codes saying a delta or skip token is no longer valid and the folder must be synced again:
#: ``syncStateNotFound`` and ``resyncRequired`` (Graph's basic codes), ``resyncApplyDifferences`` and
#: ``resyncUploadDifferences`` (its detailed codes, found in ``innererror``). Compared case-insensitively.
RESYNC_CODES = frozenset({"syncstatenotfound", "resyncrequired", "resyncapplydifferences", "resyncuploaddifferences"})
#: "In case of an expired token, the service should respond with a 40X-series error" (delta query
#: overview); the statuses seen with the codes above are 400, 404 and 410.
RESYNC_STATUSES = frozenset({HTTPStatus.BAD_REQUEST, HTTPStatus.NOT_FOUND, HTTPStatus.GONE})


class SyncStateExpiredError(FatalAPIError):
    """The delta or skip token is no longer valid (410 Gone, or a 40X with a resync code at any depth)."""


def error_codes(response: requests.Response) -> list[str]:
    """Every ``code`` of a Graph error body, outermost first, following nested ``innererror`` objects.

    Graph's errors page: "apps should loop through all the error codes available and use the most
    detailed one that they understand". The key is ``innererror`` in the reference and ``innerError``
    on the wire, so both spellings are followed.
    """
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return []
    codes: list[str] = []
    while isinstance(error, dict):  # parsed JSON has no cycles: this ends
        if error.get("code"):
            codes.append(str(error["code"]))
        error = next((v for k, v in error.items() if k.lower() == "innererror"), None)
    return codes


def is_sync_state_expired(response: requests.Response) -> bool:
    """Whether Graph says the folder must be synced again from scratch."""
    if response.status_code not in RESYNC_STATUSES:
        return False
    return response.status_code == HTTPStatus.GONE or any(c.lower() in RESYNC_CODES for c in error_codes(response))


class GraphStream(RetryMixin, ProvenanceMixin, ApiUrlMixin, RESTStream):
    """Base stream for Microsoft Graph ``/users/{mailbox}/...`` resources."""

    source_system = SOURCE_SYSTEM

    #: 429 (throttled) is retried like 5xx; 401 is retried once with a fresh token.
    extra_retry_statuses: t.Sequence[int] = [HTTPStatus.TOO_MANY_REQUESTS]

    @property
    def mailbox_url(self) -> str:
        """``{api_url}/users/{mailbox}``: the configured mailbox (UPN or user id)."""
        return f"{self.url_base}/users/{quote(self.config['mailbox'], safe='@')}"

    @override
    @cached_property
    def authenticator(self) -> EntraClientCredentialsAuthenticator:
        return graph_authenticator(self.config)

    @override
    @property
    def http_headers(self) -> dict:
        headers = dict(super().http_headers)
        # Immutable ids: a message moved to another folder keeps its id (and so its external_id).
        headers["Prefer"] = f'odata.maxpagesize={int(self.config["page_size"])}, IdType="ImmutableId"'
        return headers

    # -- requests ---------------------------------------------------------------------------------

    def get_json(self, url: str, context: Context | None = None) -> dict[str, t.Any]:
        """GET ``url`` (absolute) with auth, Prefer headers, retries and error handling.

        Args:
            url: The URL to fetch, e.g. an ``@odata.nextLink``.
            context: Stream partition context (for metrics).

        Returns:
            The response's JSON body.
        """
        prepared = self.requests_session.prepare_request(requests.Request("GET", url, headers=self.http_headers))
        response = self.request_decorator(self._request)(prepared, context)
        return json_body(response)

    def paged(self, url: str, context: Context | None = None) -> Generator[dict[str, t.Any], None, None]:
        """Every item of a Graph collection, following ``@odata.nextLink``.

        Args:
            url: The collection's first page.
            context: Stream partition context.

        Yields:
            Each item of the collection.
        """
        next_url: str | None = url
        while next_url:
            page = self.get_json(next_url, context)
            yield from page.get("value", [])
            next_url = page.get("@odata.nextLink")

    @override
    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if status == HTTPStatus.UNAUTHORIZED:
            self._unauthorized_in_a_row = getattr(self, "_unauthorized_in_a_row", 0) + 1
            if self._unauthorized_in_a_row > 2:
                msg = (
                    f"{self.response_error_message(response)}. Microsoft Graph rejected freshly issued "
                    "access tokens: check that the app registration belongs to tenant_id and that "
                    "oauth_scope matches api_url's cloud."
                )
                raise FatalAPIError(msg)
            # The token expired or was revoked before its expires_in: fetch a new one and retry.
            self.authenticator.invalidate()
            raise RetriableAPIError(self.response_error_message(response), response)
        self._unauthorized_in_a_row = 0
        if is_sync_state_expired(response):
            raise SyncStateExpiredError(self.response_error_message(response))
        hint = self._what_to_check(status)
        if hint:
            raise FatalAPIError(f"{self.response_error_message(response)}. {hint}")
        super().validate_response(response)
        try:
            json_body(response)
        except ValueError as exc:
            msg = f"Incomplete or invalid JSON from {urlparse(response.url).path} (HTTP {status})"
            raise RetriableAPIError(msg, response) from exc

    def _what_to_check(self, status: int) -> str | None:
        """What the operator must fix when Graph refuses the mailbox (None: not a mailbox problem)."""
        mailbox = self.config["mailbox"]
        hints: dict[int, str] = {
            HTTPStatus.FORBIDDEN: f"The app registration may not read mailbox {mailbox!r}: grant the Mail.Read "
            "application permission with admin consent and check any application access policy scoping the app "
            "to some mailboxes.",
            HTTPStatus.NOT_FOUND: f"Check the mailbox setting ({mailbox!r} must be a user principal name or user id "
            "of tenant tenant_id with an Exchange Online mailbox) and the folders setting.",
        }
        return hints.get(status)

    @override
    def response_error_message(self, response: requests.Response) -> str:
        """``HTTP 404 ErrorInvalidUser: <Graph message> (GET /v1.0/users/...)``, never the query string."""
        try:
            message = response.json().get("error", {}).get("message", "")
        except (ValueError, AttributeError):
            message = ""
        code = "/".join(error_codes(response))  # e.g. "invalidRequest/resyncRequired"
        path = urlparse(response.url).path
        return f"HTTP {response.status_code} {code or response.reason}: {message or 'no message'} (GET {path})"
