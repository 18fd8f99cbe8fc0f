"""lorchestra-tapkit: what the lorchestra taps share (auth, retries, provenance, settings vocabulary)."""

from __future__ import annotations

from lorchestra_tapkit.body import json_body
from lorchestra_tapkit.retry import RetryPolicy, is_retriable_status, retry_after_seconds
from lorchestra_tapkit.settings import (
    entra_properties,
    google_credential_properties,
    provenance_properties,
    retry_properties,
)
from lorchestra_tapkit.stream import PROVENANCE_KEYWORD, ApiUrlMixin, ProvenanceMixin, RetryMixin
from lorchestra_tapkit.tokens import Redactor, TokenRequestError

__all__ = [
    "PROVENANCE_KEYWORD",
    "ApiUrlMixin",
    "ProvenanceMixin",
    "Redactor",
    "RetryMixin",
    "RetryPolicy",
    "TokenRequestError",
    "entra_properties",
    "google_credential_properties",
    "is_retriable_status",
    "json_body",
    "provenance_properties",
    "retry_after_seconds",
    "retry_properties",
]
