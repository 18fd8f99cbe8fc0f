"""App-only Microsoft Graph tokens: Entra ID client credentials (lorchestra-tapkit)."""

from __future__ import annotations

import typing as t

from lorchestra_tapkit.entra import EntraClientCredentialsAuthenticator

if t.TYPE_CHECKING:
    from collections.abc import Mapping

#: Graph-specific advice for Entra's error codes (the scope is a setting here).
HINTS = {
    "invalid_scope": "check oauth_scope: the Graph resource of the cloud followed by /.default",
    "invalid_resource": "check oauth_scope: the Graph resource of the cloud followed by /.default",
}


def graph_authenticator(config: Mapping[str, t.Any]) -> EntraClientCredentialsAuthenticator:
    """One app registration (``Mail.Read`` application permission) serves every mailbox of its tenant."""
    return EntraClientCredentialsAuthenticator.from_config(config, scope=config["oauth_scope"], hints=HINTS)
