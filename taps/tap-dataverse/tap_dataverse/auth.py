"""Microsoft Entra ID client-credentials authentication for the Dataverse Web API."""

from __future__ import annotations

import datetime as dt
import typing as t

import requests
from singer_sdk.authenticators import OAuthAuthenticator
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Mapping

#: Refresh this many seconds before the token's announced expiry, so no request carries a stale token.
EXPIRY_MARGIN = 120


class DataverseAuthenticator(OAuthAuthenticator):
    """Client credentials against ``{authority_host}/{tenant_id}/oauth2/v2.0/token``.

    The scope is ``{environment_url}/.default``: the application permissions granted to the app's
    application user in the environment. One instance is shared by all streams of a tap run.
    """

    def __init__(self, config: Mapping[str, t.Any]) -> None:
        environment = config["environment_url"].rstrip("/")
        authority = config.get("authority_host") or "https://login.microsoftonline.com"
        super().__init__(
            auth_endpoint=f"{authority.rstrip('/')}/{config['tenant_id']}/oauth2/v2.0/token",
            oauth_scopes=f"{environment}/.default",
            client_id=config["client_id"],
            client_secret=config["client_secret"],
        )
        self._timeout = int(config.get("request_timeout") or 300)

    @property
    @override
    def oauth_request_body(self) -> dict[str, t.Any]:
        """The client credentials grant."""
        return {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scope": self.oauth_scopes,
        }

    @override
    def is_token_valid(self) -> bool:
        """Treat the token as expired a little early."""
        if self.access_token is None or self.last_refreshed is None:
            return False
        if not self.expires_in:
            return True
        age = (dt.datetime.now(dt.UTC) - self.last_refreshed).total_seconds()
        return age < self.expires_in - min(EXPIRY_MARGIN, self.expires_in / 2)

    def invalidate(self) -> None:
        """Forget the token (Dataverse answered 401): the next request fetches a new one."""
        self.access_token = None
        self.last_refreshed = None

    @override
    def update_access_token(self) -> None:
        """Fetch a token; Entra's own error code and description are kept, the secret never is.

        Raises:
            RetriableAPIError: the token endpoint is throttling or failing (5xx, 429, network).
            FatalAPIError: the credentials, tenant or scope are rejected.
        """
        self.logger.info("Requesting a new Dataverse access token")
        requested_at = dt.datetime.now(dt.UTC)
        try:
            response = self._session.post(self.auth_endpoint, data=self.oauth_request_payload, timeout=self._timeout)
        except requests.RequestException as exc:
            msg = f"Could not reach the Microsoft Entra ID token endpoint: {type(exc).__name__}"
            raise RetriableAPIError(msg) from None
        if response.status_code == 429 or response.status_code >= 500:
            msg = f"Microsoft Entra ID token endpoint answered {response.status_code}"
            raise RetriableAPIError(msg, response)
        if response.status_code != 200:
            raise FatalAPIError(self._explain(response))
        body = response.json()
        self.access_token = body["access_token"]
        self.expires_in = int(body.get("expires_in") or 3599)
        self.last_refreshed = requested_at

    def _explain(self, response: requests.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            body = {}
        error = body.get("error", "unknown_error")
        # "AADSTS7000215: Invalid client secret provided. ... Trace ID: ..." - keep the first sentence.
        description = str(body.get("error_description", "")).split(" Trace ID:")[0]
        hints = {
            "invalid_client": "check client_secret (the secret's value, not its ID) and that it has not expired",
            "unauthorized_client": "check client_id and tenant_id",
            "invalid_request": "check tenant_id and authority_host",
            "invalid_scope": "check environment_url",
            "invalid_resource": "check environment_url: the scope is {environment_url}/.default",
        }
        hint = hints.get(error, "check tenant_id, client_id, client_secret and environment_url")
        return (
            f"Microsoft Entra ID refused a token for client {self.client_id} "
            f"(HTTP {response.status_code}, {error}): {description} -> {hint}"
        )
