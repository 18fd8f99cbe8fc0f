"""The Microsoft identity platform (Entra ID) v2.0 token endpoint, client-credentials grant only.

One implementation for every Microsoft sandbox (Graph, Dataverse): ``POST /{tenant}/oauth2/v2.0/token``
with ``grant_type=client_credentials``, ``client_id``, ``client_secret`` and ``scope={resource}/.default``;
answers ``{"token_type", "expires_in", "ext_expires_in", "access_token"}`` or Entra's error body
(``error``, ``error_description`` starting ``AADSTS{code}:``, ``error_codes``, trace and correlation ids).
The AADSTS codes are the ones Entra ID documents for each refusal.
"""

from __future__ import annotations

import datetime as dt
import typing as t
import uuid
from dataclasses import dataclass, field

from werkzeug.wrappers import Response

from lorchestra_sandbox.core import ProviderApp

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from werkzeug.wrappers import Request

    from lorchestra_sandbox.core import TokenBook

TOKEN_PATH = "/<tenant>/oauth2/v2.0/token"  # noqa: S105 - a route, not a secret


def aad_error(status: int, error: str, code: int, description: str) -> Response:
    """Entra ID's error body: the AADSTS code first in the description, then trace and correlation ids."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    return ProviderApp.json(
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description} Trace ID: {trace} "
            f"Correlation ID: {correlation} Timestamp: {now}",
            "error_codes": [code],
            "timestamp": now,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        },
        status,
    )


@dataclass
class Registration:
    """An app registration: its tenant and its client secret's value."""

    tenant_id: str
    client_secret: str
    domains: tuple[str, ...] = ()


@dataclass
class EntraTokenEndpoint:
    """Issues access tokens from a provider's :class:`TokenBook` to registered apps.

    Attributes:
        tokens: where issued tokens are recorded (the provider app checks bearer tokens against it).
        resources: ``scope`` must be one of these resources + ``/.default``; a callable gets the
            request (a Dataverse environment is the host the request came to). Empty: any resource.
        issued_to: access token -> tenant id, for APIs that only serve their own tenant's data.
    """

    tokens: TokenBook
    resources: Callable[[Request], set[str]] | None = None
    registrations: dict[str, Registration] = field(default_factory=dict)
    issued_to: dict[str, str] = field(default_factory=dict)

    def register(self, tenant_id: str, client_id: str, client_secret: str, *domains: str) -> None:
        self.registrations[client_id] = Registration(tenant_id, client_secret, domains)

    def _tenant_known(self, tenant: str) -> bool:
        return any(tenant == r.tenant_id or tenant in r.domains for r in self.registrations.values())

    def respond(self, request: Request, tenant: str) -> Response:
        """Answer one token request, checking what Entra ID checks, in the same order."""
        form = request.form
        if not self._tenant_known(tenant):
            return aad_error(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
                "signing into the correct cloud.",
            )
        if form.get("grant_type") != "client_credentials":
            return aad_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        client_id = form.get("client_id", "")
        registration = self.registrations.get(client_id)
        if registration is None or tenant not in (registration.tenant_id, *registration.domains):
            return aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
            )
        if registration.client_secret != form.get("client_secret"):
            return aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                f"secret value, not the client secret ID, for a secret added to app '{client_id}'.",
            )
        scope = form.get("scope", "")
        if not scope.endswith("/.default"):
            return aad_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must have a scope "
                "value with /.default suffixed to the resource identifier (application ID URI).",
            )
        resource = scope.removesuffix("/.default").rstrip("/")
        if self.resources is not None and resource not in self.resources(request):
            return aad_error(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant named {tenant}.",
            )
        token, lifetime = self.tokens.issue()
        self.issued_to[token] = registration.tenant_id
        return ProviderApp.json(
            {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}
        )

    def unavailable(self, retry_after: int) -> Response:
        """503 ``temporarily_unavailable`` with ``Retry-After``."""
        response = aad_error(503, "temporarily_unavailable", 500011, "The service is temporarily unavailable.")
        response.headers["Retry-After"] = str(retry_after)
        return response
