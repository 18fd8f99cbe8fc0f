"""Google OAuth for Gmail: a user's refresh token, or a service account with domain-wide delegation."""

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
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    from google.auth.credentials import Credentials

READONLY_SCOPE = "https://www.googleapis.com/auth/gmail.readonly"


class GoogleAuthError(FatalAPIError):
    """The token endpoint refused to issue an access token."""


def build_credentials(config: Mapping[str, t.Any]) -> Credentials:
    """google-auth credentials for the configured mailbox, aimed at the configured token endpoint.

    Raises:
        ConfigValidationError: when neither (or an incomplete) set of credentials is configured.
    """
    token_uri = config["token_url"]
    sa_info = config.get("service_account_info")
    sa_file = config.get("service_account_file")
    if sa_info or sa_file:
        if not config.get("delegated_user"):
            msg = "A service account needs `delegated_user`: the Workspace mailbox to impersonate."
            raise ConfigValidationError(msg, errors=[msg])
        if sa_info:
            info = json.loads(sa_info) if isinstance(sa_info, str) else dict(sa_info)
        else:
            info = json.loads(Path(sa_file).read_text(encoding="utf-8"))
        return service_account.Credentials.from_service_account_info(
            {**info, "token_uri": token_uri},
            scopes=config.get("scopes") or [READONLY_SCOPE],
            subject=config["delegated_user"],
        )
    missing = [k for k in ("client_id", "client_secret", "refresh_token") if not config.get(k)]
    if missing:
        msg = (
            "Configure either `client_id`, `client_secret` and `refresh_token` (a gmail.com account) or "
            f"`service_account_info`/`service_account_file` with `delegated_user`; missing: {', '.join(missing)}."
        )
        raise ConfigValidationError(msg, errors=[msg])
    return user_credentials.Credentials(
        token=None,
        refresh_token=config["refresh_token"],
        client_id=config["client_id"],
        client_secret=config["client_secret"],
        token_uri=token_uri,
    )


class GoogleAuthenticator(requests.auth.AuthBase):
    """Puts a fresh bearer token on every request; refreshes it when it is missing, expired or rejected."""

    def __init__(self, credentials: Credentials, token_url: str) -> None:
        self.credentials = credentials
        self.token_url = token_url
        self._lock = threading.Lock()
        self._session = requests.Session()
        self.refreshes = 0

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request

    def token(self) -> str:
        with self._lock:
            if not self.credentials.valid:
                self._refresh()
            return t.cast("str", self.credentials.token)

    def invalidate(self) -> None:
        """Forget the access token (the API answered 401): the next request gets a new one."""
        with self._lock:
            self.credentials.token = None

    def _refresh(self) -> None:
        try:
            self.credentials.refresh(google.auth.transport.requests.Request(self._session))
        except google.auth.exceptions.RefreshError as exc:
            # args[0] is Google's "error: error_description" text; args[1] (the raw body) is not repeated.
            reason = str(exc.args[0]) if exc.args else type(exc).__name__
            msg = (
                f"Token endpoint {self.token_url} refused to issue an access token ({reason}). "
                "Check the client id/secret and refresh token, or the service account key, its domain-wide "
                "delegation and the delegated_user."
            )
            raise GoogleAuthError(msg) from None
        except google.auth.exceptions.TransportError as exc:
            msg = f"Could not reach the token endpoint {self.token_url}: {type(exc).__name__}"
            raise GoogleAuthError(msg) from None
        self.refreshes += 1
