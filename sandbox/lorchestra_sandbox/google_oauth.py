"""Google's OAuth 2.0 token endpoint, shared by the Gmail and Forms sandboxes.

Two grants, as https://developers.google.com/identity/protocols/oauth2 describes them:

* ``refresh_token`` (an installed-app OAuth client and a user's refresh token; an optional ``scope`` must be a
  subset of what the user consented to);
* ``urn:ietf:params:oauth:grant-type:jwt-bearer`` (a service account signs an RS256 JWT with its key; ``sub``
  names the Workspace user it impersonates through domain-wide delegation).

Errors use Google's ``{"error": ..., "error_description": ...}`` bodies with its status codes.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import typing as t
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

if t.TYPE_CHECKING:
    from werkzeug.wrappers import Request, Response

    from lorchestra_sandbox.core import ProviderApp

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_SHORT_LIVED = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@dataclass(frozen=True)
class Grant:
    """Who an access token acts for, and with which scopes."""

    principal: str
    scopes: frozenset[str]


@dataclass
class ServiceAccount:
    """A service account: its JSON key file and what domain-wide delegation lets it do.

    Attributes:
        key_file: the JSON key file (``client_email``, ``private_key_id``, ``private_key`` PEM, ...).
        delegates_to: Workspace users it may impersonate (``sub``); empty: no domain-wide delegation.
        delegated_scopes: scopes an admin authorised for the delegation; None: any requested scope.
    """

    key_file: dict[str, str]
    delegates_to: frozenset[str] = frozenset()
    delegated_scopes: frozenset[str] | None = None

    @property
    def email(self) -> str:
        return self.key_file["client_email"]

    def public_key(self) -> rsa.RSAPublicKey:
        key = serialization.load_pem_private_key(self.key_file["private_key"].encode(), password=None)
        return t.cast("rsa.RSAPrivateKey", key).public_key()

    @classmethod
    def generate(cls, email: str, key_id: str, **kwargs: t.Any) -> ServiceAccount:
        """A fresh key, as the JSON key file Google Cloud console lets you download."""
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        key_file = {
            "type": "service_account",
            "project_id": "lorchestra-sandbox",
            "private_key_id": key_id,
            "private_key": pem,
            "client_email": email,
            "client_id": "104729365201948573612",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token",
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com",
        }
        return cls(key_file, **kwargs)


class GoogleOAuth:
    """The token endpoint's state: OAuth clients, refresh tokens, service accounts, issued grants."""

    def __init__(
        self,
        *,
        clients: dict[str, str],
        refresh_tokens: dict[str, tuple[str, frozenset[str]]],
        service_accounts: t.Iterable[ServiceAccount] = (),
        workspace_users: t.Iterable[str] = (),
    ) -> None:
        self.clients = dict(clients)  # client_id -> client_secret
        self.refresh_tokens = dict(refresh_tokens)  # refresh token -> (user, consented scopes)
        self.service_accounts = {sa.email: sa for sa in service_accounts}
        #: Users of the Workspace domain: a ``sub`` outside it is "Invalid email or User ID".
        self.workspace_users = {u.lower() for u in workspace_users}
        self.grants: dict[str, Grant] = {}  # access token -> grant

    def grant_of(self, request: Request) -> Grant | None:
        """The grant behind the request's bearer token (None if unknown)."""
        return self.grants.get(request.headers.get("Authorization", "").removeprefix("Bearer "))

    def revoke(self, refresh_token: str) -> None:
        self.refresh_tokens.pop(refresh_token, None)

    def token_response(self, app: ProviderApp, request: Request) -> Response:
        """Answer ``POST /token`` for ``app`` (its TokenBook issues the access token)."""
        form = request.form
        grant_type = form.get("grant_type", "")
        if grant_type == "refresh_token":
            grant = self._refresh_grant(app, form)
        elif grant_type == JWT_BEARER:
            grant = self._jwt_grant(app, form.get("assertion", ""))
        else:
            return _error(app, "unsupported_grant_type", f"Invalid grant_type: {grant_type}", 400)
        if not isinstance(grant, Grant):
            return grant
        with app.lock:
            token, lifetime = app.tokens.issue()
            self.grants[token] = grant
        # Google answers expires_in 3599 for a one-hour token; scope only on the refresh grant.
        body: dict[str, t.Any] = {"access_token": token, "expires_in": lifetime - 1, "token_type": "Bearer"}
        if grant_type == "refresh_token":
            body["scope"] = " ".join(sorted(grant.scopes))
        return app.json(body)

    def _refresh_grant(self, app: ProviderApp, form: t.Any) -> Grant | Response:
        secret = self.clients.get(form.get("client_id", ""))
        if secret is None:
            return _error(app, "invalid_client", "The OAuth client was not found.", 401)
        if form.get("client_secret") != secret:
            return _error(app, "invalid_client", "Unauthorized", 401)
        with app.lock:
            consented = self.refresh_tokens.get(form.get("refresh_token", ""))
        if consented is None:
            return _error(app, "invalid_grant", "Token has been expired or revoked.", 400)
        user, granted = consented
        if requested := form.get("scope"):
            scopes = frozenset(requested.split())
            if not scopes <= granted:
                return _error(app, "invalid_scope", "Bad Request", 400)
            return Grant(user, scopes)
        return Grant(user, granted)

    def _jwt_grant(self, app: ProviderApp, assertion: str) -> Grant | Response:
        def invalid(description: str) -> Response:
            return _error(app, "invalid_grant", description, 400)

        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            header = json.loads(b64url_decode(header_b64))
            claims = json.loads(b64url_decode(claims_b64))
            signature = b64url_decode(signature_b64)
        except (ValueError, binascii.Error):
            return invalid(_SHORT_LIVED)
        account = self.service_accounts.get(str(claims.get("iss", "")))
        if account is None:
            return invalid("Invalid grant: account not found")
        key_id = account.key_file.get("private_key_id")
        if header.get("alg") != "RS256" or header.get("kid", key_id) != key_id:
            return invalid("Invalid JWT Signature.")
        try:
            account.public_key().verify(
                signature, f"{header_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return invalid("Invalid JWT Signature.")
        now = time.time()
        iat, exp = claims.get("iat", 0), claims.get("exp", 0)
        if not (iat - 300 <= now < exp) or exp - iat > 3600:
            return invalid(_SHORT_LIVED)
        if urlsplit(str(claims.get("aud", ""))).path not in app.token_paths:
            return invalid("Invalid JWT: Failed audience check.")
        requested = frozenset(str(claims.get("scope", "")).split())
        if not requested:
            return invalid("Invalid JWT: No scope claim.")
        subject = str(claims.get("sub") or account.email).lower()
        if subject == account.email.lower():
            return Grant(account.email, requested)
        if subject not in self.workspace_users:
            return invalid("Invalid email or User ID")
        scopes = requested if account.delegated_scopes is None else requested & account.delegated_scopes
        if subject not in account.delegates_to or not scopes:
            return _error(
                app,
                "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method, "
                "or client not authorized for any of the scopes requested.",
                401,
            )
        return Grant(subject, scopes)


def _error(app: ProviderApp, error: str, description: str, status: int) -> Response:
    return app.json({"error": error, "error_description": description}, status)
