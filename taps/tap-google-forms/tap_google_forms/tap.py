"""tap-google-forms: the Tap class and its settings."""

from __future__ import annotations

from functools import cached_property

from singer_sdk import Tap
from singer_sdk import typing as th

from tap_google_forms.auth import GoogleAuthenticator
from tap_google_forms.streams import FormResponseStream, FormStream


class TapGoogleForms(Tap):
    """Google Forms: one form per connection; streams ``form`` and ``form_response``."""

    name = "tap-google-forms"

    config_jsonschema = th.PropertiesList(
        th.Property(
            "connection_name",
            th.StringType,
            required=True,
            title="Connection name",
            description="The configured account, e.g. google-forms-intake-01 (provenance: connection_name).",
        ),
        th.Property(
            "form_id",
            th.StringType,
            required=True,
            title="Form ID",
            description="The form's id, from its edit URL docs.google.com/forms/d/<form_id>/edit.",
        ),
        th.Property(
            "schema_ref",
            th.StringType,
            title="Schema ref",
            description="Iglu URI of the payload schema, declared with the stream's provenance (default null).",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            title="Start date",
            description="First run only: responses last submitted at or after this time (default: all).",
        ),
        th.Property(
            "oauth_credentials",
            th.ObjectType(
                th.Property("client_id", th.StringType, title="OAuth client ID"),
                th.Property("client_secret", th.StringType, secret=True, title="OAuth client secret"),
                th.Property("refresh_token", th.StringType, secret=True, title="OAuth refresh token"),
            ),
            title="OAuth user credentials",
            description="An OAuth user refresh token (consented to forms.body.readonly and "
            "forms.responses.readonly) with its OAuth client. Use this or service_account.",
        ),
        th.Property(
            "service_account",
            th.ObjectType(
                th.Property(
                    "key_json",
                    th.StringType,
                    secret=True,
                    title="Service account key (JSON)",
                    description="The contents of the service account's JSON key file.",
                ),
                th.Property(
                    "subject",
                    th.StringType,
                    title="Impersonated user",
                    description="Workspace user to act as (domain-wide delegation); empty for the "
                    "service account itself (the form must be shared with it).",
                ),
            ),
            title="Service account",
            description="A service account, read-only Forms scopes. Use this or oauth_credentials.",
        ),
        th.Property(
            "api_url",
            th.StringType,
            default="https://forms.googleapis.com",
            title="API base URL",
            description="Forms API base URL (change for a proxy or the sandbox).",
        ),
        th.Property(
            "token_uri",
            th.StringType,
            default="https://oauth2.googleapis.com/token",
            title="Token endpoint",
            description="OAuth 2.0 token endpoint (overrides the token_uri of a service account key).",
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
        th.Property(
            "max_tries",
            th.IntegerType,
            default=8,
            title="Max tries",
            description="Attempts per request on 429, 5xx, network errors and expired access tokens.",
        ),
        th.Property(
            "backoff_base_seconds",
            th.NumberType,
            default=2.0,
            title="Backoff base (s)",
            description="First wait of the exponential backoff when the API sends no Retry-After.",
        ),
        th.Property(
            "max_backoff_seconds",
            th.NumberType,
            default=120.0,
            title="Max backoff (s)",
            description="Upper bound on any single wait, Retry-After included.",
        ),
    ).to_dict()

    @cached_property
    def google_authenticator(self) -> GoogleAuthenticator:
        """One authenticator (one access token) shared by both streams; credentials load on first use."""
        return GoogleAuthenticator(self.config, self.config["connection_name"])

    def discover_streams(self) -> list[FormStream | FormResponseStream]:
        return [FormStream(self), FormResponseStream(self)]


if __name__ == "__main__":
    TapGoogleForms.cli()
