"""tap-gmail: Gmail messages as the Singer stream ``email``."""

from __future__ import annotations

from lorchestra_tapkit import google_credential_properties, provenance_properties, retry_properties
from lorchestra_tapkit.settings import Renamed, RenamedSettingsMixin
from singer_sdk import Tap
from singer_sdk import typing as th
from typing_extensions import override

from tap_gmail.streams import EmailStream

#: Renamed to the family's vocabulary (lorchestra-tapkit); the old names work until the next release.
RENAMED = (Renamed("max_retries", "max_attempts", th.IntegerType, convert=lambda retries: int(retries) + 1),)


class TapGmail(RenamedSettingsMixin, Tap):
    """Singer tap for one Gmail mailbox (a lorchestra connection)."""

    name = "tap-gmail"
    renamed_settings = RENAMED

    config_jsonschema = th.PropertiesList(
        *provenance_properties(example="gmail-acct1"),
        *google_credential_properties(
            delegated_user="The Workspace mailbox the service account impersonates (domain-wide delegation; "
            "the JWT `sub`). Required with a service account."
        ),
        th.Property(
            "scopes",
            th.ArrayType(th.StringType),
            title="Scopes",
            description="Scopes requested by the service account. Default: gmail.readonly.",
        ),
        th.Property("user_id", th.StringType, default="me", title="User ID", description="Gmail `userId`."),
        th.Property(
            "message_format",
            th.StringType(allowed_values=["full", "raw", "metadata", "minimal"]),
            default="full",
            title="Message format",
            description="`format` of users.messages.get.",
        ),
        th.Property(
            "metadata_headers",
            th.ArrayType(th.StringType),
            title="Metadata headers",
            description="With message_format=metadata, only these headers are returned.",
        ),
        th.Property("q", th.StringType, title="Search query", description="Gmail search query (`q`)."),
        th.Property(
            "label_ids",
            th.ArrayType(th.StringType),
            title="Label IDs",
            description="Only messages carrying all of these label IDs.",
        ),
        th.Property(
            "include_spam_trash",
            th.BooleanType,
            default=False,
            title="Include spam and trash",
            description="Also sync messages in SPAM and TRASH.",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            title="Start date",
            description="Limits the first backfill to messages received after this instant (`q=after:`).",
        ),
        th.Property(
            "api_url",
            th.StringType,
            default="https://gmail.googleapis.com",
            title="API base URL",
            description="Gmail API base URL (a proxy, or the sandbox).",
        ),
        th.Property(
            "batch_url",
            th.StringType,
            default="https://gmail.googleapis.com/batch/gmail/v1",
            title="Batch endpoint URL",
            description="Gmail's batch endpoint (up to 100 messages.get calls per round trip).",
        ),
        th.Property(
            "batch_size",
            th.IntegerType(minimum=1, maximum=100),
            default=50,
            title="Batch size",
            description="messages.get calls per batch round trip (Google recommends at most 50).",
        ),
        th.Property(
            "page_size",
            th.IntegerType(minimum=1, maximum=500),
            default=500,
            title="Page size",
            description="maxResults of messages.list and history.list.",
        ),
        th.Property(
            "quota_units_per_second",
            th.NumberType,
            default=250,
            title="Quota units per second",
            description="Per-user quota the tap paces itself to (Gmail: 250; messages.get costs 5).",
        ),
        *retry_properties(max_attempts=9, backoff_base_seconds=1.0, backoff_max_seconds=120.0, request_timeout=300),
        *(rename.property() for rename in RENAMED),
    ).to_dict()

    @override
    def discover_streams(self) -> list[EmailStream]:
        return [EmailStream(self)]


if __name__ == "__main__":
    TapGmail.cli()
