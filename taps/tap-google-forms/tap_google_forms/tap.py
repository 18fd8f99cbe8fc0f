"""tap-google-forms: the Tap class and its settings."""

from __future__ import annotations

import typing as t
from functools import cached_property

from lorchestra_tapkit import google_credential_properties, provenance_properties, retry_properties
from lorchestra_tapkit.settings import Renamed, RenamedSettingsMixin
from singer_sdk import Tap
from singer_sdk import typing as th
from typing_extensions import override

from tap_google_forms.auth import forms_authenticator
from tap_google_forms.streams import FormResponseStream, FormStream

if t.TYPE_CHECKING:
    from lorchestra_tapkit.google import GoogleAuthenticator


#: Renamed to the family's vocabulary (lorchestra-tapkit); the old names work until the next release.
RENAMED = (
    Renamed("token_uri", "token_url"),
    Renamed("max_tries", "max_attempts", th.IntegerType),
    Renamed("max_backoff_seconds", "backoff_max_seconds", th.NumberType),
    Renamed("oauth_credentials.client_id", "client_id"),
    Renamed("oauth_credentials.client_secret", "client_secret", secret=True),
    Renamed("oauth_credentials.refresh_token", "refresh_token", secret=True),
    Renamed("service_account.key_json", "service_account_info", secret=True),
    Renamed("service_account.subject", "delegated_user"),
)


class TapGoogleForms(RenamedSettingsMixin, Tap):
    """Google Forms: one form per connection; streams ``form`` and ``form_response``."""

    name = "tap-google-forms"
    renamed_settings = RENAMED

    config_jsonschema = th.PropertiesList(
        *provenance_properties(example="google-forms-intake-01"),
        th.Property(
            "form_id",
            th.StringType,
            required=True,
            title="Form ID",
            description="The form's id, from its edit URL docs.google.com/forms/d/<form_id>/edit.",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            title="Start date",
            description="First run only: responses last submitted at or after this time (default: all).",
        ),
        *google_credential_properties(
            delegated_user="Workspace user the service account acts as (domain-wide delegation); empty for "
            "the service account itself (the form must be shared with it)."
        ),
        th.Property(
            "api_url",
            th.StringType,
            default="https://forms.googleapis.com",
            title="API base URL",
            description="Forms API base URL (change for a proxy or the sandbox).",
        ),
        th.Property(
            "page_size",
            th.IntegerType,
            default=5000,
            title="Page size",
            description="pageSize of responses.list (the API's default and the most it is documented to return: 5000).",
        ),
        th.Property(
            "filter_overlap_seconds",
            th.NumberType,
            default=86400,
            title="Filter overlap (s)",
            description="Incremental runs list responses from this long before the bookmark. The API reference "
            "does not say which time `timestamp > N` compares; if it is createTime, an edit is only seen when "
            "the response was created inside this window (edits soon after submitting); 0 turns it off.",
        ),
        th.Property(
            "full_listing_every_hours",
            th.NumberType,
            default=24,
            title="Full listing every (h)",
            description="A run lists every response (one call per 5,000) when the last complete listing "
            "started this long ago, so no edited response is missed for longer; 0 means every run.",
        ),
        *retry_properties(max_attempts=8, backoff_base_seconds=2.0, backoff_max_seconds=120.0, request_timeout=300),
        *(rename.property() for rename in RENAMED if "." not in rename.old),
        th.Property(
            "oauth_credentials",
            th.ObjectType(*(r.property() for r in RENAMED if r.old.startswith("oauth_credentials."))),
            deprecated=True,
            description="Deprecated, removed in the next release: use client_id, client_secret, refresh_token.",
        ),
        th.Property(
            "service_account",
            th.ObjectType(*(r.property() for r in RENAMED if r.old.startswith("service_account."))),
            deprecated=True,
            description="Deprecated, removed in the next release: use service_account_info, delegated_user.",
        ),
    ).to_dict()

    @cached_property
    def google_authenticator(self) -> GoogleAuthenticator:
        """One authenticator (one access token) shared by both streams; credentials load on first use."""
        return forms_authenticator(self.config)

    @override
    def discover_streams(self) -> list[FormStream | FormResponseStream]:
        return [FormStream(self), FormResponseStream(self)]


if __name__ == "__main__":
    TapGoogleForms.cli()
