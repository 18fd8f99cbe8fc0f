"""App-only (client credentials) authentication against Microsoft Entra ID."""

from __future__ import annotations

import json
import sys
import typing as t

import requests
from singer_sdk.authenticators import OAuthAuthenticator
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Mapping


class EntraClientCredentialsAuthenticator(OAuthAuthenticator):
    """OAuth 2.0 client-credentials grant on ``{authority_url}/{tenant_id}/oauth2/v2.0/token``.

    One app registration (with the ``Mail.Read`` application permission) serves every mailbox of
    its tenant; the mailbox is chosen by the request path, not by the token.
    """

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any]) -> EntraClientCredentialsAuthenticator:
        """Build the authenticator from the tap's settings.

        Args:
            config: The tap config.

        Returns:
            An authenticator for the configured tenant and cloud.
        """
        authority = str(config["authority_url"]).rstrip("/")
        return cls(
            auth_endpoint=f"{authority}/{config['tenant_id']}/oauth2/v2.0/token",
            oauth_scopes=config["oauth_scope"],
            client_id=config["client_id"],
            client_secret=config["client_secret"],
        )

    @property
    @override
    def oauth_request_body(self) -> dict:
        return {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scope": self.oauth_scopes,
        }

    def invalidate(self) -> None:
        """Forget the current access token so the next request fetches a new one."""
        self.access_token = None
        self.last_refreshed = None

    @override
    def update_access_token(self) -> None:
        """Fetch a token; 429/5xx from Entra ID are retried by the stream's back-off, 4xx are fatal.

        Raises:
            RetriableAPIError: Entra ID is throttling or unavailable.
            FatalAPIError: Entra ID refused the request (wrong tenant, client id or secret, scope).
        """
        try:
            super().update_access_token()
        except RuntimeError as exc:
            cause = exc.__cause__
            response = cause.response if isinstance(cause, requests.HTTPError) else None
            if response is None:
                raise
            summary = self._summary(response.text)
            msg = f"Microsoft Entra ID token request failed (HTTP {response.status_code}, {summary})"
            if response.status_code == 429 or response.status_code >= 500:
                raise RetriableAPIError(msg, response) from None
            raise FatalAPIError(msg) from None

    @staticmethod
    def _summary(content: str) -> str:
        """``error: AADSTS... description`` from an Entra ID error body (never holds the secret)."""
        try:
            body = json.loads(content)
            error, description = body.get("error"), str(body.get("error_description", ""))
        except (ValueError, AttributeError):
            return "no error body"
        return f"{error or 'no error code'}: {description.split(' Trace ID:', maxsplit=1)[0] or 'no description'}"

    @override
    def handle_error(self, *, content: str, status_code: int | None) -> None:
        """Log Entra ID's error code and description (they never contain the client secret)."""
        self.logger.error("Microsoft Entra ID refused the token request (HTTP %s)", status_code or "unknown")
