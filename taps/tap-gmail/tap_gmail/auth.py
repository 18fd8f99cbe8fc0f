"""Gmail's Google credentials: a user's refresh token, or a service account with domain-wide delegation."""

from __future__ import annotations

import typing as t

from lorchestra_tapkit.google import GoogleAuthenticator
from lorchestra_tapkit.tokens import TokenRequestError

if t.TYPE_CHECKING:
    from collections.abc import Mapping

READONLY_SCOPE = "https://www.googleapis.com/auth/gmail.readonly"


class GoogleAuthError(TokenRequestError):
    """Google refused the access token, or the credentials behind it: fatal, never retried."""


def gmail_authenticator(config: Mapping[str, t.Any]) -> GoogleAuthenticator:
    """A service account must impersonate the mailbox (``delegated_user``): it has none of its own."""
    return GoogleAuthenticator(
        config,
        scopes=config.get("scopes") or [READONLY_SCOPE],
        require_delegated_user=True,
        hint="Check the client id/secret and refresh token, or the service account key, its domain-wide "
        "delegation and the delegated_user.",
    )
