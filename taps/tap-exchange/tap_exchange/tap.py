"""tap-exchange: Exchange Online mail through Microsoft Graph, app-only, delta queries per folder."""

from __future__ import annotations

import sys

from lorchestra_tapkit import entra_properties, provenance_properties, retry_properties
from lorchestra_tapkit.settings import Renamed, RenamedSettingsMixin
from singer_sdk import Tap
from singer_sdk import typing as th

from tap_exchange import streams

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override


#: Renamed to the family's vocabulary (lorchestra-tapkit); the old names work until the next release.
RENAMED = (Renamed("max_request_tries", "max_attempts", th.IntegerType),)


class TapExchange(RenamedSettingsMixin, Tap):
    """Singer tap for one Exchange Online mailbox (stream ``email``)."""

    name = "tap-exchange"
    renamed_settings = RENAMED

    config_jsonschema = th.PropertiesList(
        *provenance_properties(example="exchange-ben-mensio"),
        *entra_properties(
            client_id="Application (client) id of the app registration (Mail.Read application permission)."
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
        *retry_properties(max_attempts=8, backoff_base_seconds=2.0, backoff_max_seconds=300.0, request_timeout=300),
        *(rename.property() for rename in RENAMED),
    ).to_dict()

    @override
    def discover_streams(self) -> list[streams.EmailStream]:
        return [streams.EmailStream(self)]


if __name__ == "__main__":
    TapExchange.cli()
