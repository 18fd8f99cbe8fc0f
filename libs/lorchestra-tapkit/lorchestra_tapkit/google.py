"""Google credentials (an OAuth user's refresh token, or a service account) with retried token requests.

google-auth builds and signs the token requests; the transport below hands every 429/5xx answer and
network error to the family's ``RetryPolicy`` (Retry-After honoured) instead of google-auth's own
three quick tries, so a token request is retried exactly like an API call.
"""

from __future__ import annotations

import json
import threading
import typing as t
from pathlib import Path

import google.auth.exceptions
import google.auth.transport.requests
import requests
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from singer_sdk.authenticators import APIAuthenticatorBase
from singer_sdk.exceptions import ConfigValidationError, RetriableAPIError
from typing_extensions import override

from lorchestra_tapkit.retry import RetryPolicy, is_retriable_status
from lorchestra_tapkit.tokens import Redactor, TokenRequestError, with_retries

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from google.auth.credentials import Credentials

DEFAULT_TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
#: How many 401 answers in a row are retried, each after a forced token refresh.
MAX_CONSECUTIVE_UNAUTHORIZED = 2


def _config_error(msg: str) -> ConfigValidationError:
    return ConfigValidationError(msg, errors=[msg])


def service_account_key(config: Mapping[str, t.Any]) -> dict[str, t.Any] | None:
    """The service account key from ``service_account_info`` (JSON text) or ``service_account_file``.

    Raises:
        ConfigValidationError: the key is not JSON, or the file cannot be read (never echoing the key).
    """
    info, path = config.get("service_account_info"), config.get("service_account_file")
    if not info and not path:
        return None
    try:
        if info:
            return json.loads(info) if isinstance(info, str) else dict(info)
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError) as exc:
        setting = "service_account_info" if info else "service_account_file"
        msg = f"{setting} is not a usable service account key ({type(exc).__name__})."
        raise _config_error(msg) from None


def build_credentials(
    config: Mapping[str, t.Any],
    *,
    scopes: Sequence[str],
    require_delegated_user: bool = False,
) -> Credentials:
    """google-auth credentials from the family's Google settings, aimed at ``token_url``.

    Exactly one kind: ``refresh_token`` (with ``client_id`` and ``client_secret``), or a service account
    key (``service_account_info`` or ``service_account_file``, optionally impersonating ``delegated_user``).

    Raises:
        ConfigValidationError: no credentials, both kinds, or an incomplete or unusable set.
    """
    token_url = config.get("token_url") or DEFAULT_TOKEN_URL
    key = service_account_key(config)
    oauth_missing = [k for k in ("client_id", "client_secret", "refresh_token") if not config.get(k)]
    if (key is None) == (not config.get("refresh_token")):
        problem = "both are set" if key is not None else f"missing: {', '.join(oauth_missing)}"
        msg = (
            "Configure exactly one credential: refresh_token (with client_id and client_secret) for an OAuth "
            f"user, or service_account_info / service_account_file for a service account ({problem})."
        )
        raise _config_error(msg)
    if key is not None:
        subject = config.get("delegated_user") or None
        if require_delegated_user and not subject:
            msg = "A service account needs delegated_user: the Workspace user to impersonate."
            raise _config_error(msg)
        try:
            creds = service_account.Credentials.from_service_account_info(key, scopes=list(scopes), subject=subject)
        except (ValueError, KeyError, TypeError) as exc:
            msg = f"The service account key is not usable ({type(exc).__name__})."
            raise _config_error(msg) from None
        return creds.with_token_uri(token_url)
    if oauth_missing:
        msg = f"OAuth user credentials are incomplete; missing: {', '.join(oauth_missing)}."
        raise _config_error(msg)
    # No scopes sent with the refresh: the token keeps the scopes the user consented to.
    return user_credentials.Credentials(
        token=None,
        refresh_token=config["refresh_token"],
        client_id=config["client_id"],
        client_secret=config["client_secret"],
        token_uri=token_url,
    )


def secrets_of(config: Mapping[str, t.Any]) -> list[str | None]:
    """The values a Google token request may carry: client secret, refresh token, the key's private key."""
    values: list[str | None] = [config.get("client_secret"), config.get("refresh_token")]
    try:
        key = service_account_key(config) or {}
    except ConfigValidationError:
        key = {}
    info = config.get("service_account_info")
    return [*values, key.get("private_key"), key.get("private_key_id"), info if isinstance(info, str) else None]


class _RetriableTransport(google.auth.transport.requests.Request):
    """google-auth's requests transport that raises on 429/5xx instead of returning the answer.

    google-auth would retry such answers itself, three times and without Retry-After; raising here
    leaves the decision to ``with_retries`` (the family's policy).
    """

    def __init__(self, session: requests.Session, redact: Redactor) -> None:
        super().__init__(session)
        self._redact = redact

    def __call__(self, url: str, method: str = "GET", **kwargs: t.Any) -> t.Any:
        answer = super().__call__(url, method=method, **kwargs)
        if is_retriable_status(answer.status):
            raw = getattr(answer, "_response", None)
            msg = f"Google token endpoint answered HTTP {answer.status}"
            raise RetriableAPIError(msg, raw)
        return answer


class GoogleAuthenticator(APIAuthenticatorBase):
    """``Authorization: Bearer`` from google-auth credentials, refreshed when missing, expired or rejected.

    One instance per tap run. ``invalidate`` (the API answered 401) forces a refresh before the next
    request; ``note_unauthorized`` / ``note_authorized`` count 401s in a row so a tap can give up on
    credentials the API keeps rejecting.
    """

    def __init__(
        self,
        config: Mapping[str, t.Any],
        *,
        scopes: Sequence[str],
        require_delegated_user: bool = False,
        hint: str = "Check the refresh token and OAuth client, or the service account key and its delegation.",
    ) -> None:
        super().__init__()
        self._settings = dict(config)
        self._scopes = tuple(scopes)
        self._require_delegated_user = require_delegated_user
        self._hint = hint
        self._credentials: Credentials | None = None
        self._force_refresh = False
        self._unauthorized_in_a_row = 0
        self._lock = threading.RLock()
        self.token_url = config.get("token_url") or DEFAULT_TOKEN_URL
        self.policy = RetryPolicy.from_config(config)
        self.redact = Redactor(secrets_of(config))
        self._transport = _RetriableTransport(requests.Session(), self.redact)
        self.refreshes = 0

    @property
    def credentials(self) -> Credentials:
        """Built on first use, so discovery needs no credentials."""
        with self._lock:
            if self._credentials is None:
                self._credentials = build_credentials(
                    self._settings, scopes=self._scopes, require_delegated_user=self._require_delegated_user
                )
            return self._credentials

    @override
    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request

    def token(self) -> str:
        """A valid access token, refreshed first when needed."""
        with self._lock:
            creds = self.credentials
            if self._force_refresh or not creds.valid:
                with_retries(self._refresh_once, policy=self.policy, logger=self.logger, what="the token request")
                self._force_refresh = False
                self.refreshes += 1
            return t.cast("str", creds.token)

    def invalidate(self) -> None:
        """Forget the access token (the API answered 401): the next request gets a new one."""
        with self._lock:
            self._force_refresh = True

    def note_unauthorized(self) -> bool:
        """The API answered 401: refresh before the next request. False once that keeps happening."""
        with self._lock:
            self.invalidate()
            self._unauthorized_in_a_row += 1
            return self._unauthorized_in_a_row <= MAX_CONSECUTIVE_UNAUTHORIZED

    def note_authorized(self) -> None:
        with self._lock:
            self._unauthorized_in_a_row = 0

    def _refresh_once(self) -> None:
        try:
            self.credentials.refresh(self._transport)
        except google.auth.exceptions.RefreshError as exc:
            # Google's "error: error_description" (args[0]); the raw body (args[1]) is never repeated.
            detail = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
            reason = ": ".join(str(detail[k]) for k in ("error", "error_description") if detail.get(k))
            reason = reason or (str(exc.args[0]) if exc.args else type(exc).__name__)
            if getattr(exc, "retryable", False):  # e.g. "temporarily_unavailable" (RFC 6749 5.2)
                msg = f"Token endpoint {self.token_url} is temporarily unavailable ({reason})"
                raise RetriableAPIError(self.redact(msg)) from None
            msg = f"Token endpoint {self.token_url} refused to issue an access token ({reason}). {self._hint}"
            raise TokenRequestError(self.redact(msg)) from None
        except google.auth.exceptions.TransportError as exc:
            msg = f"Could not reach the token endpoint {self.token_url} ({type(exc).__name__})"
            raise RetriableAPIError(msg) from None
