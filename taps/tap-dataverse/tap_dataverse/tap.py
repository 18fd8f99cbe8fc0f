"""tap-dataverse: Dataverse contacts, sessions and reports for lorchestra."""

from __future__ import annotations

import typing as t
from functools import cached_property

from lorchestra_tapkit import entra_properties, provenance_properties, retry_properties
from lorchestra_tapkit.settings import Renamed, RenamedSettingsMixin
from singer_sdk import Tap
from singer_sdk import typing as th
from typing_extensions import override

from tap_dataverse.auth import dataverse_authenticator
from tap_dataverse.client import ServiceProtection
from tap_dataverse.streams import STREAM_TYPES

if t.TYPE_CHECKING:
    from lorchestra_tapkit.entra import EntraClientCredentialsAuthenticator

    from tap_dataverse.client import DataverseStream


#: Renamed to the family's vocabulary (lorchestra-tapkit); the old names work until the next release.
RENAMED = (
    Renamed("authority_host", "authority_url"),
    Renamed("retry_backoff_seconds", "backoff_base_seconds", th.NumberType),
)


class TapDataverse(RenamedSettingsMixin, Tap):
    """Reads Dataverse tables incrementally on ``modifiedon``, one stream per clinic object type."""

    name = "tap-dataverse"
    renamed_settings = RENAMED

    config_jsonschema = th.PropertiesList(
        *provenance_properties(example="dataverse-clinic"),
        th.Property(
            "environment_url",
            th.StringType,
            required=True,
            title="Environment URL",
            description="The Dataverse environment, e.g. https://clinic.crm.dynamics.com. "
            "The token scope is '{environment_url}/.default'.",
        ),
        *entra_properties(
            client_id="Application (client) ID of the app registration that has an application user in the environment."
        ),
        th.Property(
            "entity_sets",
            th.ObjectType(
                th.Property("contact", th.StringType, default="contacts", description="Default: contacts."),
                th.Property("session", th.StringType, description="e.g. cr8a1_sessions."),
                th.Property("report", th.StringType, description="e.g. cr8a1_reports."),
            ),
            title="Entity sets",
            description="Entity set (plural table name) read for each object type. A stream without an "
            "entity set is not offered (contact defaults to 'contacts').",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            title="Start date",
            description="First run only: read rows modified at or after this instant (default: all rows).",
        ),
        th.Property(
            "api_url",
            th.StringType,
            title="Web API URL",
            description="Base URL of the Web API (default: {environment_url}/api/data/v9.2), for proxies.",
        ),
        th.Property(
            "page_size",
            th.IntegerType,
            default=5000,
            title="Page size",
            description="Rows per page (Prefer: odata.maxpagesize, at most 5000). STATE is written per page.",
        ),
        *retry_properties(max_attempts=8, backoff_base_seconds=2.0, backoff_max_seconds=300.0, request_timeout=300),
        th.Property(
            "ratelimit_pause_seconds",
            th.NumberType,
            default=30.0,
            title="Rate limit pause",
            description="Pause before the next request once x-ms-ratelimit-burst-remaining-xrm-requests "
            "falls to 20 or x-ms-ratelimit-time-remaining-xrm-requests to 30 s.",
        ),
        *(rename.property() for rename in RENAMED),
    ).to_dict()

    @cached_property
    def dataverse_authenticator(self) -> EntraClientCredentialsAuthenticator:
        """The one token holder shared by every stream of this run."""
        return dataverse_authenticator(self.config)

    @cached_property
    def service_protection(self) -> ServiceProtection:
        """The service-protection pacing shared by every stream (the limits are per user)."""
        return ServiceProtection(float(self.config.get("ratelimit_pause_seconds", 30.0)))

    @override
    def discover_streams(self) -> list[DataverseStream]:
        entity_sets = self.config.get("entity_sets") or {}
        streams = []
        for stream_type in STREAM_TYPES:
            entity_set = entity_sets.get(stream_type.name) or stream_type.default_entity_set
            if not entity_set:
                self.logger.info("Stream '%s' not offered: entity_sets.%s is not set", *(stream_type.name,) * 2)
                continue
            streams.append(stream_type(tap=self, entity_set=entity_set))
        return streams


if __name__ == "__main__":
    TapDataverse.cli()
