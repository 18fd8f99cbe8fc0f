"""The ``bigquery`` settings: validated before anything reaches SQL, and turned into credentials.

Credentials, in order: ``credentials_json`` (a secret: a service-account key or any other Google
credential JSON), ``credentials_path`` (the same as a file), else Application Default Credentials.
One exception: an ``api_endpoint`` on the loopback interface with neither credential setting is the
local emulator (bqemulator), which takes anonymous requests; production endpoints, including private
ones, are never on loopback, so ADC is never silently skipped for them.

Error messages never include credential material: the key JSON is a secret, and the libraries'
own messages are reduced to their first line and checked against it before being shown.
"""

from __future__ import annotations

import ipaddress
import json
import re
import typing as t
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import google.auth
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import AnonymousCredentials, Credentials

from target_lorchestra.errors import ConfigError, WarehouseError

if t.TYPE_CHECKING:
    from google.cloud import bigquery

# Project ids: 6-30 lowercase letters, digits, hyphens, starting with a letter; optionally domain-scoped
# ("example.com:my-project"). Dataset ids: letters, digits, underscores. These end up in SQL text.
_PROJECT = re.compile(r"^(?:[a-z][a-z0-9.-]{0,61}[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_DATASET = re.compile(r"^[A-Za-z0-9_]{1,1024}$")
_LOCATION = re.compile(r"^[A-Za-z0-9-]{1,64}$")


@dataclass(frozen=True)
class BigQuerySettings:
    """The validated ``bigquery`` config object."""

    project_id: str | None
    dataset: str
    location: str | None = None  # None: the dataset's own location
    credentials_path: str | None = None
    credentials_json: str | None = field(default=None, repr=False)
    api_endpoint: str | None = None
    staging_expiration_hours: int = 24
    merge_retry_minutes: float = 10

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any]) -> BigQuerySettings:
        bq = config.get("bigquery") or {}
        if not isinstance(bq, t.Mapping):
            raise ConfigError("bigquery must be an object of settings")
        dataset = bq.get("dataset")
        if not dataset:
            raise ConfigError("bigquery.dataset is required when warehouse is 'bigquery'")
        settings = cls(
            project_id=bq.get("project_id") or None,
            dataset=dataset,
            location=bq.get("location") or None,
            credentials_path=bq.get("credentials_path") or None,
            credentials_json=bq.get("credentials_json") or None,
            api_endpoint=bq.get("api_endpoint") or None,
            staging_expiration_hours=bq.get("staging_expiration_hours", 24),
            merge_retry_minutes=bq.get("merge_retry_minutes", 10),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.project_id is not None:
            checked_project(self.project_id)
        if not isinstance(self.dataset, str) or not _DATASET.match(self.dataset):
            raise ConfigError(
                f"bigquery.dataset must be a BigQuery dataset id (letters, digits, underscore), got {self.dataset!r}"
            )
        if self.location is not None and (not isinstance(self.location, str) or not _LOCATION.match(self.location)):
            raise ConfigError(f"bigquery.location must be a location such as US or europe-west2, got {self.location!r}")
        if self.api_endpoint is not None:
            parts = urlsplit(self.api_endpoint)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
                raise ConfigError(
                    f"bigquery.api_endpoint must be an http(s) URL such as https://bigquery.example:443, "
                    f"got {self.api_endpoint!r}"
                )
        minutes = self.merge_retry_minutes
        if isinstance(minutes, bool) or not isinstance(minutes, int | float) or not 0 <= minutes <= 360:
            raise ConfigError(
                f"bigquery.merge_retry_minutes must be a number of minutes from 0 to 360, got {minutes!r}"
            )
        hours = self.staging_expiration_hours
        if isinstance(hours, bool) or not isinstance(hours, int) or hours < 1:
            raise ConfigError(f"bigquery.staging_expiration_hours must be a whole number >= 1, got {hours!r}")

    @property
    def anonymous(self) -> bool:
        """The local emulator: a loopback endpoint with no credentials configured."""
        return (
            self.api_endpoint is not None
            and _is_loopback(urlsplit(self.api_endpoint).hostname or "")
            and not (self.credentials_json or self.credentials_path)
        )

    def secrets(self) -> list[str]:
        """Fragments of configured credentials that must never appear in a message."""
        return secret_fragments(self.credentials_json) if self.credentials_json else []


def secret_fragments(value: str) -> list[str]:
    """A secret setting's value and, for credential JSON, the secret fields in it and their long lines."""
    fragments = [value]
    try:
        info = json.loads(value)
    except ValueError:
        return fragments
    if isinstance(info, dict):
        for key in ("private_key", "private_key_id", "client_secret", "refresh_token"):
            field_value = info.get(key)
            if isinstance(field_value, str) and field_value:
                fragments.append(field_value)
                fragments.extend(line for line in field_value.splitlines() if len(line) >= 16)
    return fragments


def redact(text: str, secrets: t.Iterable[str]) -> str:
    """``text`` with every secret fragment replaced by ``[secret]``."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, "[secret]")
    return text


def checked_location(configured: str | None, dataset: bigquery.Dataset) -> str | None:
    """The dataset's location; a configured ``location`` that names another one is a configuration error."""
    actual = dataset.location
    if configured and actual and configured.lower() != actual.lower():
        raise ConfigError(
            f"bigquery.location is {configured!r} but dataset {dataset.project}:{dataset.dataset_id} is in "
            f"{actual!r}; remove the setting (the dataset's location is used) or set it to {actual!r}"
        )
    return actual or configured


def checked_project(value: object) -> str:
    if not isinstance(value, str) or not _PROJECT.match(value):
        raise ConfigError(
            "bigquery.project_id must be a Google Cloud project id (6-30 lowercase letters, digits, hyphens, "
            f"starting with a letter), got {value!r}"
        )
    return value


def load_credentials(settings: BigQuerySettings) -> tuple[Credentials, str | None]:
    """Credentials and the project they name (if any), per the precedence in the module docstring."""
    if settings.credentials_json:
        try:
            info = json.loads(settings.credentials_json)
        except ValueError:
            raise ConfigError(
                "bigquery.credentials_json is not valid JSON (its content is secret and not shown)"
            ) from None
        if not isinstance(info, dict):
            raise ConfigError("bigquery.credentials_json must be a JSON object (a service-account key)")
        try:
            return google.auth.load_credentials_from_dict(info)
        except (auth_exceptions.GoogleAuthError, ValueError, KeyError) as exc:
            raise ConfigError(
                f"bigquery.credentials_json is not a usable Google credential: {safe_message(exc, settings)}"
            ) from None
    if settings.credentials_path:
        try:
            return google.auth.load_credentials_from_file(settings.credentials_path)
        except (auth_exceptions.GoogleAuthError, ValueError, KeyError, OSError) as exc:
            raise ConfigError(
                f"bigquery.credentials_path {settings.credentials_path!r} is not a usable Google credential file: "
                f"{safe_message(exc, settings)}"
            ) from None
    if settings.anonymous:
        return AnonymousCredentials(), None
    try:
        return google.auth.default()
    except auth_exceptions.DefaultCredentialsError:
        raise WarehouseError(
            "no BigQuery credentials: set bigquery.credentials_path or bigquery.credentials_json, or configure "
            "Application Default Credentials (gcloud auth application-default login, or a service account "
            "attached to the machine)"
        ) from None


def safe_message(exc: BaseException, settings: BigQuerySettings) -> str:
    """The first line of a library error, bounded, with any credential fragment removed."""
    text = redact(str(exc).strip(), settings.secrets())  # before the cut: a half secret would not match
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
