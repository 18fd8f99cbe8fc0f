"""The Dataverse token: Entra ID client credentials for ``{environment_url}/.default`` (lorchestra-tapkit)."""

from __future__ import annotations

import typing as t

from lorchestra_tapkit.entra import EntraClientCredentialsAuthenticator

if t.TYPE_CHECKING:
    from collections.abc import Mapping

#: Dataverse-specific advice for Entra's error codes (the scope comes from environment_url).
HINTS = {
    "invalid_scope": "check environment_url",
    "invalid_resource": "check environment_url: the scope is {environment_url}/.default",
}


def dataverse_authenticator(config: Mapping[str, t.Any]) -> EntraClientCredentialsAuthenticator:
    """One token holder for every stream of a run: the application user's permissions in the environment."""
    environment = str(config["environment_url"]).rstrip("/")
    return EntraClientCredentialsAuthenticator.from_config(config, scope=f"{environment}/.default", hints=HINTS)
