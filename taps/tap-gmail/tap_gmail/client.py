"""The base Gmail stream: endpoints, auth, quota pacing, retries and provenance on SCHEMA messages."""

from __future__ import annotations

import json
import threading
import time
import typing as t
from functools import cached_property
from http import HTTPStatus
from urllib.parse import urlsplit

import requests
from lorchestra_tapkit import ApiUrlMixin, ProvenanceMixin, RetryMixin
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.streams import RESTStream
from typing_extensions import override

from tap_gmail.auth import gmail_authenticator

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from lorchestra_tapkit.google import GoogleAuthenticator

SOURCE_SYSTEM = "gmail"
#: Gmail reasons that mean "slow down", sent with 403 as well as 429.
QUOTA_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})


class HistoryExpiredError(FatalAPIError):
    """``users.history.list`` answered 404: the stored historyId is older than Gmail keeps."""


class InvalidPageTokenError(FatalAPIError):
    """A stored ``pageToken`` was rejected (400)."""


def google_error(body: bytes | str) -> tuple[str, str]:
    """``(reason, message)`` of a Google error body; empty strings when it is not one."""
    try:
        error = json.loads(body).get("error", {})
    except (ValueError, AttributeError):
        return "", ""
    if not isinstance(error, dict):
        return "", ""
    details = error.get("errors") or [{}]
    return str(details[0].get("reason", "")), str(error.get("message", ""))


class QuotaPacer:
    """Token bucket over Gmail's per-user quota units (250 units/user/second by default).

    ``messages.get`` and ``messages.list`` cost 5 units, ``history.list`` 2, ``getProfile`` 1; a batch costs
    the sum of its parts. A bucket holds one second of units, so a run never exceeds the configured rate.
    """

    def __init__(
        self,
        units_per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = float(units_per_second)
        self.available = self.rate
        self.clock, self.sleep = clock, sleep
        self.updated = clock()
        self.waited = 0.0
        self._lock = threading.Lock()

    def acquire(self, units: float) -> None:
        with self._lock:
            now = self.clock()
            self.available = min(self.rate, self.available + (now - self.updated) * self.rate)
            self.updated = now
            self.available -= units
            if self.available < 0:
                wait = -self.available / self.rate
                self.waited += wait
                self.sleep(wait)


class GmailStream(RetryMixin, ProvenanceMixin, ApiUrlMixin, RESTStream):
    """Gmail API stream base."""

    source_system = SOURCE_SYSTEM

    #: Records are the API resources as returned: keep unknown nested keys rather than drop them.
    records_jsonpath = "$[*]"

    @cached_property
    @override
    def authenticator(self) -> GoogleAuthenticator:
        return gmail_authenticator(self.config)

    @cached_property
    def quota(self) -> QuotaPacer:
        return QuotaPacer(self.config["quota_units_per_second"])

    @property
    def user_path(self) -> str:
        return f"{self.url_base}/gmail/v1/users/{self._url_encode(self.config['user_id'])}"

    # -- requests -------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        url: str,
        *,
        cost: int,
        params: dict[str, t.Any] | None = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """One API round trip through the SDK's auth, validation and backoff."""
        self.quota.acquire(cost)
        prepared = self.build_prepared_request(
            method=method, url=url, params=params or {}, data=data, headers={**self.http_headers, **(headers or {})}
        )
        response = self._decorated_request(prepared, None)
        self.round_trips += 1
        return response

    round_trips = 0

    @cached_property
    def _decorated_request(self) -> Callable[..., requests.Response]:
        return self.request_decorator(self._request)

    @override
    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        path = urlsplit(response.request.url or "").path
        if status == HTTPStatus.UNAUTHORIZED:
            self.authenticator.invalidate()
            msg = f"401 for {response.request.method} {path}: access token rejected, refreshing"
            raise RetriableAPIError(msg, response)
        if status < HTTPStatus.BAD_REQUEST:
            self._check_complete(response, path)
            return
        reason, message = google_error(response.content)
        described = f"{status} {reason or response.reason}: {message}".rstrip(": ")
        where = f"{response.request.method} {path}"
        if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise RetriableAPIError(f"{described} ({where})", response)
        if status == HTTPStatus.FORBIDDEN and reason in QUOTA_REASONS:
            raise RetriableAPIError(f"{described} ({where})", response)
        if status == HTTPStatus.NOT_FOUND and path.endswith("/history"):
            msg = f"The stored historyId is no longer available ({where} answered 404)"
            raise HistoryExpiredError(msg)
        if status == HTTPStatus.BAD_REQUEST and "pageToken" in (response.request.url or ""):
            raise InvalidPageTokenError(f"{described} ({where})")
        hint = {
            HTTPStatus.FORBIDDEN: "permission denied: check the granted scopes (gmail.readonly), the "
            "service account's domain-wide delegation and that user_id is the authorised mailbox",
            HTTPStatus.NOT_FOUND: "not found: check api_url and user_id",
        }.get(HTTPStatus(status), "request rejected")
        msg = f"Gmail API {hint} ({described}; {where})"
        raise FatalAPIError(msg)

    @staticmethod
    def _check_complete(response: requests.Response, path: str) -> None:
        """A body cut off mid-way (seen as bad JSON or a missing closing delimiter) is retried."""
        content_type = response.headers.get("Content-Type", "")
        body = response.content
        if content_type.startswith("application/json"):
            try:
                json.loads(body)
            except ValueError:
                msg = f"Incomplete JSON body from {path}"
                raise RetriableAPIError(msg, response) from None
        elif content_type.startswith("multipart/"):
            boundary = content_type.split("boundary=", 1)[-1].strip('"')
            if f"--{boundary}--".encode() not in body:
                msg = f"Incomplete multipart body from {path}"
                raise RetriableAPIError(msg, response)

    # -- backoff --------------------------------------------------------------------------------

    def wait_seconds(self, attempt: int) -> float:
        """The family's backoff (``RetryPolicy``) for batch parts retried in a later batch."""
        return self.retry_policy.wait_seconds(attempt)
