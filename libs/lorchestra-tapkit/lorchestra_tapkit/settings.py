"""The family's settings vocabulary: one name per idea, and the old names kept for one release.

+-----------------------------+--------------------------------------------------------------------+
| idea                        | setting                                                            |
+=============================+====================================================================+
| tries per request           | ``max_attempts`` (the first try included)                          |
| first backoff wait          | ``backoff_base_seconds``                                           |
| longest single wait         | ``backoff_max_seconds`` (a server's Retry-After included)          |
| answer timeout              | ``request_timeout``                                                |
| Google token endpoint       | ``token_url``                                                      |
| Entra ID authority          | ``authority_url``                                                  |
| Google OAuth user           | ``client_id``, ``client_secret``, ``refresh_token``                |
| Google service account      | ``service_account_info`` / ``service_account_file``, ``delegated_user`` |
+-----------------------------+--------------------------------------------------------------------+
"""

from __future__ import annotations

import copy
import typing as t
from dataclasses import dataclass

from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping, Sequence

    from singer_sdk import Tap

    # The type checker sees the mixin as the ``Tap`` it is mixed into; at run time it is a plain class.
    _TapBase = Tap
else:
    _TapBase = object


def provenance_properties(*, example: str) -> list[th.Property]:
    """``connection_name`` and ``schema_ref``: what ``ProvenanceMixin`` declares in every SCHEMA's ``x-lorchestra``."""
    return [
        th.Property(
            "connection_name",
            th.StringType,
            required=True,
            title="Connection name",
            description=f"The configured account, e.g. {example}; the provenance of every record.",
        ),
        th.Property(
            "schema_ref",
            th.StringType,
            title="Schema reference",
            description="Iglu URI of the payload schema, declared with every stream's provenance (default: null).",
        ),
    ]


def retry_properties(
    *,
    max_attempts: int = 8,
    backoff_base_seconds: float = 2.0,
    backoff_max_seconds: float = 300.0,
    request_timeout: int = 300,
) -> list[th.Property]:
    """``max_attempts``, ``backoff_base_seconds``, ``backoff_max_seconds``, ``request_timeout``."""
    return [
        th.Property(
            "max_attempts",
            th.IntegerType(minimum=1),
            default=max_attempts,
            title="Max attempts",
            description="Tries per request, the first included, on 429, 5xx, network errors and rejected "
            "access tokens; token requests are retried the same way.",
        ),
        th.Property(
            "backoff_base_seconds",
            th.NumberType(minimum=0),
            default=backoff_base_seconds,
            title="Backoff base (s)",
            description="First wait of the exponential backoff when the server sends no Retry-After; "
            "doubles on each try (with jitter).",
        ),
        th.Property(
            "backoff_max_seconds",
            th.NumberType(minimum=0),
            default=backoff_max_seconds,
            title="Backoff ceiling (s)",
            description="Longest single wait between tries, a server's Retry-After (seconds or HTTP date) included.",
        ),
        th.Property(
            "request_timeout",
            th.IntegerType(minimum=1),
            default=request_timeout,
            title="Request timeout (s)",
            description="Seconds to wait for an answer (API and token requests) before retrying.",
        ),
    ]


def google_credential_properties(*, delegated_user: str) -> list[th.Property]:
    """An OAuth user's refresh token with its client, or a service account key: exactly one."""
    return [
        th.Property(
            "client_id",
            th.StringType,
            title="OAuth client ID",
            description="OAuth client of the refresh token (OAuth user credentials).",
        ),
        th.Property(
            "client_secret",
            th.StringType,
            secret=True,
            title="OAuth client secret",
            description="Secret of the OAuth client (OAuth user credentials).",
        ),
        th.Property(
            "refresh_token",
            th.StringType,
            secret=True,
            title="OAuth refresh token",
            description="The user's refresh token. Use this or a service account key.",
        ),
        th.Property(
            "service_account_info",
            th.StringType,
            secret=True,
            title="Service account key (JSON)",
            description="The service account's JSON key, as text. Use this or service_account_file.",
        ),
        th.Property(
            "service_account_file",
            th.StringType,
            title="Service account key file",
            description="Path to the service account's JSON key file (instead of service_account_info).",
        ),
        th.Property("delegated_user", th.StringType, title="Delegated user", description=delegated_user),
        th.Property(
            "token_url",
            th.StringType,
            default="https://oauth2.googleapis.com/token",
            title="Token endpoint",
            description="Google's OAuth 2.0 token endpoint (also replaces a service account key's token_uri).",
        ),
    ]


def entra_properties(*, client_id: str) -> list[th.Property]:
    """An Entra ID app registration: tenant, client id and secret, and the authority of its cloud."""
    return [
        th.Property(
            "tenant_id",
            th.StringType(nullable=False),
            required=True,
            title="Tenant ID",
            description="Microsoft Entra ID tenant (directory) id or primary domain of the app registration.",
        ),
        th.Property(
            "client_id", th.StringType(nullable=False), required=True, title="Client ID", description=client_id
        ),
        th.Property(
            "client_secret",
            th.StringType(nullable=False),
            required=True,
            secret=True,
            title="Client secret",
            description="The client secret's value (not its ID).",
        ),
        th.Property(
            "authority_url",
            th.StringType(nullable=False),
            default="https://login.microsoftonline.com",
            title="Authority URL",
            description="Microsoft Entra ID authority; the token endpoint is "
            "{authority_url}/{tenant_id}/oauth2/v2.0/token (login.microsoftonline.us, "
            "login.partner.microsoftonline.cn for national clouds).",
        ),
    ]


# -- renamed settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Renamed:
    """A setting renamed to the family's vocabulary; ``old`` may be dotted (``oauth_credentials.client_id``)."""

    old: str
    new: str
    kind: type[th.JSONTypeHelper] = th.StringType
    convert: Callable[[t.Any], t.Any] | None = None
    secret: bool = False

    def property(self) -> th.Property:
        """The old name, still accepted for one release, in the config schema (``deprecated``)."""
        return th.Property(
            self.old.split(".")[-1],
            self.kind,
            secret=self.secret,
            deprecated=True,
            description=f"Deprecated, removed in the next release: use {self.new}.",
        )


def _pop(config: dict[str, t.Any], dotted: str) -> tuple[bool, t.Any]:
    *parents, leaf = dotted.split(".")
    node: t.Any = config
    for parent in parents:
        node = node.get(parent) if isinstance(node, dict) else None
    if not isinstance(node, dict) or leaf not in node:
        return False, None
    return True, node.pop(leaf)


def migrate_settings(
    config: Mapping[str, t.Any], renames: Sequence[Renamed], logger: logging.Logger
) -> dict[str, t.Any]:
    """``config`` with each old name moved to its new one, and a warning for each.

    Raises:
        ConfigValidationError: an old name and its new name are both set, to different values.
    """
    migrated = copy.deepcopy(dict(config))
    for rename in renames:
        found, value = _pop(migrated, rename.old)
        if not found or value is None:
            continue
        value = rename.convert(value) if rename.convert else value
        logger.warning(
            "Setting '%s' is deprecated and will be removed in the next release: use '%s'.", rename.old, rename.new
        )
        if migrated.get(rename.new) not in (None, value):
            msg = (
                f"Both '{rename.old}' (deprecated) and '{rename.new}' are set, to different values: "
                f"keep '{rename.new}'."
            )
            raise ConfigValidationError(msg, errors=[msg])
        migrated[rename.new] = value
    for parent in {r.old.split(".")[0] for r in renames if "." in r.old}:
        if migrated.get(parent) == {}:
            del migrated[parent]
    return migrated


class RenamedSettingsMixin(_TapBase):
    """For a ``Tap``: moves ``renamed_settings`` to their new names before the config is validated."""

    renamed_settings: t.ClassVar[Sequence[Renamed]] = ()

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        self._config = migrate_settings(self._config, self.renamed_settings, self.logger)
        return super()._validate_config(raise_errors=raise_errors)
