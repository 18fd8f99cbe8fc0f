"""tap-exchange: Exchange Online mail through Microsoft Graph, app-only, delta queries per folder."""

from __future__ import annotations

import sys

from singer_sdk import Tap
from singer_sdk import typing as th

from tap_exchange import streams

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override


class TapExchange(Tap):
    """Singer tap for one Exchange Online mailbox (stream ``email``)."""

    name = "tap-exchange"

    config_jsonschema = th.PropertiesList(
        th.Property(
            "connection_name",
            th.StringType(nullable=False),
            required=True,
            title="Connection name",
            description="The configured account, e.g. exchange-ben-mensio (lorchestra's connection_name).",
        ),
        th.Property(
            "tenant_id",
            th.StringType(nullable=False),
            required=True,
            title="Tenant ID",
            description="Microsoft Entra ID tenant (directory) id or primary domain of the app registration.",
        ),
        th.Property(
            "client_id",
            th.StringType(nullable=False),
            required=True,
            title="Client ID",
            description="Application (client) id of the app registration (Mail.Read application permission).",
        ),
        th.Property(
            "client_secret",
            th.StringType(nullable=False),
            required=True,
            secret=True,
            title="Client secret",
            description="Client secret value of the app registration.",
        ),
        th.Property(
            "mailbox",
            th.StringType(nullable=False),
            required=True,
            title="Mailbox",
            description="User principal name (ben@example.com) or user id of the mailbox to read.",
        ),
        th.Property(
            "folders",
            th.ArrayType(th.StringType(nullable=False)),
            title="Folders",
            description=(
                "Mail folder ids or well-known names (inbox, sentitems, archive, ...) to sync, without "
                "their child folders. Default: every folder of the mailbox, child folders included."
            ),
        ),
        th.Property(
            "include_hidden_folders",
            th.BooleanType,
            default=False,
            title="Include hidden folders",
            description="Also sync hidden mail folders (when folders is not set).",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            title="Start date",
            description="Only messages received at or after this time (the first run's backfill limit).",
        ),
        th.Property(
            "api_url",
            th.StringType(nullable=False),
            default="https://graph.microsoft.com/v1.0",
            title="Graph API URL",
            description="Microsoft Graph base URL, e.g. https://graph.microsoft.us/v1.0 for US Government.",
        ),
        th.Property(
            "authority_url",
            th.StringType(nullable=False),
            default="https://login.microsoftonline.com",
            title="Authority URL",
            description=(
                "Microsoft Entra ID authority host; the token endpoint is "
                "{authority_url}/{tenant_id}/oauth2/v2.0/token (login.microsoftonline.us, "
                "login.partner.microsoftonline.cn for national clouds)."
            ),
        ),
        th.Property(
            "oauth_scope",
            th.StringType(nullable=False),
            default="https://graph.microsoft.com/.default",
            title="OAuth scope",
            description="Client-credentials scope: the Graph resource of the cloud followed by /.default.",
        ),
        th.Property(
            "page_size",
            th.IntegerType,
            default=100,
            title="Page size",
            description="Messages per delta page, sent as Prefer: odata.maxpagesize.",
        ),
        th.Property(
            "schema_ref",
            th.StringType,
            title="Schema reference",
            description="Iglu URI of the payload schema, passed to target-lorchestra (default null).",
        ),
        th.Property(
            "max_request_tries",
            th.IntegerType,
            default=8,
            title="Maximum request tries",
            description="Attempts per request on 429, 5xx, expired tokens and network errors.",
        ),
        th.Property(
            "backoff_base_seconds",
            th.NumberType,
            default=2.0,
            title="Back-off base (seconds)",
            description="First exponential back-off wait when a response carries no Retry-After.",
        ),
    ).to_dict()

    @override
    def discover_streams(self) -> list[streams.EmailStream]:
        return [streams.EmailStream(self)]


if __name__ == "__main__":
    TapExchange.cli()
