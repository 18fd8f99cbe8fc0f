"""Microsoft Entra ID client-credentials tokens (Microsoft Graph, Dataverse), retried like API calls."""

from __future__ import annotations

import datetime as dt
import threading
import typing as t

import requests
from singer_sdk.authenticators import OAuthAuthenticator
from singer_sdk.exceptions import RetriableAPIError
from typing_extensions import override

from lorchestra_tapkit.retry import RetryPolicy, is_retriable_status
from lorchestra_tapkit.tokens import Redactor, TokenRequestError, with_retries

if t.TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_AUTHORITY_URL = "https://login.microsoftonline.com"
#: Refresh this many seconds before the announced expiry, so no request leaves with a dying token.
EXPIRY_MARGIN = 120

#: What to check for each OAuth error code of the token endpoint.
HINTS = {
    "invalid_client": "check client_secret (the secret's value, not its ID) and that it has not expired",
    "unauthorized_client": "check client_id and tenant_id",
    "invalid_request": "check tenant_id and authority_url",
    "invalid_scope": "check the scope: the resource followed by /.default",
    "invalid_resource": "check the scope's resource: it must exist in the tenant",
}


class EntraClientCredentialsAuthenticator(OAuthAuthenticator):
    """OAuth 2.0 client credentials on ``{authority_url}/{tenant_id}/oauth2/v2.0/token``.

    One instance per tap run serves every stream. The token request is retried with the tap's
    ``RetryPolicy`` (429 with Entra's documented ``Retry-After``, 5xx, network errors), at start and
    at every refresh; a refusal (4xx) is fatal at once, with Entra's error code and a hint.
    """

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        scope: str,
        authority_url: str = DEFAULT_AUTHORITY_URL,
        policy: RetryPolicy | None = None,
        timeout: float = 60,
        hints: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            auth_endpoint=f"{authority_url.rstrip('/')}/{tenant_id}/oauth2/v2.0/token",
            oauth_scopes=scope,
            client_id=client_id,
            client_secret=client_secret,
            default_expiration=3599,
        )
        # A plain session: the SDK's mounts urllib3 retries, a second policy under ours.
        self._session = requests.Session()
        self.policy = policy or RetryPolicy()
        self.timeout = timeout
        self.hints = {**HINTS, **(hints or {})}
        self.redact = Redactor([client_secret])
        self.refreshes = 0
        self._lock = threading.RLock()

    @classmethod
    def from_config(
        cls, config: Mapping[str, t.Any], *, scope: str, **kwargs: t.Any
    ) -> EntraClientCredentialsAuthenticator:
        """From the family's settings: tenant_id, client_id, client_secret, authority_url and the retry ones."""
        return cls(
            tenant_id=config["tenant_id"],
            client_id=config["client_id"],
            client_secret=config["client_secret"],
            scope=scope,
            authority_url=config.get("authority_url") or DEFAULT_AUTHORITY_URL,
            policy=RetryPolicy.from_config(config),
            timeout=float(config.get("request_timeout") or 60),
            **kwargs,
        )

    @property
    @override
    def oauth_request_body(self) -> dict[str, t.Any]:
        return {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scope": self.oauth_scopes,
        }

    @override
    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        with self._lock:  # one refresh for all threads
            return super().authenticate_request(request)

    @override
    def is_token_valid(self) -> bool:
        """Expired a little early (``EXPIRY_MARGIN``, at most half the lifetime)."""
        if self.access_token is None or self.last_refreshed is None:
            return False
        if not self.expires_in:
            return True
        age = (dt.datetime.now(dt.UTC) - self.last_refreshed).total_seconds()
        return age < self.expires_in - min(EXPIRY_MARGIN, self.expires_in / 2)

    def invalidate(self) -> None:
        """Forget the token (the API answered 401): the next request fetches a new one."""
        with self._lock:
            self.access_token = None
            self.last_refreshed = None

    @override
    def update_access_token(self) -> None:
        """Fetch a token, retried with the tap's policy.

        Raises:
            TokenRequestError: Entra ID refused the credentials, or kept failing.
        """
        self.logger.info("Requesting a Microsoft Entra ID access token")
        requested_at = dt.datetime.now(dt.UTC)
        body = with_retries(self._request_token, policy=self.policy, logger=self.logger, what="the token request")
        self.access_token = body["access_token"]
        self.expires_in = int(body.get("expires_in") or self._default_expiration or 3599)
        self.last_refreshed = requested_at
        self.refreshes += 1

    def _request_token(self) -> dict[str, t.Any]:
        try:
            response = self._session.post(self.auth_endpoint, data=self.oauth_request_payload, timeout=self.timeout)
        except requests.RequestException as exc:
            msg = f"Could not reach the Microsoft Entra ID token endpoint ({type(exc).__name__})"
            raise RetriableAPIError(msg) from None
        if is_retriable_status(response.status_code):
            msg = f"Microsoft Entra ID token endpoint answered {self._describe(response)}"
            raise RetriableAPIError(msg, response)
        if response.status_code != 200:
            error = self._error(response).get("error", "")
            hint = self.hints.get(str(error), "check tenant_id, client_id, client_secret and authority_url")
            msg = (
                f"Microsoft Entra ID refused a token for client {self.client_id} ({self._describe(response)}) -> {hint}"
            )
            raise TokenRequestError(msg)
        try:
            return response.json()
        except ValueError:
            msg = "Microsoft Entra ID token endpoint sent an incomplete body (HTTP 200)"
            raise RetriableAPIError(msg, response) from None

    @staticmethod
    def _error(response: requests.Response) -> dict[str, t.Any]:
        try:
            body = response.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def _describe(self, response: requests.Response) -> str:
        """``HTTP 401, invalid_client: AADSTS7000215: ...``: the error's first sentence, secrets redacted."""
        error = self._error(response)
        code = error.get("error") or "no error code"
        # "AADSTS7000215: Invalid client secret provided. ... Trace ID: ..." - keep what precedes the IDs.
        description = str(error.get("error_description") or "").split(" Trace ID:", maxsplit=1)[0]
        text = f"HTTP {response.status_code}, {code}" + (f": {description}" if description else "")
        return self.redact(text)
