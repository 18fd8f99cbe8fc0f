"""The Forms API's Google credentials: a service account the form is shared with, or an OAuth user."""

from __future__ import annotations

import typing as t

from lorchestra_tapkit.google import GoogleAuthenticator

if t.TYPE_CHECKING:
    from collections.abc import Mapping

#: Read-only scopes: the form body (questions) and its responses.
SCOPES = (
    "https://www.googleapis.com/auth/forms.body.readonly",
    "https://www.googleapis.com/auth/forms.responses.readonly",
)


def forms_authenticator(config: Mapping[str, t.Any]) -> GoogleAuthenticator:
    """``delegated_user`` is optional: a service account may read forms shared with it directly."""
    return GoogleAuthenticator(
        config,
        scopes=SCOPES,
        hint=f"Check the refresh token / OAuth client or the service account key (connection "
        f"'{config['connection_name']}').",
    )
