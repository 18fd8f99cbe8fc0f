"""Google credentials (service account or OAuth user refresh token) as a singer-sdk authenticator."""

from __future__ import annotations

import json
import threading
import typing as t

import google.auth.exceptions
import requests
from google.auth.transport.requests import Request as GoogleAuthRequest
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from singer_sdk.authenticators import APIAuthenticatorBase
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    from google.auth.credentials import Credentials

#: Read-only scopes: the form body (questions) and its responses.
SCOPES = (
    "https://www.googleapis.com/auth/forms.body.readonly",
    "https://www.googleapis.com/auth/forms.responses.readonly",
)

#: How many 401 answers in a row are retried (each after a forced token refresh).
MAX_CONSECUTIVE_UNAUTHORIZED = 2


class AuthenticationError(FatalAPIError):
    """The token endpoint refused the configured credentials (never retried)."""


def build_credentials(config: Mapping[str, t.Any]) -> Credentials:
    """google-auth credentials from the tap config: ``service_account`` or ``oauth_credentials``.

    Raises:
        ConfigValidationError: neither or both kinds are configured, or the key JSON is unusable.
    """
    token_uri = config["token_uri"]
    service = config.get("service_account") or {}
    oauth = config.get("oauth_credentials") or {}
    if bool(service.get("key_json")) == bool(oauth.get("refresh_token")):
        msg = (
            "Configure exactly one credential: service_account.key_json (a service account JSON key) "
            "or oauth_credentials (client_id, client_secret, refresh_token)."
        )
        raise ConfigValidationError(msg, errors=[msg])
    if service:
        try:
            info = json.loads(service["key_json"])
            creds = service_account.Credentials.from_service_account_info(
                info, scopes=list(SCOPES), subject=service.get("subject") or None
            )
        except (ValueError, KeyError, TypeError) as exc:
            # The message never includes the key: only what kind of problem it has.
            msg = f"service_account.key_json is not a usable service account key ({type(exc).__name__})."
            raise ConfigValidationError(msg, errors=[msg]) from None
        return creds.with_token_uri(token_uri)
    missing = [k for k in ("client_id", "client_secret", "refresh_token") if not oauth.get(k)]
    if missing:
        msg = f"oauth_credentials is missing: {', '.join(missing)}."
        raise ConfigValidationError(msg, errors=[msg])
    # No scopes are sent with the refresh: the token keeps the scopes the user consented to.
    return user_credentials.Credentials(
        token=None,
        refresh_token=oauth["refresh_token"],
        client_id=oauth["client_id"],
        client_secret=oauth["client_secret"],
        token_uri=token_uri,
    )


class GoogleAuthenticator(APIAuthenticatorBase):
    """Adds ``Authorization: Bearer`` from google-auth credentials, refreshing them when needed.

    A token is refreshed when google-auth considers it expired, and also when the API answered 401
    (``note_unauthorized``): the stream then retries the same request, so no page is skipped or repeated.
    """

    def __init__(self, config: Mapping[str, t.Any], connection_name: str) -> None:
        super().__init__()
        self._config = dict(config)
        self._connection_name = connection_name
        self._credentials: Credentials | None = None
        self._session = requests.Session()
        self._force_refresh = False
        self._unauthorized_in_a_row = 0
        self._lock = threading.Lock()
        self.refreshes = 0

    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        with self._lock:
            if self._credentials is None:
                self._credentials = build_credentials(self._config)
            if self._force_refresh or not self._credentials.valid:
                self._refresh(self._credentials)
            request.headers["Authorization"] = f"Bearer {self._credentials.token}"
        return request

    def note_unauthorized(self) -> bool:
        """The API answered 401: refresh before the next request. False once that keeps failing."""
        with self._lock:
            self._force_refresh = True
            self._unauthorized_in_a_row += 1
            return self._unauthorized_in_a_row <= MAX_CONSECUTIVE_UNAUTHORIZED

    def note_authorized(self) -> None:
        with self._lock:
            self._unauthorized_in_a_row = 0

    def _refresh(self, creds: Credentials) -> None:
        token_uri = self._config["token_uri"]
        try:
            creds.refresh(GoogleAuthRequest(self._session))
        except google.auth.exceptions.RefreshError as exc:
            # Google's error code and description only (e.g. "invalid_grant: Token has been expired or
            # revoked."); google-auth never puts the request body (the secrets) in the exception.
            detail = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
            reason = (
                ": ".join(str(detail[k]) for k in ("error", "error_description") if detail.get(k)) or type(exc).__name__
            )
            msg = (
                f"Google refused the credentials of connection '{self._connection_name}' at {token_uri} "
                f"({reason}). Check the refresh token / OAuth client or the service account key."
            )
            raise AuthenticationError(msg) from None
        except google.auth.exceptions.TransportError as exc:
            msg = f"Could not reach the token endpoint {token_uri}: {type(exc).__name__}."
            raise AuthenticationError(msg) from None
        self._force_refresh = False
        self.refreshes += 1
